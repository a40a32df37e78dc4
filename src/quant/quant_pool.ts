// The threads that quantize at load (model/at_load_quantizer.ts hands them blocks of rows): a
// first-in first-out queue, one block a thread at a time, buffers transferred both ways. Each
// thread is kept referenced only while it works, so an idle pool never holds the process open.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CheckpointError } from '../loader/errors.js';
import { compiledSibling } from '../util/compiled_path.js';
import type { QuantReply, QuantTask } from './quant_task.js';

export const QUANT_THREADS_ENV = 'TKNP_QUANT_THREADS';
const MAX_THREADS = 64;

export class QuantThreadsError extends Error {
  override readonly name = 'QuantThreadsError';
}

/**
 * How many threads quantize at load: $TKNP_QUANT_THREADS (an integer 1..64; 1 forces one), else
 * min(cpus - 1, 8), at least 1 (the main thread reads the checkpoint and uploads meanwhile).
 */
export function quantThreads(env: Readonly<Record<string, string | undefined>> = process.env, cpus = availableParallelism()): number {
  const raw = env[QUANT_THREADS_ENV];
  if (raw === undefined || raw === '') return Math.max(1, Math.min(cpus - 1, 8));
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
    throw new QuantThreadsError(`${QUANT_THREADS_ENV}=${JSON.stringify(raw)} is not a thread count: give an integer from 1 to ${MAX_THREADS} (unset: min(cores - 1, 8) = ${Math.max(1, Math.min(cpus - 1, 8))} here)`);
  }
  return n;
}

/** A block's packed arrays, and the milliseconds its thread spent on it. */
export interface QuantBlock {
  readonly qweight: Uint32Array;
  readonly scales: Uint16Array;
  readonly zeros: Uint16Array | null;
  readonly ms: number;
}

interface Pending {
  readonly task: QuantTask;
  readonly resolve: (b: QuantBlock) => void;
  readonly reject: (e: Error) => void;
}

interface Thread {
  readonly worker: Worker;
  job: Pending | null;
}

export class QuantPool {
  private readonly queue: Pending[] = [];
  private readonly pool: Thread[] = [];
  private nextId = 0;
  private broken: Error | null = null;

  constructor(readonly threads: number) {
    if (!Number.isInteger(threads) || threads < 1) throw new QuantThreadsError(`a quantization pool needs at least one thread, got ${threads}`);
    const file = compiledSibling(import.meta.url, 'quant_worker');
    for (let i = 0; i < threads; i++) {
      const t: Thread = { worker: new Worker(file), job: null };
      t.worker.unref();
      t.worker.on('message', (r: QuantReply) => this.done(t, r));
      t.worker.on('error', (e) => this.fail(new Error(`an at-load quantization thread failed: ${e.message}`)));
      t.worker.on('exit', (code) => this.fail(new Error(`an at-load quantization thread exited (code ${code})`)));
      this.pool.push(t);
    }
  }

  /** Quantizes one block of rows; raw's buffer is transferred to the thread (unusable here after). */
  run(task: Omit<QuantTask, 'id'>): Promise<QuantBlock> {
    return new Promise((resolve, reject) => {
      if (this.broken) return reject(this.broken);
      this.queue.push({ task: { ...task, id: this.nextId++ }, resolve, reject });
      this.dispatch();
    });
  }

  /** Stops the threads; blocks still queued or running are refused. */
  async close(): Promise<void> {
    this.fail(new Error('the at-load quantization pool was closed'));
    await Promise.all(this.pool.map((t) => t.worker.terminate()));
  }

  private dispatch(): void {
    for (const t of this.pool) {
      if (t.job || this.queue.length === 0) continue;
      const job = this.queue.shift()!;
      t.job = job;
      t.worker.ref();
      t.worker.postMessage(job.task, [job.task.raw.buffer as ArrayBuffer]);
    }
  }

  private done(t: Thread, r: QuantReply): void {
    const job = t.job;
    t.job = null;
    t.worker.unref();
    if (job) {
      if ('error' in r) job.reject(rebuild(r.error));
      else job.resolve({ qweight: r.qweight, scales: r.scales, zeros: r.zeros, ms: r.ms });
    }
    this.dispatch();
  }

  private fail(e: Error): void {
    this.broken ??= e;
    for (const t of this.pool) {
      t.job?.reject(this.broken);
      t.job = null;
    }
    for (const p of this.queue.splice(0)) p.reject(this.broken);
  }
}

/** A thread's error as the class it was thrown as (CheckpointError keeps its file and tensor). */
function rebuild(e: Extract<QuantReply, { error: unknown }>['error']): Error {
  if (e.name === 'CheckpointError' && e.file !== undefined && e.problem !== undefined) return new CheckpointError(e.file, e.problem, e.field);
  const out = new Error(e.message);
  out.name = e.name;
  return out;
}
