// A captured run of Recorder operations that a later Recorder replays (like a CUDA graph): the
// pipelines, bind groups and workgroup counts of every dispatch, the copies and submits between
// them, the pooled buffers they used (uniform arenas with the bytes written into them, scratch
// tensors) in the order they were taken from the pool. Replaying costs the Dawn calls alone: no
// kernel wrapper, shape check, plan, pipeline or bind-group lookup runs.
//
// A capture is only as good as its key (StepCache): the caller promises that recording the same
// work under the same key would make the same operations on the same buffers with the same
// uniform bytes. Data that changes from step to step must therefore live in buffers (token ids,
// positions, slot mappings, block tables, sequence lengths), never in uniforms or workgroup counts
// unless the key covers it. Replay checks the pooled buffers (they must come back from the pool
// the same ones, as they do in a steady decode loop) and reports false where they do not.
import type { Recorder } from './recorder.js';

/** One recorded operation; pooled buffers are listed where they were taken from the pool. */
export type CapturedOp =
  | { readonly kind: 'dispatch'; readonly pipeline: GPUComputePipeline; readonly group: GPUBindGroup; readonly x: number; readonly y: number; readonly z: number }
  | { readonly kind: 'copy'; readonly src: GPUBuffer; readonly srcOffset: number; readonly dst: GPUBuffer; readonly dstOffset: number; readonly bytes: number }
  | { readonly kind: 'split' }
  | ArenaOp
  | { readonly kind: 'scratch'; readonly buffer: GPUBuffer };

/** A uniform arena taken from the pool; `bytes` = what the capture wrote into it (set once it is done). */
export interface ArenaOp {
  readonly kind: 'arena';
  readonly buffer: GPUBuffer;
  bytes: Uint8Array | null;
}

export class StepCapture {
  /** The pooled buffers in the order the capture took them (arenas and scratch). */
  readonly pooled: readonly GPUBuffer[];

  constructor(readonly ops: readonly CapturedOp[]) {
    this.pooled = ops.flatMap((op) => (op.kind === 'arena' || op.kind === 'scratch' ? [op.buffer] : []));
  }

  get dispatches(): number {
    let n = 0;
    for (const op of this.ops) if (op.kind === 'dispatch') n++;
    return n;
  }
}

/**
 * Captures by key, the most recently used kept (at most `capacity`), each with the value the
 * recording returned (e.g. the logits view of the step).
 */
export class StepCache<T> {
  private readonly entries = new Map<string, { capture: StepCapture; value: T }>();
  hits = 0;
  misses = 0;

  constructor(readonly capacity = 8) {}

  get(key: string): { capture: StepCapture; value: T } | undefined {
    const e = this.entries.get(key);
    if (e) {
      // Most recently used last (Map keeps insertion order).
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    return e;
  }

  set(key: string, capture: StepCapture, value: T): void {
    this.entries.delete(key);
    this.entries.set(key, { capture, value });
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  /**
   * Records `record()` into `rec`, or replays it: where `key` was captured before and the replay
   * succeeds, the capture is replayed and its value returned without calling `record`; otherwise
   * `record()` runs, captured under `key`. A null key records without capturing.
   */
  async record(rec: Recorder, key: string | null, record: () => Promise<T>): Promise<T> {
    if (key === null) return record();
    const hit = this.get(key);
    if (hit && rec.replay(hit.capture)) {
      this.hits++;
      return hit.value;
    }
    this.misses++;
    rec.startCapture();
    let value: T;
    try {
      value = await record();
    } catch (e) {
      rec.abortCapture();
      throw e;
    }
    this.set(key, rec.finishCapture(), value);
    return value;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The keys held, least recently used first. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  clear(): void {
    this.entries.clear();
  }
}
