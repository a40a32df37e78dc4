// The tensors an AWQ / GPTQ checkpoint stores for one quantized linear of logical shape [N, K]
// (out, in) in place of its `<module>.weight`, with their shapes and dtypes (src/quant/awq.ts and
// gptq.ts describe the packings). model/weight_names.ts checks a checkpoint against them before
// anything is read; the loader reads them.
import { ModelConfigError } from '../loader/errors.js';
import type { CheckpointQuantization } from '../loader/quantization_config.js';

export interface QuantTensorSpec {
  readonly shape: number[];
  /** dtypes accepted: I32 for packed words, F16 (or BF16 / F32, converted) for scales. */
  readonly dtypes: readonly string[];
  /** May be absent (GPTQ's g_idx). */
  readonly optional?: boolean;
}

const SCALE_DTYPES = ['F16', 'BF16', 'F32'];

/** Group size of `q` for in_features K (null: per channel), refused where it does not divide K. */
export function checkpointGroupSize(q: CheckpointQuantization, K: number, module: string, configFile: string): number {
  const g = q.groupSize ?? K;
  const perWord = 32 / q.bits;
  if (K % g !== 0 || K % perWord !== 0) {
    throw new ModelConfigError(configFile, `quantization_config.group_size ${q.groupSize ?? -1} does not divide in_features ${K} of '${module}' into whole groups of ${perWord}-value words`, 'quantization_config.group_size');
  }
  return g;
}

/** name → spec of the tensors holding `module` (e.g. 'model.layers.0.mlp.down_proj') quantized by `q`. */
export function quantizedTensorSpecs(q: CheckpointQuantization, module: string, shape: readonly [number, number], configFile: string): Map<string, QuantTensorSpec> {
  const [N, K] = shape;
  const g = checkpointGroupSize(q, K, module, configFile);
  const pw = 32 / q.bits;
  const packN = q.method === 'awq' ? 8 : pw; // out features a zero-point word holds
  if (N % packN !== 0) {
    throw new ModelConfigError(configFile, `'${module}' has ${N} out_features, not a multiple of ${packN}: ${q.method} packs ${packN} zero points (AWQ: values too) to a word`, 'quantization_config');
  }
  const out = new Map<string, QuantTensorSpec>();
  if (q.method === 'awq') {
    out.set(`${module}.qweight`, { shape: [K, N / 8], dtypes: ['I32'] });
    out.set(`${module}.qzeros`, { shape: [K / g, N / 8], dtypes: ['I32'] });
  } else {
    out.set(`${module}.qweight`, { shape: [K / pw, N], dtypes: ['I32'] });
    out.set(`${module}.qzeros`, { shape: [K / g, N / pw], dtypes: ['I32'] });
    out.set(`${module}.g_idx`, { shape: [K], dtypes: ['I32'], optional: true });
  }
  out.set(`${module}.scales`, { shape: [K / g, N], dtypes: SCALE_DTYPES });
  return out;
}
