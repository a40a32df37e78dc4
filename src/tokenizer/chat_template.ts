// A model's chat template (Jinja, from tokenizer_config.json or chat_template.jinja), rendered
// as untrusted code: in a worker thread (template_worker.ts) under a time limit, a heap limit,
// a cap on range() and a cap on the rendered text. The caller waits synchronously (Atomics.wait
// on a shared flag, then receiveMessageOnPort), so rendering stays a plain function call; a
// template that runs past the limit has its thread terminated and fails with a ChatTemplateError,
// and the next render starts a fresh thread. A normal render costs a message round trip
// (tens of microseconds) after the thread's start (tens of milliseconds, once).
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { Template } from '@huggingface/jinja';
import { ChatTemplateError } from '../loader/errors.js';
import { compiledSibling } from '../util/compiled_path.js';

export interface ChatTemplateLimits {
  /** Wall time one render may take, including the thread's start on first use. */
  readonly timeoutMs: number;
  /** Longest rendered text (characters). */
  readonly maxOutputChars: number;
  /** Most items one range() call may make. */
  readonly maxRangeItems: number;
  /** The rendering thread's V8 heap (MiB); beyond it the thread dies and the render times out. */
  readonly heapMb: number;
}

export const DEFAULT_CHAT_TEMPLATE_LIMITS: ChatTemplateLimits = {
  timeoutMs: 5000,
  maxOutputChars: 32 * 2 ** 20,
  maxRangeItems: 1_000_000,
  heapMb: 512,
};

/** What the worker is started with, receives and answers (template_worker.ts). */
export type RenderLimits = Pick<ChatTemplateLimits, 'maxOutputChars' | 'maxRangeItems'>;
export interface RenderRequest {
  readonly source: string;
  readonly context: Readonly<Record<string, unknown>>;
}
export type RenderReply = { readonly text: string } | { readonly error: string };

interface RenderThread {
  readonly worker: Worker;
  readonly port: MessagePort;
  readonly done: Int32Array;
}

export class ChatTemplate {
  private thread: RenderThread | undefined;

  /** Parses `source` at once (a syntax error is a ChatTemplateError naming `file`). */
  constructor(
    readonly source: string,
    readonly file: string,
    readonly limits: ChatTemplateLimits = DEFAULT_CHAT_TEMPLATE_LIMITS,
  ) {
    try {
      new Template(source);
    } catch (e) {
      throw new ChatTemplateError(file, `chat_template does not parse: ${(e as Error).message}`, 'chat_template');
    }
  }

  /** Renders with `context` (messages, add_generation_prompt, special tokens). */
  render(context: Readonly<Record<string, unknown>>): string {
    const t = (this.thread ??= this.start());
    Atomics.store(t.done, 0, 0);
    const request: RenderRequest = { source: this.source, context };
    t.port.postMessage(request);
    if (Atomics.wait(t.done, 0, 0, this.limits.timeoutMs) === 'timed-out') {
      this.close();
      throw new ChatTemplateError(
        this.file,
        `chat template did not finish within ${this.limits.timeoutMs / 1000} s or outgrew its ${this.limits.heapMb} MiB heap (a runaway loop?); it was stopped`,
        'chat_template',
      );
    }
    const reply = receiveMessageOnPort(t.port)?.message as RenderReply | undefined;
    if (!reply) {
      this.close();
      throw new ChatTemplateError(this.file, 'chat template renderer stopped without an answer', 'chat_template');
    }
    if ('error' in reply) throw new ChatTemplateError(this.file, `chat template failed: ${reply.error}`, 'chat_template');
    return reply.text;
  }

  /** Stops the rendering thread (a later render starts a new one). */
  close(): void {
    if (!this.thread) return;
    void this.thread.worker.terminate();
    this.thread.port.close();
    this.thread = undefined;
  }

  private start(): RenderThread {
    const { port1, port2 } = new MessageChannel();
    const flag = new SharedArrayBuffer(4);
    const worker = new Worker(compiledSibling(import.meta.url, 'template_worker'), {
      workerData: { port: port2, flag, limits: { maxOutputChars: this.limits.maxOutputChars, maxRangeItems: this.limits.maxRangeItems } satisfies RenderLimits },
      transferList: [port2],
      resourceLimits: { maxOldGenerationSizeMb: this.limits.heapMb, maxYoungGenerationSizeMb: 32 },
    });
    // A thread that dies (out of memory) is reported by the render's timeout; an 'error' event
    // without a listener would end the whole process.
    worker.on('error', () => {});
    worker.unref();
    return { worker, port: port1, done: new Int32Array(flag) };
  }
}
