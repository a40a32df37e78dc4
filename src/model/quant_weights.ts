// The projections (q|k|v, o, gate|up, down) of a quantized model, loaded into LinearWeights:
//   at load (int8 / int4 / w8a8): each checkpoint tensor quantized whole (RTN, src/quant/packed_weight.ts)
//       on a pool of threads (model/at_load_quantizer.ts), so every tensor-parallel size sees the same
//       quantized values;
//   AWQ / GPTQ: the packed tensors read and repacked (src/quant/awq.ts, gptq.ts); a module the
//       checkpoint keeps in f16 (modules_to_not_convert) loads as f16.
// Then this rank's part (PackedTransform: rows for column-parallel, in features on group
// boundaries for row-parallel), the parts of a fused projection stacked by rows, and one upload.
import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { uploadPacked, type LinearWeight } from '../kernels/quantized_weight.js';
import { quantizesModule } from '../loader/quantization_config.js';
import { unpackAwq } from '../quant/awq.js';
import { checkpointGroupSize, quantizedTensorSpecs } from '../quant/checkpoint_tensors.js';
import { unpackGptq } from '../quant/gptq.js';
import type { PackedWeight } from '../quant/packed_weight.js';
import { concatPackedRows, packedRows } from '../quant/packed_split.js';
import type { WeightFormat } from '../quant/weight_format.js';
import type { TensorPart } from './weights.js';

/** Maps a full packed weight to this rank's part (dist/ supplies it; single rank: identity). */
export type PackedTransform = (name: string, role: 'column' | 'row', p: PackedWeight) => PackedWeight;

export const KEEP_PACKED: PackedTransform = (_n, _r, p) => p;

/** What loadWeights lends: checked, progress-counted reads, and its f16 path for projections that stay f16. */
export interface LinearReads {
  readonly file: (name: string) => string;
  readonly configFile: string;
  readonly readF16: (name: string, shape: number[]) => Promise<Uint16Array>;
  readonly readI32: (name: string, shape: number[]) => Promise<Uint32Array>;
  /** At load: the whole tensor quantized in `format` (model/at_load_quantizer.ts). */
  readonly quantizeAtLoad: (name: string, shape: readonly [number, number]) => Promise<PackedWeight>;
  readonly has: (name: string) => boolean;
  readonly f16Column: (parts: readonly TensorPart[], label: string) => Promise<Tensor>;
  readonly f16Row: (name: string, shape: number[]) => Promise<Tensor>;
}

export interface QuantizedLinears {
  /** Column-parallel parts (q, k, v or gate, up) stacked: [Σ local rows, K]. */
  column(parts: readonly TensorPart[], label: string): Promise<LinearWeight>;
  /** A row-parallel projection (o, down) of full shape [N, K]. */
  row(name: string, shape: [number, number]): Promise<LinearWeight>;
}

const moduleOf = (name: string) => name.replace(/\.weight$/, '');

export function quantizedLinears(gpu: Gpu, format: WeightFormat, r: LinearReads, transform: PackedTransform = KEEP_PACKED): QuantizedLinears {
  const q = format.checkpoint;
  const stored = (name: string) => !q || quantizesModule(q, moduleOf(name));
  // The whole checkpoint tensor `name` [N, K], quantized (at load) or repacked (AWQ / GPTQ).
  const whole = async (name: string, shape: readonly [number, number]): Promise<PackedWeight> => {
    const K = shape[1];
    const module = moduleOf(name);
    if (!q) return r.quantizeAtLoad(name, shape);
    const g = checkpointGroupSize(q, K, module, r.configFile);
    const specs = quantizedTensorSpecs(q, module, shape, r.configFile);
    const read = async (suffix: string) => {
      const n = `${module}.${suffix}`;
      return r.readI32(n, specs.get(n)!.shape);
    };
    const scales = await r.readF16(`${module}.scales`, specs.get(`${module}.scales`)!.shape);
    const file = r.file(`${module}.qweight`);
    if (q.method === 'awq') return unpackAwq({ qweight: await read('qweight'), qzeros: await read('qzeros'), scales }, shape, g, module, file);
    const gIdx = r.has(`${module}.g_idx`) ? new Int32Array((await read('g_idx')).buffer) : null;
    return unpackGptq({ qweight: await read('qweight'), qzeros: await read('qzeros'), scales, gIdx }, shape, { bits: q.bits, groupSize: g, symmetric: q.symmetric, zeroOffset: q.zeroOffset }, module, file);
  };
  const upload = (p: PackedWeight, label: string) => uploadPacked(gpu, p, label, format.int8Activations);
  return {
    async column(parts, label) {
      // All parts quantized or none (model/weight_names.ts refuses a mix before loading).
      if (!stored(parts[0].name)) return r.f16Column(parts, label);
      const fused = new Map<string, PackedWeight>();
      const local: PackedWeight[] = [];
      for (const part of parts) {
        let full = fused.get(part.name);
        if (!full) fused.set(part.name, (full = await whole(part.name, [part.shape[0], part.shape[1]])));
        const [r0, n] = part.rows ?? [0, part.shape[0]];
        local.push(transform(part.name, 'column', part.rows ? packedRows(full, r0, n) : full));
      }
      return upload(concatPackedRows(local, label), label);
    },
    async row(name, shape) {
      if (!stored(name)) return r.f16Row(name, shape);
      return upload(transform(name, 'row', await whole(name, shape)), name);
    },
  };
}
