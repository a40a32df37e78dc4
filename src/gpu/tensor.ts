// A tensor is a typed, shaped view of a GPU buffer. Kernels take and return tensors; the
// shape is checked by each kernel's TS wrapper before anything is dispatched.
import { ShapeError } from './errors.js';

export type DType = 'f16' | 'f32' | 'u32' | 'i32';

export const BYTES: Readonly<Record<DType, number>> = { f16: 2, f32: 4, u32: 4, i32: 4 };

export interface Tensor {
  readonly buffer: GPUBuffer;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Byte offset of element 0 in `buffer` (a multiple of the device's storage offset alignment). */
  readonly offset: number;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function byteSize(t: Pick<Tensor, 'dtype' | 'shape'>): number {
  return numel(t.shape) * BYTES[t.dtype];
}

/** Bytes to bind for a tensor: WebGPU bindings are sized in multiples of 4 bytes. */
export function bindingSize(t: Tensor): number {
  return Math.max(4, Math.ceil(byteSize(t) / 4) * 4);
}

export function binding(t: Tensor): GPUBufferBinding {
  return { buffer: t.buffer, offset: t.offset, size: bindingSize(t) };
}

/** Whether the bound byte ranges of `a` and `b` share any byte (same buffer, ranges intersect). */
export function overlaps(a: Tensor, b: Tensor): boolean {
  return a.buffer === b.buffer && a.offset < b.offset + bindingSize(b) && b.offset < a.offset + bindingSize(a);
}

/** A view of `t` with another shape of the same element count (no copy). */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  if (numel(shape) !== numel(t.shape)) {
    throw new ShapeError(`reshape [${t.shape}] → [${shape}]: element counts differ`);
  }
  return { ...t, shape: [...shape] };
}

/**
 * The first `count` rows of a tensor (same buffer and offset): activation buffers are sized
 * for the largest step and viewed at each step's size.
 */
export function rows(t: Tensor, count: number): Tensor {
  if (count < 0 || count > t.shape[0]) throw new ShapeError(`rows(${count}) outside [${t.shape}]`);
  return { ...t, shape: [count, ...t.shape.slice(1)] };
}

/**
 * Rows [start, start+count) as a binding-free view: same buffer, offset moved. Only for
 * `start` whose byte offset meets the storage alignment; use kernel parameters otherwise.
 */
export function sliceView(t: Tensor, start: number, count: number): Tensor {
  if (start === 0) return rows(t, count);
  return sliceRows(t, start, count);
}

/**
 * Rows [start, start+count) at any offset, for buffer copies, readbacks and writes only
 * (not for bindings, which need the storage offset alignment).
 */
export function copyRows(t: Tensor, start: number, count: number): Tensor {
  const rowBytes = (numel(t.shape) / t.shape[0]) * BYTES[t.dtype];
  if (start < 0 || start + count > t.shape[0]) throw new ShapeError(`copyRows ${start}+${count} outside [${t.shape}]`);
  return { ...t, shape: [count, ...t.shape.slice(1)], offset: t.offset + start * rowBytes };
}

/** Rows [start, start+count) of a tensor along its first dimension (offset must stay aligned). */
export function sliceRows(t: Tensor, start: number, count: number, alignment = 256): Tensor {
  const rowBytes = (numel(t.shape) / t.shape[0]) * BYTES[t.dtype];
  const offset = t.offset + start * rowBytes;
  if (start < 0 || start + count > t.shape[0]) throw new ShapeError(`sliceRows ${start}+${count} outside [${t.shape}]`);
  if (offset % alignment !== 0) throw new ShapeError(`sliceRows: byte offset ${offset} not a multiple of ${alignment}`);
  return { ...t, shape: [count, ...t.shape.slice(1)], offset };
}

/** Throws a ShapeError unless `t` has exactly `shape` (-1 matches any size) and `dtype`. */
export function expectShape(name: string, t: Tensor, shape: readonly number[], dtype?: DType | readonly DType[]): void {
  // Kernel wrappers call this for every tensor of every dispatch: plain loops, nothing allocated
  // unless it throws.
  let ok = t.shape.length === shape.length;
  for (let i = 0; ok && i < shape.length; i++) ok = shape[i] === -1 || shape[i] === t.shape[i];
  if (!ok) throw new ShapeError(`${name}: expected shape [${shape.map((d) => (d === -1 ? '*' : d))}], got [${t.shape}]`);
  if (dtype !== undefined && (typeof dtype === 'string' ? dtype !== t.dtype : !dtype.includes(t.dtype))) {
    const allowed = typeof dtype === 'string' ? [dtype] : dtype;
    throw new ShapeError(`${name}: expected dtype ${allowed.join('|')}, got ${t.dtype}`);
  }
}

export function expect(cond: boolean, message: string): asserts cond {
  if (!cond) throw new ShapeError(message);
}

/**
 * Throws a ShapeError: `if (!cond) fail(`...`)` is `expect(cond, `...`)` without formatting the
 * message when the check passes (for checks in the wrappers every decode step calls).
 */
export function fail(message: string): never {
  throw new ShapeError(message);
}

export type HostArray = Float32Array | Uint16Array | Uint32Array | Int32Array;

export function hostArrayFor(dtype: DType, data: ArrayBuffer, length: number): HostArray {
  switch (dtype) {
    case 'f16':
      return new Uint16Array(data, 0, length);
    case 'f32':
      return new Float32Array(data, 0, length);
    case 'u32':
      return new Uint32Array(data, 0, length);
    case 'i32':
      return new Int32Array(data, 0, length);
  }
}
