// config.json → ModelConfig: the one readonly description of a model's shapes, validated
// once by a pure function that throws a named error for anything unsupported, of the wrong
// type or out of range. Every field tknp reads is type-checked (a number written as a string
// is refused, not converted); fields tknp does not read are ignored, as transformers does.
// Defaults are transformers' for the architecture.
import { ATTENTION_HEAD_DIMS, MAX_GQA_RATIO } from '../kernels/attention_shapes.js';
import { architectureDefaults, ARCHITECTURES, parseFeatures, perLayerTypeRope, type Architecture, type ArchitectureFeatures } from './architectures.js';
import { ModelConfigError, UnsupportedArchitectureError } from './errors.js';
import { JsonFields } from './json_fields.js';
import { parseQuantizationConfig, type CheckpointQuantization } from './quantization_config.js';
import { parseRope, parseRotaryDim, type RopeConfig } from './rope_config.js';

export type { RopeConfig } from './rope_config.js';
export type { Activation, Architecture } from './architectures.js';

export interface ModelConfig extends ArchitectureFeatures {
  readonly architecture: Architecture;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  /** Rotated dims per head: head_dim × partial_rotary_factor (even; the rest pass through unrotated). */
  readonly rotaryDim: number;
  readonly vocabSize: number;
  readonly rmsNormEps: number;
  /** RoPE of every layer (Gemma 3: of its full-attention layers; localRope is the sliding layers'). */
  readonly rope: RopeConfig;
  /** Longest context the model supports (config.json's max_position_embeddings). */
  readonly maxPositionEmbeddings: number;
  readonly tieWordEmbeddings: boolean;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  /** Storage dtype declared by the checkpoint ('float16', 'bfloat16', 'float32'). */
  readonly dtype: string;
  /** A pre-quantized checkpoint's format (config.json's quantization_config: AWQ or GPTQ), or null. */
  readonly quantization: CheckpointQuantization | null;
}

type Json = Record<string, unknown>;

/** Validates a parsed config.json; `file` is used in error messages. */
export function parseModelConfig(raw: Json, file = 'config.json'): ModelConfig {
  const f = new JsonFields(raw, file, ModelConfigError);
  const archs = raw.architectures;
  if (!Array.isArray(archs) || archs.length === 0 || archs.some((a) => typeof a !== 'string')) {
    throw new ModelConfigError(file, `field 'architectures' must be a non-empty list of class names (e.g. ["LlamaForCausalLM"]), got ${JSON.stringify(archs ?? null)}`, 'architectures');
  }
  const architecture = ARCHITECTURES[archs[0] as string];
  if (!architecture) {
    throw new UnsupportedArchitectureError(file, `unsupported architecture ${JSON.stringify(archs[0])}: tknp supports ${Object.keys(ARCHITECTURES).join(', ')}`, 'architectures');
  }
  const quantization = parseQuantizationConfig(raw, file);
  const defaults = architectureDefaults(architecture);
  const hiddenSize = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  const numKvHeads = f.int('num_key_value_heads', numHeads);
  const headDim = f.int('head_dim', defaults.headDim ?? Math.floor(hiddenSize / numHeads));
  if (numHeads % numKvHeads !== 0) {
    throw new ModelConfigError(file, `num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads})`, 'num_key_value_heads');
  }
  if (!ATTENTION_HEAD_DIMS.includes(headDim)) throw new ModelConfigError(file, `head_dim ${headDim} is not supported (the attention kernels take ${ATTENTION_HEAD_DIMS.join(', ')})`, 'head_dim');
  if (numHeads / numKvHeads > MAX_GQA_RATIO) {
    throw new ModelConfigError(file, `num_attention_heads / num_key_value_heads = ${numHeads / numKvHeads} q heads per kv head is not supported (at most ${MAX_GQA_RATIO})`, 'num_key_value_heads');
  }
  const rotaryDim = parseRotaryDim(raw, file, headDim);
  const numLayers = f.int('num_hidden_layers');
  const vocabSize = f.int('vocab_size');
  const maxPositionEmbeddings = f.int('max_position_embeddings', defaults.maxPositions);
  const features = parseFeatures(f, architecture, { hiddenSize, headDim, numLayers, maxPositions: maxPositionEmbeddings, rotaryDim });
  const bos = f.tokenIds('bos_token_id', vocabSize);
  if (bos.length > 1) throw new ModelConfigError(file, `field 'bos_token_id' must be one token id, got ${JSON.stringify(raw.bos_token_id)}`, 'bos_token_id');
  const dtype = f.str('torch_dtype', f.str('dtype', 'float16'));
  const nested = architecture === 'gemma3' ? perLayerTypeRope(raw) : null;
  const rope = nested
    ? parseRope({ rope_parameters: nested.full_attention }, file, maxPositionEmbeddings, rotaryDim, defaults.ropeTheta, 'rope_parameters.full_attention')
    : parseRope(raw, file, maxPositionEmbeddings, rotaryDim, defaults.ropeTheta);
  return {
    architecture,
    hiddenSize,
    intermediateSize: f.int('intermediate_size'),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rotaryDim,
    vocabSize,
    rmsNormEps: f.num('rms_norm_eps', defaults.rmsNormEps, 0, 1),
    rope,
    maxPositionEmbeddings,
    tieWordEmbeddings: f.bool('tie_word_embeddings', defaults.tieWordEmbeddings),
    ...features,
    bosTokenId: bos[0] ?? null,
    eosTokenIds: f.tokenIds('eos_token_id', vocabSize),
    dtype,
    quantization,
  };
}

/**
 * The longest prompt + output served: `requested` (--max-model-len), else the model's
 * max_position_embeddings. Refused: a request beyond max_position_embeddings.
 */
export function resolveMaxModelLen(c: ModelConfig, requested: number | undefined, file = 'config.json'): number {
  if (requested !== undefined && requested > c.maxPositionEmbeddings) {
    throw new ModelConfigError(
      file,
      `--max-model-len ${requested} exceeds max_position_embeddings ${c.maxPositionEmbeddings}, the longest context the model supports`,
      'max_position_embeddings',
    );
  }
  return requested ?? c.maxPositionEmbeddings;
}

/** Parameter count of the weights (for reports). */
export function parameterCount(c: ModelConfig): number {
  const attn = c.hiddenSize * (c.numHeads + 2 * c.numKvHeads) * c.headDim + c.numHeads * c.headDim * c.hiddenSize;
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  const emb = c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2);
  const norms = (c.sandwichNorms ? 4 : 2) * c.hiddenSize + (c.qkNorm ? 2 * c.headDim : 0);
  return c.numLayers * (attn + mlp + norms) + emb + c.hiddenSize;
}
