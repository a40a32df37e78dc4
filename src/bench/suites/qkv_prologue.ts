// Inputs and checks shared by the bench entries of the fused attention prologues (split_qkv_rotary,
// split_qkv_norm_rotary): the fused q|k|v rows, random positions, token t's k/v row in cache slot t + 16
// (block 0 left alone: contiguous, as a prefill chunk writes them), the q/k/v outputs and the paged caches.
import type { Gpu } from '../../gpu/gpu.js';
import type { Tensor } from '../../gpu/tensor.js';
import { f16BitsToF32, toF16 } from '../../util/f16.js';
import type { Rng } from '../../util/rng.js';

export interface QkvPrologue {
  readonly qkv16: Uint16Array; // [T, (Hq + 2·Hk)·D]
  readonly positions: Uint32Array; // [T]
  readonly slots: Uint32Array; // [T]
  readonly qkv: Tensor;
  readonly q: Tensor; // [T, Hq, D]
  readonly k: Tensor; // [T, Hk, D]
  readonly v: Tensor; // [T, Hk, D]
  readonly tPos: Tensor;
  readonly cosSin: Tensor; // [maxPos, D] f32
  readonly cache: { readonly kCache: Tensor; readonly vCache: Tensor; readonly slotMapping: Tensor };
  /** Every tensor above, for destroy(). */
  readonly tensors: readonly Tensor[];
}

/** The prologue's inputs for T tokens of Hq/Hk heads of D, positions below maxPos, the cos/sin `table`. */
export function qkvPrologue(gpu: Gpu, rng: Rng, T: number, Hq: number, Hk: number, D: number, table: Float32Array, maxPos: number): QkvPrologue {
  const width = (Hq + 2 * Hk) * D;
  const numBlocks = Math.ceil(T / 16) + 1;
  const qkv16 = toF16(rng.floats(T * width, -2, 2));
  const positions = Uint32Array.from({ length: T }, () => rng.int(0, maxPos - 1));
  const slots = Uint32Array.from({ length: T }, (_, t) => t + 16);
  const qkv = gpu.upload(qkv16, [T, width], 'f16', 'qkv');
  const [q, k, v] = [Hq, Hk, Hk].map((h) => gpu.tensor([T, h, D], 'f16', 'out'));
  const kCache = gpu.tensor([numBlocks, Hk, 16, D], 'f16', 'kCache');
  const vCache = gpu.tensor([numBlocks, Hk, 16, D], 'f16', 'vCache');
  const tPos = gpu.upload(positions, [T], 'u32', 'positions');
  const slotMapping = gpu.upload(slots, [T], 'u32', 'slotMapping');
  const cosSin = gpu.upload(table, [maxPos, D], 'f32', 'cosSin');
  return { qkv16, positions, slots, qkv, q, k, v, tPos, cosSin, cache: { kCache, vCache, slotMapping }, tensors: [qkv, q, k, v, kCache, vCache, tPos, slotMapping, cosSin] };
}

/** Offset of kv head h's row of cache slot `slot` in a [numBlocks, Hk, 16, D] cache. */
export function cacheRow(slot: number, h: number, Hk: number, D: number): number {
  return ((Math.floor(slot / 16) * Hk + h) * 16 + (slot % 16)) * D;
}

/**
 * Throws at the first value out of tolerance: [name, got, expected, approximate] rows, approximate ones
 * compared by `close` (f16 bits), the others bit for bit.
 */
export function checkRows(what: string, rows: readonly [string, Uint16Array, Uint16Array, boolean][], close: (got: number, want: number) => boolean): void {
  for (const [name, have, w, approx] of rows) {
    const bad = w.findIndex((x, i) => (approx ? !close(have[i], x) : have[i] !== x));
    if (bad >= 0) throw new Error(`${what}: ${name} at ${bad}: 0x${have[bad].toString(16)}, expected 0x${w[bad].toString(16)}`);
  }
}

/** |got − want| within `ulps` f16 ulps of want (subnormals: of the smallest normal). */
export function withinUlps(ulps: number): (got: number, want: number) => boolean {
  const ulp = (x: number) => 2 ** (Math.floor(Math.log2(Math.max(Math.abs(x), 2 ** -14))) - 10);
  return (a, b) => Math.abs(f16BitsToF32(a) - f16BitsToF32(b)) <= ulps * ulp(f16BitsToF32(b));
}
