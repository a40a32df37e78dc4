// A Recorder's kernel parameters: each dispatch's small uniform block goes into the next 256-byte
// slot of a pooled uniform buffer (an arena of 256 slots) through the buffer's host mirror; the
// used bytes are written to the GPU once, at submit. Under capture (src/gpu/step_capture.ts) each
// new arena is listed in the capture, which keeps a copy of the bytes written into it.
import type { BufferPool } from './pool.js';
import type { ArenaOp, CapturedOp } from './step_capture.js';

const UNIFORM = 0x40; // GPUBufferUsage.UNIFORM
const COPY_DST = 0x08;
/** Bytes per parameter block (the uniform offset alignment). */
export const SLOT = 256;
const ARENA_SLOTS = 256;

/** A kernel parameter: a bare number is u32; wrap for f32 or i32. */
export type Param = number | { f32: number } | { i32: number };

interface Arena {
  readonly buffer: GPUBuffer;
  readonly data: ArrayBuffer;
  readonly view: DataView;
  used: number;
  /** Bytes that may be used: the buffer's size, or less once closed (`close`). */
  capacity: number;
  /** Where a capture listed this arena (its bytes are copied there when the arena is done). */
  op: ArenaOp | null;
}

export class UniformArenas {
  private readonly list: Arena[] = [];

  constructor(private readonly pool: BufferPool) {}

  /**
   * Writes `params` into the next free slot, taking a new arena from the pool when the last one is
   * full (listing it in `capturing`); returns the slot's buffer through `this.buffer` and its byte offset.
   */
  write(params: readonly Param[], capturing: CapturedOp[] | null): number {
    if (params.length * 4 > SLOT) throw new RangeError(`a kernel's parameter block holds at most ${SLOT / 4} values, got ${params.length}`);
    let arena = this.list[this.list.length - 1];
    if (!arena || arena.used + SLOT > arena.capacity) {
      const buffer = this.pool.acquire(SLOT * ARENA_SLOTS, UNIFORM | COPY_DST, 'params');
      let op: ArenaOp | null = null;
      if (capturing) capturing.push((op = { kind: 'arena', buffer, bytes: null }));
      arena = this.add(buffer, 0, op);
    }
    const { view, used } = arena;
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      if (typeof p === 'number') view.setUint32(used + i * 4, p >>> 0, true);
      else if ('f32' in p) view.setFloat32(used + i * 4, p.f32, true);
      else view.setInt32(used + i * 4, p.i32, true);
    }
    arena.used += SLOT;
    return used;
  }

  /** The buffer of the slot `write` returned last. */
  get buffer(): GPUBuffer {
    return this.list[this.list.length - 1].buffer;
  }

  /** No more slots in the current arena: the next `write` takes a new one. */
  close(): void {
    const last = this.list[this.list.length - 1];
    if (last) last.capacity = last.used;
  }

  /** Appends a captured arena with the bytes the capture wrote into it (replay). */
  restore(buffer: GPUBuffer, bytes: Uint8Array): void {
    new Uint8Array(this.pool.hostMirror(buffer)).set(bytes);
    this.add(buffer, bytes.length, null);
  }

  /** Copies each captured arena's bytes into its capture entry; `release`: the arenas stop being listed in it. */
  snapshot(release: boolean): void {
    for (const a of this.list) {
      if (a.op) a.op.bytes = new Uint8Array(a.data.slice(0, a.used));
      if (release) a.op = null;
    }
  }

  /** Forgets which capture listed the arenas (an aborted capture). */
  forgetCapture(): void {
    for (const a of this.list) a.op = null;
  }

  /** Writes every arena's used bytes to the GPU and hands the arenas over (to be released after the submit). */
  flush(queue: GPUQueue): GPUBuffer[] {
    for (const a of this.list) queue.writeBuffer(a.buffer, 0, a.data, 0, a.used);
    this.snapshot(true);
    return this.list.splice(0).map((a) => a.buffer);
  }

  private add(buffer: GPUBuffer, used: number, op: ArenaOp | null): Arena {
    const data = this.pool.hostMirror(buffer);
    const arena = { buffer, data, view: new DataView(data), used, capacity: data.byteLength, op };
    this.list.push(arena);
    return arena;
  }
}
