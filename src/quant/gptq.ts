// GPTQ checkpoints (AutoGPTQ / GPTQModel, quant_method 'gptq', desc_act false) → PackedWeight.
// Per linear of logical weight [N, K] (out, in), `bits` 4 or 8 (pw = 32 / bits values a word), group g along K
// (group_size −1: g = K):
//   qweight: int32 [K / pw, N]      packed along K: value (k, n) in word (floor(k / pw), n) at bit bits·(k % pw);
//   qzeros:  int32 [K / g, N / pw]  packed along N: zero (group, n) in word (group, floor(n / pw)) at bit bits·(n % pw);
//                                   format 'gptq' (v1) stores zero − 1, 'gptq_v2' the zero itself;
//   scales:  f16   [K / g, N];
//   g_idx:   int32 [K]              group of input k: with desc_act false it must be floor(k / g) (checked);
//   w[n, k] = (q − z) · s, q and z unsigned; sym true: every z is 2^(bits−1) (checked).
// The words of qweight already hold K-consecutive values, little end first, as tknp's layout does, so
// repacking is a transpose of words (8-bit symmetric: unsigned q − 128 stored as two's-complement int8,
// i.e. the top bit of each byte flipped). Symmetric weights keep no zeros (the layout's implicit 8 / 0).
import { CheckpointError } from '../loader/errors.js';
import { SMALL_INT_F16 } from './awq.js';
import { checkPackable, type PackedWeight, type QuantBits } from './packed_weight.js';

export interface GptqTensors {
  readonly qweight: Uint32Array; // [K / pw, N]
  readonly qzeros: Uint32Array; // [K / g, N / pw]
  readonly scales: Uint16Array; // [K / g, N] f16 bits
  readonly gIdx: Int32Array | null; // [K], absent in some checkpoints
}

export interface GptqLayout {
  readonly bits: QuantBits;
  /** Group size along K (K for group_size −1). */
  readonly groupSize: number;
  readonly symmetric: boolean;
  /** Added to every stored zero: 1 for format 'gptq' (v1), 0 for 'gptq_v2'. */
  readonly zeroOffset: 0 | 1;
}

/** The stored (offset not added) zero of (group, n) in a GPTQ qzeros tensor. */
export function gptqStoredZero(qzeros: Uint32Array, group: number, n: number, N: number, bits: QuantBits): number {
  const pw = 32 / bits;
  return (qzeros[group * (N / pw) + Math.floor(n / pw)] >>> (bits * (n % pw))) & ((1 << bits) - 1);
}

/** Repacks one GPTQ linear (`module`, in `file`: for messages) of logical shape [N, K]. */
export function unpackGptq(t: GptqTensors, shape: readonly [number, number], l: GptqLayout, module: string, file: string): PackedWeight {
  const [N, K] = shape;
  const { bits, groupSize: g } = l;
  checkPackable(shape, bits, g, module);
  const pw = 32 / bits;
  if (N % pw !== 0) throw new CheckpointError(file, `tensor '${module}.qzeros': out_features ${N} is not a multiple of ${pw} (GPTQ packs ${pw} zero points to a word)`, `${module}.qzeros`);
  if (t.gIdx) {
    for (let k = 0; k < K; k++) {
      if (t.gIdx[k] !== Math.floor(k / g)) {
        throw new CheckpointError(file, `tensor '${module}.g_idx' has group ${t.gIdx[k]} at index ${k}, expected ${Math.floor(k / g)} (floor(k / group_size ${g})): a permuted g_idx (desc_act) is not supported`, `${module}.g_idx`);
      }
    }
  }
  const groups = K / g;
  const wordsPerRow = K / pw;
  const flip = bits === 8 && l.symmetric ? 0x80808080 : 0;
  const qweight = new Uint32Array(N * wordsPerRow);
  for (let kw = 0; kw < wordsPerRow; kw++) {
    const src = kw * N;
    for (let n = 0; n < N; n++) qweight[n * wordsPerRow + kw] = (t.qweight[src + n] ^ flip) >>> 0;
  }
  const scales = new Uint16Array(N * groups);
  const zeros = l.symmetric ? null : new Uint16Array(N * groups);
  const symZero = 1 << (bits - 1);
  for (let gi = 0; gi < groups; gi++) {
    for (let n = 0; n < N; n++) {
      scales[n * groups + gi] = t.scales[gi * N + n];
      const z = gptqStoredZero(t.qzeros, gi, n, N, bits) + l.zeroOffset;
      if (zeros) zeros[n * groups + gi] = SMALL_INT_F16[z];
      else if (z !== symZero) {
        throw new CheckpointError(file, `tensor '${module}.qzeros' holds zero ${z} for group ${gi} of output ${n}, but quantization_config.sym true means every zero is ${symZero}`, `${module}.qzeros`);
      }
    }
  }
  return { bits, symmetric: l.symmetric, groupSize: g, shape: [N, K], qweight, scales, zeros };
}
