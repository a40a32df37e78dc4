// EngineLoop: the one async loop that owns a server's LLMEngine. Requests from any connection
// (WebSocket, HTTP) are queued with `submit` (engine.addRequest, so they batch together in the
// engine's next step: continuous batching); a single loop calls engine.step() while there is
// work and hands each RequestOutput to the listener of its request. When idle the loop awaits a
// wake-up signal (no polling). If step() throws (a rank died or hung), every unfinished request
// is failed with the reason, the loop stops for good, and `onFatal` tells the server to stop.
import type { LLMEngine, PromptInput, RequestOutput } from '../engine/llm_engine.js';
import type { SamplingParamsInput } from '../engine/sampling_params.js';

/** The engine failed (or the server is stopping): no request can be served any more. */
export class EngineDeadError extends Error {
  override readonly name = 'EngineDeadError';
}

/** Receives every output of one request; the last one has `finished` set. */
export type OutputListener = (output: RequestOutput) => void;

export interface EngineLoopOptions {
  /** Called once, after every request was failed, when engine.step() threw. */
  readonly onFatal?: (error: Error) => void;
  /** Sees every output delivered, detached requests' included (metrics, request log). */
  readonly onOutput?: (output: RequestOutput) => void;
  /** Called when a listener throws (the loop carries on). Default: print on stderr. */
  readonly onListenerError?: (error: unknown, requestId: string) => void;
}

export class EngineLoop {
  private readonly listeners = new Map<string, OutputListener>();
  private wakeUp: (() => void) | undefined;
  private stopping = false;
  private fatal: Error | undefined;
  private nextId = 0;
  /** Resolves when the loop has exited (after stop() or a fatal step error). */
  readonly done: Promise<void>;
  /** Steps run and times the loop went idle (awaited a wake-up), since it started. */
  readonly stats = { steps: 0, idleWaits: 0 };

  constructor(
    readonly engine: LLMEngine,
    private readonly opts: EngineLoopOptions = {},
  ) {
    this.done = this.run();
  }

  /** Why the engine failed, if it did. */
  get failure(): Error | undefined {
    return this.fatal;
  }

  /** False once the engine failed or stop() was called. */
  get accepting(): boolean {
    return !this.fatal && !this.stopping;
  }

  /** Requests submitted whose final output has not been delivered yet. */
  get numActive(): number {
    return this.listeners.size;
  }

  /**
   * Queues a request under a fresh engine id `${tag}-${n}` and returns that id. Throws the
   * engine's named errors (SamplingParamsError, RequestError, ...) or EngineDeadError without
   * disturbing any other request; `listener` then never runs.
   */
  submit(prompt: PromptInput, params: SamplingParamsInput, listener: OutputListener, tag = 'req'): string {
    if (this.fatal) throw new EngineDeadError(`the engine failed: ${describe(this.fatal)}`);
    if (this.stopping) throw new EngineDeadError('the server is shutting down');
    const id = `${tag}-${this.nextId++}`;
    this.engine.addRequest(prompt, params, id);
    this.listeners.set(id, listener);
    this.wake();
    return id;
  }

  /** Aborts a request (its KV blocks are freed now); its listener gets the final 'abort' output with the next step. */
  abort(requestId: string): boolean {
    const ok = this.engine.abortRequest(requestId);
    if (ok) this.wake();
    return ok;
  }

  /** Aborts a request and drops its listener: for a client that went away. */
  detach(requestId: string): void {
    this.listeners.delete(requestId);
    this.abort(requestId);
  }

  /** Aborts every request (listeners get their 'abort' outputs), then waits for the loop to exit. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const id of [...this.listeners.keys()]) this.engine.abortRequest(id);
    this.wake();
    await this.done;
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private async run(): Promise<void> {
    // Start on a later tick so the constructor returns (and `done` is set) first.
    await Promise.resolve();
    for (;;) {
      if (!this.engine.hasUnfinishedRequests()) {
        if (this.stopping) return;
        this.stats.idleWaits++;
        await new Promise<void>((resolve) => (this.wakeUp = resolve));
        continue;
      }
      let outputs: RequestOutput[];
      try {
        outputs = await this.engine.step();
      } catch (e) {
        await this.fail(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      this.stats.steps++;
      for (const o of outputs) this.dispatch(o);
      // Let sockets read and write between steps (a step may resolve without yielding to I/O).
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private dispatch(o: RequestOutput): void {
    this.opts.onOutput?.(o);
    const listener = this.listeners.get(o.requestId);
    if (!listener) return; // detached: its client went away
    if (o.finished) this.listeners.delete(o.requestId);
    try {
      listener(o);
    } catch (e) {
      if (this.opts.onListenerError) this.opts.onListenerError(e, o.requestId);
      else process.stderr.write(`[tknp serve] listener of ${o.requestId} threw: ${describe(e)}\n`);
    }
  }

  private async fail(error: Error): Promise<void> {
    this.fatal = error;
    const message = describe(error);
    for (const o of this.engine.failAll(message)) this.dispatch(o);
    // The failed step's own requests were finished by the engine; their outputs wait for the
    // next step, which now schedules nothing (no request is left) and only returns them.
    try {
      if (this.engine.hasUnfinishedRequests()) for (const o of await this.engine.step()) this.dispatch(o);
    } catch {
      // nothing more to collect
    }
    // Anything still unanswered (e.g. an abort whose output was lost): fail it here.
    for (const id of [...this.listeners.keys()]) this.dispatch(failedOutput(id, message));
    this.opts.onFatal?.(error);
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function failedOutput(requestId: string, error: string): RequestOutput {
  return {
    requestId,
    delta: '',
    newTokenIds: [],
    text: '',
    tokenIds: [],
    promptTokenIds: [],
    finished: true,
    finishReason: 'error',
    error,
    metrics: { arrivalMs: performance.now() },
    numCachedTokens: 0,
  };
}
