// Recorder: collects kernel dispatches into one command encoder and submits them together.
// Kernel wrappers call `dispatch`; each dispatch's small uniform block of parameters goes into a
// 256-byte slot of a pooled uniform buffer written once at submit (src/gpu/uniform_arenas.ts).
//
// Binding convention for every shader: tensors at @binding(0..n-1) in the order the wrapper
// passes them, then the parameter block (if any) at @binding(n) as `var<uniform>`.
//
// The dispatch path allocates nothing on a bind-group cache hit (a decode step records ~330-460
// dispatches). A Recorder can also capture what it records (`startCapture`/`finishCapture`) and
// replay a capture (`replay`, src/gpu/step_capture.ts): the engine's repeated decode steps then
// cost the Dawn calls alone.
import type { Gpu } from './gpu.js';
import { StepCapture, type CapturedOp } from './step_capture.js';
import { BYTES, bindingSize, byteSize, type DType, type Tensor } from './tensor.js';
import { UniformArenas, type Param } from './uniform_arenas.js';

export type { Param } from './uniform_arenas.js';

const COPY_DST = 0x08;
const QUERY_RESOLVE = 0x200;
const COPY_SRC = 0x04;
const STORAGE = 0x80;
const MAP_READ = 0x01;

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

export class Recorder {
  private encoderInUse: GPUCommandEncoder;
  private pass: GPUComputePassEncoder | undefined;
  private readonly arenas: UniformArenas;
  private readonly scratchBuffers: GPUBuffer[] = [];
  private querySet: GPUQuerySet | undefined;
  private queryCount = 0;
  /** Labels of timed sections, in query order (pairs of begin/end timestamps). */
  readonly timedLabels: string[] = [];

