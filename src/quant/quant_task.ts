// The messages between the at-load quantization pool (quant_pool.ts) and its threads
// (quant_worker.ts): a block of whole rows of one checkpoint tensor, as raw bytes, and its packed
// result. Rows quantize independently (groups run along K), so blocks of rows reassembled in order
// give the bits of quantizing the whole tensor at once.
import type { FloatDType } from '../loader/f16_decode.js';
import type { QuantBits } from './packed_weight.js';

/** Rows [r0, r0 + rows) of tensor `name` [N, K]: raw holds their bytes in `dtype` (its buffer is transferred). */
export interface QuantTask {
  readonly id: number;
  readonly raw: Uint8Array;
  readonly dtype: FloatDType;
  /** For error messages: the file, the tensor and the index of raw's first element in it. */
  readonly path: string;
  readonly name: string;
  readonly indexBase: number;
  readonly rows: number;
  readonly K: number;
  readonly bits: QuantBits;
  readonly groupSize: number;
  readonly symmetric: boolean;
}

/** The packed rows (PackedWeight's arrays for the block), or the error that stopped them. */
export type QuantReply =
  | { readonly id: number; readonly qweight: Uint32Array; readonly scales: Uint16Array; readonly zeros: Uint16Array | null; readonly ms: number }
  | { readonly id: number; readonly error: { readonly name: string; readonly message: string; readonly file?: string; readonly problem?: string; readonly field?: string } };
