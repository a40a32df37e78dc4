// Recorder: collects kernel dispatches into one command encoder and submits them together.
// Kernel wrappers call `dispatch`; each dispatch's small uniform block of parameters is
// packed into one shared uniform buffer (256-byte slots) written once at submit.
//
// Binding convention for every shader: tensors at @binding(0..n-1) in the order the wrapper
// passes them, then the parameter block (if any) at @binding(n) as `var<uniform>`.
import type { Gpu } from './gpu.js';
import { binding, byteSize, type DType, type Tensor } from './tensor.js';

const UNIFORM = 0x40; // GPUBufferUsage.UNIFORM
const COPY_DST = 0x08;
const QUERY_RESOLVE = 0x200;
const COPY_SRC = 0x04;
const STORAGE = 0x80;
const MAP_READ = 0x01;
const SLOT = 256;
const ARENA_SLOTS = 256;

/** A parameter for a kernel's uniform block: a bare number is u32; wrap for f32 or i32. */
export type Param = number | { f32: number } | { i32: number };

export function f32(v: number): Param {
  return { f32: v };
}
export function i32(v: number): Param {
  return { i32: v };
}

/** Splits `n` workgroups over x and y so neither exceeds the 65535-per-dimension limit. */
export function grid(n: number, maxPerDim = 65535): [number, number, number] {
  if (n <= maxPerDim) return [Math.max(n, 1), 1, 1];
  const y = Math.ceil(n / maxPerDim);
  return [Math.ceil(n / y), y, 1];
}

interface Arena {
  buffer: GPUBuffer;
  data: ArrayBuffer;
  view: DataView;
  used: number;
}

export class Recorder {
  private encoderInUse: GPUCommandEncoder;
  private pass: GPUComputePassEncoder | undefined;
  private readonly arenas: Arena[] = [];
  private readonly scratchBuffers: GPUBuffer[] = [];
  private querySet: GPUQuerySet | undefined;
  private queryCount = 0;
  /** Labels of timed sections, in query order (pairs of begin/end timestamps). */
  readonly timedLabels: string[] = [];

  private inTimed = false;

  /**
   * `timeEachDispatch`: every dispatch outside a timed section gets a timed pass of its own, labelled
   * with its shader's name (per-kernel profiles; `submitAndTime()` returns the durations in
   * `timedLabels` order).
   */
  constructor(
    readonly gpu: Gpu,
    readonly label = 'step',
    private readonly opts: { readonly timeEachDispatch?: boolean } = {},
  ) {
    this.encoderInUse = gpu.device.createCommandEncoder({ label });
  }

  get encoder(): GPUCommandEncoder {
    return this.encoderInUse;
  }