  private inTimed = false;
  /** The pipeline set last in the current pass (setPipeline is skipped when it repeats). */
  private passPipeline: GPUComputePipeline | null = null;
  /** Operations recorded since startCapture(), or null. */
  private capturing: CapturedOp[] | null = null;
  /** One dispatch's bindings (reused: the dispatch path allocates nothing). */
  private readonly boundBuffers: GPUBuffer[] = [];
  private readonly boundOffsets: number[] = [];
  private readonly boundSizes: number[] = [];

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
    this.arenas = new UniformArenas(gpu.pool);
  }

  get encoder(): GPUCommandEncoder {
    return this.encoderInUse;
  }

  /**
   * A temporary tensor (split-K partials, reduction workspaces) from the buffer pool; it goes
   * back to the pool once the GPU has finished this Recorder's work.
   */
  scratch(shape: readonly number[], dtype: DType, label = 'scratch'): Tensor {
    const bytes = Math.max(4, Math.ceil(byteSize({ shape, dtype }) / 4) * 4);
    const buffer = this.gpu.pool.acquire(bytes, STORAGE | COPY_SRC | COPY_DST, label);
    this.scratchBuffers.push(buffer);
    this.capturing?.push({ kind: 'scratch', buffer });
    return { buffer, dtype, shape: [...shape], offset: 0 };
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.encoder.beginComputePass({ label: this.label });
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
    this.passPipeline = null;
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
    const buffers = this.boundBuffers;
    const offsets = this.boundOffsets;
    const sizes = this.boundSizes;
    let n = 0;
    for (; n < tensors.length; n++) {
      const t = tensors[n];
      buffers[n] = t.buffer;
      offsets[n] = t.offset ?? 0;
      const shape = (t as Tensor).shape;
      if (shape !== undefined) {
        // bindingSize(t), inlined: whole 4-byte words, at least one.
        let elems = BYTES[(t as Tensor).dtype];
        for (let i = 0; i < shape.length; i++) elems *= shape[i];
        sizes[n] = Math.max(4, Math.ceil(elems / 4) * 4);
      } else {
        sizes[n] = (t as GPUBufferBinding).size ?? -1;
      }
    }
    if (params) {
      offsets[n] = this.arenas.write(params, this.capturing);
      buffers[n] = this.arenas.buffer;
      sizes[n] = Math.max(16, Math.ceil((params.length * 4) / 16) * 16);
      n++;
    }
    const group = this.gpu.bindGroups.lookup(pipeline, buffers, offsets, sizes, n);
    const [x, y = 1, z = 1] = workgroups;
    this.capturing?.push({ kind: 'dispatch', pipeline, group, x, y, z });
    this.encodeDispatch(pipeline, group, x, y, z);
  }

  private encodeDispatch(pipeline: GPUComputePipeline, group: GPUBindGroup, x: number, y: number, z: number): void {
    const pass = this.computePass();
    if (pipeline !== this.passPipeline) {
      pass.setPipeline(pipeline);
      this.passPipeline = pipeline;
    }
    pass.setBindGroup(0, group);
    if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
  }

  /** Records a buffer-to-buffer copy of a whole tensor (shapes must hold the same bytes). */
  copy(src: Tensor, dst: Tensor, bytes = bindingSize(src)): void {
    this.capturing?.push({ kind: 'copy', src: src.buffer, srcOffset: src.offset, dst: dst.buffer, dstOffset: dst.offset, bytes });
    this.encodeCopy(src.buffer, src.offset, dst.buffer, dst.offset, bytes);
  }

  private encodeCopy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.endPass();
    this.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /**
   * Records `fn`'s dispatches in a compute pass of their own, bracketed by GPU timestamps.
   * Read the durations with `submitAndTime()`. Needs the timestamp-query feature.
   */
  timed(label: string, fn: () => void): void {
    if (!this.gpu.caps.timestamps) throw new Error('timestamp-query is not available on this adapter');
    if (this.capturing) throw new Error('Recorder.timed inside a capture: timed passes cannot be replayed');
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
    this.capturing?.push({ kind: 'split' });
    this.submit();
    this.encoderInUse = this.gpu.device.createCommandEncoder({ label: this.label });
  }

  /** Submits everything recorded. Only split() may record more afterwards. */
  submit(): void {
    this.endPass();
    const arenas = this.arenas.flush(this.gpu.device.queue);
    this.gpu.device.queue.submit([this.encoder.finish()]);
    const buffers = [...arenas, ...this.scratchBuffers.splice(0)];
    if (buffers.length) {
      void this.gpu.device.queue.onSubmittedWorkDone().then(() => {
        for (const b of buffers) this.gpu.pool.release(b);
      });
    }
  }

  /**
   * Starts capturing what is recorded from now on (dispatches, copies, splits, pooled buffers) for
   * `replay`. The current uniform arena is closed, so the capture's parameters land in arenas of its own.
   */
  startCapture(): void {
    if (this.capturing) throw new Error('Recorder.startCapture: already capturing');
    if (this.inTimed || this.opts.timeEachDispatch) throw new Error('Recorder.startCapture: timed passes cannot be captured');
    this.arenas.close();
    this.capturing = [];
  }

  /** Ends the capture; what is recorded afterwards (into the same arena, say) is not part of it. */
  finishCapture(): StepCapture {
    const ops = this.capturing;
    if (!ops) throw new Error('Recorder.finishCapture without startCapture');
    this.capturing = null;
    this.arenas.snapshot(true);
    return new StepCapture(ops);
  }

  /** Drops a capture in progress (its recording failed); what was recorded stays recorded. */
  abortCapture(): void {
    this.capturing = null;
    this.arenas.forgetCapture();
  }

  /**
   * Records `c`'s operations again, as if the code that made them ran now: false (and nothing
   * recorded) where the pool does not hand back the very buffers the capture used, or while timing.
   */
  replay(c: StepCapture): boolean {
    if (this.capturing || this.inTimed || this.opts.timeEachDispatch) return false;
    const pool = this.gpu.pool;
    const taken: GPUBuffer[] = [];
    for (const want of c.pooled) {
      const b = pool.acquire(want.size, want.usage);
      taken.push(b);
      if (b !== want) {
        for (const t of taken) pool.release(t);
        return false;
      }
    }
    this.arenas.close();
    for (const op of c.ops) {
      switch (op.kind) {
        case 'dispatch':
          this.encodeDispatch(op.pipeline, op.group, op.x, op.y, op.z);
          break;
        case 'copy':
          this.encodeCopy(op.src, op.srcOffset, op.dst, op.dstOffset, op.bytes);
          break;
        case 'split':
          this.split();
          break;
        case 'arena':
          this.arenas.restore(op.buffer, op.bytes!);
          break;
        case 'scratch':
          this.scratchBuffers.push(op.buffer);
          break;
      }
    }
    return true;
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
