// The format the projections' weights take on the GPU, from EngineConfig.quantization and the
// checkpoint's own quantization_config (one pure function, refusing what cannot be combined):
//   f16           the checkpoint's f16/bf16/f32 weights (as f16)
//   int8          per output channel, symmetric, made at load (groupSize = in_features)
//   int4          groups of 128 along in_features (64, then 32 where 128 does not divide it), asymmetric, made at load
//   w8a8          the int8 weights, with activations quantized per token to int8 (int8Activations)
//   awq / gptq    read from a pre-quantized checkpoint (loader/quantization_config.ts), repacked
// Embeddings, norms and lm_head stay f16 in every format.
import { ModelConfigError } from '../loader/errors.js';
import type { CheckpointQuantization } from '../loader/quantization_config.js';
import { QuantLayoutError, type QuantBits } from './packed_weight.js';

/** EngineConfig.quantization's values. */
export const QUANTIZATIONS = ['none', 'int8', 'int4', 'w8a8'] as const;
export type Quantization = (typeof QUANTIZATIONS)[number];

export interface WeightFormat {
  /** 'f16': no quantization; 'at-load': RTN from f16 weights; 'checkpoint': an AWQ / GPTQ checkpoint. */
  readonly source: 'f16' | 'at-load' | 'checkpoint';
  /** Bits of a quantized projection (16: f16). */
  readonly bits: QuantBits | 16;
  readonly symmetric: boolean;
  /** At load: the preferred group (int4: 128); null: one group per output channel. */
  readonly groupSize: number | null;
  /** W8A8: activations quantized per token to int8 as well. */
  readonly int8Activations: boolean;
  readonly checkpoint: CheckpointQuantization | null;
  /** For the start-up line and reports, e.g. 'int4 (g128, asymmetric)'. */
  readonly description: string;
}

export const F16_FORMAT: WeightFormat = { source: 'f16', bits: 16, symmetric: true, groupSize: null, int8Activations: false, checkpoint: null, description: 'f16' };

const AT_LOAD: Record<Exclude<Quantization, 'none'>, WeightFormat> = {
  int8: { source: 'at-load', bits: 8, symmetric: true, groupSize: null, int8Activations: false, checkpoint: null, description: 'int8 (per channel, symmetric)' },
  int4: { source: 'at-load', bits: 4, symmetric: false, groupSize: 128, int8Activations: false, checkpoint: null, description: 'int4 (g128, asymmetric)' },
  w8a8: { source: 'at-load', bits: 8, symmetric: true, groupSize: null, int8Activations: true, checkpoint: null, description: 'w8a8 (int8 weights per channel, int8 activations per token)' },
};

/**
 * The projections' format for `requested` (EngineConfig.quantization) and the checkpoint's own
 * `checkpoint` (ModelConfig.quantization). A pre-quantized checkpoint is read in its own format;
 * asking to quantize it again is refused (its f16 weights are gone), naming config.json's field.
 */
export function resolveWeightFormat(requested: Quantization, checkpoint: CheckpointQuantization | null, configFile = 'config.json'): WeightFormat {
  if (checkpoint) {
    if (requested !== 'none') {
      throw new ModelConfigError(
        configFile,
        `--quantization ${requested} asks to quantize weights that are already quantized (quantization_config: ${checkpoint.description}); such a checkpoint is read in its own format: leave --quantization unset (or 'none')`,
        'quantization_config',
      );
    }
    return {
      source: 'checkpoint',
      bits: checkpoint.bits,
      symmetric: checkpoint.symmetric,
      groupSize: checkpoint.groupSize,
      int8Activations: false,
      checkpoint,
      description: checkpoint.description,
    };
  }
  return requested === 'none' ? F16_FORMAT : AT_LOAD[requested];
}

/**
 * The group size an at-load format uses for a weight of `inFeatures` columns: per channel for
 * int8, else the preferred group, halved down to 32 until it divides inFeatures.
 */
export function atLoadGroupSize(f: WeightFormat, inFeatures: number, what: string): number {
  if (f.groupSize === null) return inFeatures;
  for (let g = f.groupSize; g >= 32; g /= 2) if (inFeatures % g === 0) return g;
  throw new QuantLayoutError(`${what}: in_features ${inFeatures} is not a multiple of 32, so ${f.description} has no group size for it (${f.groupSize}, then halved down to 32)`);
}

/** The group size of a projection of `inFeatures` columns in format `f` (quantized formats only). */
export function groupSizeFor(f: WeightFormat, inFeatures: number, what: string): number {
  if (f.source === 'checkpoint') return f.groupSize ?? inFeatures;
  return atLoadGroupSize(f, inFeatures, what);
}
