// Dummy quantized projections (loadFormat 'dummy' with a quantized WeightFormat): the packed
// tensors the loader would upload (src/quant/packed_weight.ts's layout), made on the GPU. qweight's
// u32 words are filled by kernels/fill_random through an f16 view of the same buffer (two f16 bit
// patterns a word: every nibble and byte is some valid 4- or 8-bit value; their distribution does
// not matter to speed), keyed like the f16 dummies by (seed, tensor name, index in the full tensor),
// so a tensor-parallel shard holds its slice of the tp = 1 words. Scales are one small positive
// constant (|w| ≤ the f16 dummies' amplitude, so activations stay finite) and zeros the mid-range 8,
// written from the CPU (N · K / group values: a few MB a layer).
import type { Gpu } from '../gpu/gpu.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { fillRandom, fillRandomKey } from '../kernels/fill_random.js';
import type { QuantizedWeight } from '../kernels/quantized_weight.js';
import { checkPackable } from '../quant/packed_weight.js';
import { checkColumnSplit } from '../quant/packed_split.js';
import { groupSizeFor, type WeightFormat } from '../quant/weight_format.js';
import { f32ToF16Bits } from '../util/f16.js';
import type { ShardRole, WeightLayout } from './weights.js';

export interface DummyQuantOptions {
  readonly format: WeightFormat;
  readonly seed: number;
  /** The f16 dummies' amplitude: the largest |w| a dequantized weight reaches. */
  readonly amplitude: number;
  readonly layout: WeightLayout;
  readonly allocate: (shape: number[], dtype: 'u32' | 'f16', name: string) => Promise<Tensor>;
}

/** Writes `value` (f16 bits) into every element of `t`, from the CPU in chunks. */
function writeConstant(gpu: Gpu, t: Tensor, value: number): void {
  const total = t.shape.reduce((a, b) => a * b, 1);
  const chunk = new Uint16Array(Math.min(total, 1 << 20)).fill(value);
  for (let at = 0; at < total; at += chunk.length) gpu.write(t, chunk.subarray(0, Math.min(chunk.length, total - at)), at);
}

/**
 * A quantized projection of this rank: column-parallel parts (each [N_i, K], stacked by rows) or one
 * row-parallel weight ([N, K], split by in features).
 */
export async function dummyQuantized(gpu: Gpu, rec: Recorder, parts: readonly (readonly [string, number[]])[], role: Extract<ShardRole, 'column' | 'row'>, label: string, o: DummyQuantOptions): Promise<QuantizedWeight> {
  const f = o.format;
  const bits = f.bits as 4 | 8;
  const K = parts[0][1][1];
  const g = groupSizeFor(f, K, label);
  const halves = (K * bits) / 16; // qweight's f16 view: two halves a word
  let rows = 0;
  let localK = K;
  const windows = parts.map(([name, [N]]) => {
    checkPackable([N, K], bits, g, name);
    const w = o.layout(`${name}.qweight`, role, [N, halves]);
    if (role === 'row') {
      localK = (w.shape[1] * 16) / bits;
      checkColumnSplit([N, K], bits, g, K / localK, name);
    }
    rows += w.shape[0];
    return w;
  });
  const perChannel = g === K;
  const groups = perChannel ? 1 : localK / g;
  const qweight = await o.allocate([rows, (localK * bits) / 32], 'u32', `${label}.qweight`);
  const scales = await o.allocate([rows, groups], 'f16', `${label}.scales`);
  const zeros = f.symmetric ? null : await o.allocate([rows, groups], 'f16', `${label}.zeros`);
  const view: Tensor = { ...qweight, dtype: 'f16', shape: [rows, (localK * bits) / 16] };
  let at = 0;
  parts.forEach(([name], i) => {
    const w = windows[i];
    const count = w.shape[0] * w.shape[1];
    fillRandom(rec, view, { key: fillRandomKey(o.seed, `${name}.qweight`), amplitude: 1, window: w, start: at, count });
    at += count;
  });
  // |q − z| ≤ 8 (4-bit) or 128 (8-bit): the scale keeps |w| within the amplitude.
  writeConstant(gpu, scales, f32ToF16Bits(o.amplitude / (bits === 4 ? 8 : 128)));
  if (zeros) writeConstant(gpu, zeros, f32ToF16Bits(bits === 4 ? 8 : 128));
  return { kind: 'quantized', bits, symmetric: f.symmetric, groupSize: perChannel ? localK : g, shape: [rows, localK], qweight, scales, zeros, int8Activations: f.int8Activations };
}