  private uniformSlot(params: readonly Param[]): GPUBufferBinding {
    let arena = this.arenas[this.arenas.length - 1];
    if (!arena || arena.used + SLOT > arena.data.byteLength) {
      const size = SLOT * ARENA_SLOTS;
      const buffer = this.gpu.pool.acquire(size, UNIFORM | COPY_DST, 'params');
      const data = this.gpu.pool.hostMirror(buffer);
      arena = { buffer, data, view: new DataView(data), used: 0 };
      this.arenas.push(arena);
    }
    const { view, used } = arena;
    if (params.length * 4 > SLOT) throw new RangeError(`a kernel's parameter block holds at most ${SLOT / 4} values, got ${params.length}`);
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      if (typeof p === 'number') view.setUint32(used + i * 4, p >>> 0, true);
      else if ('f32' in p) view.setFloat32(used + i * 4, p.f32, true);
      else view.setInt32(used + i * 4, p.i32, true);
    }
    const size = Math.max(16, Math.ceil((params.length * 4) / 16) * 16);
    const b = { buffer: arena.buffer, offset: arena.used, size };
    arena.used += SLOT;
    return b;
  }

  /**
   * A temporary tensor (split-K partials, reduction workspaces) from the buffer pool; it goes
   * back to the pool once the GPU has finished this Recorder's work.
   */
  scratch(shape: readonly number[], dtype: DType, label = 'scratch'): Tensor {
    const bytes = Math.max(4, Math.ceil(byteSize({ shape, dtype }) / 4) * 4);
    const buffer = this.gpu.pool.acquire(bytes, STORAGE | COPY_SRC | COPY_DST, label);
    this.scratchBuffers.push(buffer);
    return { buffer, dtype, shape: [...shape], offset: 0 };
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.encoder.beginComputePass({ label: this.label });
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  /** Records one dispatch of `pipeline` over `workgroups`, binding tensors then params. */
  dispatch(
    pipeline: GPUComputePipeline,
    tensors: readonly (Tensor | GPUBufferBinding)[],
    params: readonly Param[] | null,
    workgroups: readonly [number, number?, number?],
  ): void {
    if (this.opts.timeEachDispatch && !this.inTimed) {
      // Pipelines are labelled '<shader>|<defines>|…' (Gpu.pipeline).
      this.timed(pipeline.label.split('|')[0] || 'dispatch', () => this.dispatch(pipeline, tensors, params, workgroups));
      return;
    }
    const resources: GPUBufferBinding[] = tensors.map((t) => ('dtype' in t ? binding(t) : t));
    if (params) resources.push(this.uniformSlot(params));
    const bindGroup = this.gpu.bindGroups.get(pipeline, resources);
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = workgroups;
    if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
  }

  /** Records a buffer-to-buffer copy of a whole tensor (shapes must hold the same bytes). */
  copy(src: Tensor, dst: Tensor, bytes = binding(src).size as number): void {
    this.endPass();
    this.encoder.copyBufferToBuffer(src.buffer, src.offset, dst.buffer, dst.offset, bytes);
  }

  /**
   * Records `fn`'s dispatches in a compute pass of their own, bracketed by GPU timestamps.
   * Read the durations with `submitAndTime()`. Needs the timestamp-query feature.
   */
  timed(label: string, fn: () => void): void {
    if (!this.gpu.caps.timestamps) throw new Error('timestamp-query is not available on this adapter');
    if (!this.querySet) this.querySet = this.gpu.device.createQuerySet({ type: 'timestamp', count: 4096 });
    if (this.queryCount + 2 > 4096) throw new Error('too many timed sections in one Recorder (max 2048)');
    this.endPass();
    this.pass = this.encoder.beginComputePass({
      label,
      timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: this.queryCount, endOfPassWriteIndex: this.queryCount + 1 },
    });
    this.queryCount += 2;
    this.timedLabels.push(label);
    const timedPass = this.pass;
    this.inTimed = true;
    try {
      fn();
    } finally {
      this.inTimed = false;
    }
    if (this.pass !== timedPass) {
      throw new Error(`timed section '${label}' was cut by a copy or split(): its timestamps would not cover all of it`);
    }
    this.endPass();
  }

  /**
   * Submits what is recorded so far and goes on recording into a fresh encoder (for work that
   * must reach the GPU before the host can continue, e.g. before a readback for a collective).
   */
  split(): void {
    this.submit();
    this.encoderInUse = this.gpu.device.createCommandEncoder({ label: this.label });
  }

  /** Submits everything recorded. Only split() may record more afterwards. */
  submit(): void {
    this.endPass();
    for (const a of this.arenas) this.gpu.device.queue.writeBuffer(a.buffer, 0, a.data, 0, a.used);
    this.gpu.device.queue.submit([this.encoder.finish()]);
    const buffers = [...this.arenas.splice(0).map((a) => a.buffer), ...this.scratchBuffers.splice(0)];
    if (buffers.length) {
      void this.gpu.device.queue.onSubmittedWorkDone().then(() => {
        for (const b of buffers) this.gpu.pool.release(b);
      });
    }
  }

  /** Submits, waits, and returns the duration in nanoseconds of each timed section. */
  async submitAndTime(): Promise<number[]> {
    this.endPass();
    if (!this.querySet || this.queryCount === 0) {
      this.submit();
      await this.gpu.flush();
      return [];
    }
    const bytes = this.queryCount * 8;
    const resolve = this.gpu.device.createBuffer({ size: bytes, usage: QUERY_RESOLVE | COPY_SRC });
    const readback = this.gpu.device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
    this.encoder.resolveQuerySet(this.querySet, 0, this.queryCount, resolve, 0);
    this.encoder.copyBufferToBuffer(resolve, 0, readback, 0, bytes);
    this.submit();
    await readback.mapAsync(MAP_READ);
    const ts = new BigUint64Array(readback.getMappedRange().slice(0));
    readback.unmap();
    readback.destroy();
    resolve.destroy();
    this.querySet.destroy();
    this.gpu.throwPending();
    const out: number[] = [];
    for (let i = 0; i < this.queryCount; i += 2) out.push(Number(ts[i + 1] - ts[i]));
    return out;
  }
}
