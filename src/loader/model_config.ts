// config.json → ModelConfig: the one readonly description of a model's shapes, validated
// once by a pure function that throws a named error for anything unsupported, of the wrong
// type or out of range. Every field tknp reads is type-checked (a number written as a string
// is refused, not converted); fields tknp does not read are ignored, as transformers does.
// Defaults are transformers' for the architecture.
import { ATTENTION_HEAD_DIMS, MAX_GQA_RATIO } from '../kernels/attention_shapes.js';
import { ModelConfigError, UnsupportedArchitectureError } from './errors.js';
import { JsonFields } from './json_fields.js';
import { parseRope, parseRotaryDim, type RopeConfig } from './rope_config.js';

export type { RopeConfig } from './rope_config.js';

export type Architecture = 'llama' | 'mistral' | 'qwen2';


export interface ModelConfig {
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
  readonly rope: RopeConfig;
  /** Longest context the model supports (config.json's max_position_embeddings). */
  readonly maxPositionEmbeddings: number;
  /**
   * The sliding attention window where transformers applies one (Mistral's sliding_window; Qwen2's
   * when use_sliding_window is set and some layer is past max_window_layers); null: full attention.
   */
  readonly slidingWindow: number | null;
  readonly tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2; Llama with attention_bias). */
  readonly qkvBias: boolean;
  /** o_proj carries a bias (Llama with attention_bias). */
  readonly oBias: boolean;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  /** Storage dtype declared by the checkpoint ('float16', 'bfloat16', 'float32'). */
  readonly dtype: string;
}

const ARCHITECTURES: Readonly<Record<string, Architecture>> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
};

/** transformers' defaults per architecture for the fields whose default differs. */
const DEFAULT_MAX_POSITIONS: Readonly<Record<Architecture, number>> = { llama: 2048, mistral: 131072, qwen2: 32768 };

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
  if (raw.quantization_config != null) {
    throw new ModelConfigError(file, 'field \'quantization_config\' is set: quantized checkpoints are not supported (tknp loads float16, bfloat16 or float32 weights)', 'quantization_config');
  }
  const hiddenSize = f.int('hidden_size');
  const numHeads = f.int('num_attention_heads');
  const numKvHeads = f.int('num_key_value_heads', numHeads);
  const headDim = f.int('head_dim', Math.floor(hiddenSize / numHeads));
  if (numHeads % numKvHeads !== 0) {
    throw new ModelConfigError(file, `num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads})`, 'num_key_value_heads');
  }
  if (!ATTENTION_HEAD_DIMS.includes(headDim)) throw new ModelConfigError(file, `head_dim ${headDim} is not supported (the attention kernels take ${ATTENTION_HEAD_DIMS.join(', ')})`, 'head_dim');
  if (numHeads / numKvHeads > MAX_GQA_RATIO) {
    throw new ModelConfigError(file, `num_attention_heads / num_key_value_heads = ${numHeads / numKvHeads} q heads per kv head is not supported (at most ${MAX_GQA_RATIO})`, 'num_key_value_heads');
  }
  const act = f.str('hidden_act', 'silu');
  if (act !== 'silu') throw new ModelConfigError(file, `hidden_act '${act}' is not supported (only silu)`, 'hidden_act');
  const rotaryDim = parseRotaryDim(raw, file, headDim);
  const numLayers = f.int('num_hidden_layers');
  const vocabSize = f.int('vocab_size');
  const maxPositionEmbeddings = f.int('max_position_embeddings', DEFAULT_MAX_POSITIONS[architecture]);
  // Llama has no biases unless attention_bias; Qwen2 always has q/k/v biases; Mistral never has any.
  const attentionBias = architecture === 'llama' && f.bool('attention_bias', false);
  if (architecture === 'llama' && f.bool('mlp_bias', false)) throw new ModelConfigError(file, 'mlp_bias true is not supported', 'mlp_bias');
  const bos = f.tokenIds('bos_token_id', vocabSize);
  if (bos.length > 1) throw new ModelConfigError(file, `field 'bos_token_id' must be one token id, got ${JSON.stringify(raw.bos_token_id)}`, 'bos_token_id');
  const dtype = f.str('torch_dtype', f.str('dtype', 'float16'));
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
    rmsNormEps: f.num('rms_norm_eps', 1e-6, 0, 1),
    rope: parseRope(raw, file, maxPositionEmbeddings, rotaryDim),
    maxPositionEmbeddings,
    slidingWindow: slidingWindow(f, architecture, numLayers),
    tieWordEmbeddings: f.bool('tie_word_embeddings', false),
    qkvBias: architecture === 'qwen2' || attentionBias,
    oBias: attentionBias,
    bosTokenId: bos[0] ?? null,
    eosTokenIds: f.tokenIds('eos_token_id', vocabSize),
    dtype,
  };
}

/**
 * The window transformers applies, or null. Mistral: sliding_window (transformers' default 4096
 * when absent; null disables it). Qwen2: only with use_sliding_window, and only on layers from
 * max_window_layers on (or those layer_types marks "sliding_attention"). Llama ignores the field.
 */
function slidingWindow(f: JsonFields, arch: Architecture, numLayers: number): number | null {
  if (arch === 'llama') return null;
  if (arch === 'mistral') return f.intOrNull('sliding_window', 1, 4096);
  if (!f.bool('use_sliding_window', false)) return null;
  const window = f.intOrNull('sliding_window', 1, 4096);
  const types = f.raw.layer_types;
  if (types != null) {
    if (!Array.isArray(types) || types.length !== numLayers || types.some((t) => t !== 'full_attention' && t !== 'sliding_attention')) {
      throw new ModelConfigError(f.file, `field 'layer_types' must list "full_attention" or "sliding_attention" for each of the ${numLayers} layers`, 'layer_types');
    }
    return types.includes('sliding_attention') ? window : null;
  }
  return f.int('max_window_layers', 28, 0) < numLayers ? window : null;
}


/**
 * The longest prompt + output served: `requested` (--max-model-len), else the model's
 * max_position_embeddings. Refused: a request beyond max_position_embeddings, and a length the
 * kernels cannot serve exactly because it exceeds an active sliding window.
 */
export function resolveMaxModelLen(c: ModelConfig, requested: number | undefined, file = 'config.json'): number {
  if (requested !== undefined && requested > c.maxPositionEmbeddings) {
    throw new ModelConfigError(
      file,
      `--max-model-len ${requested} exceeds max_position_embeddings ${c.maxPositionEmbeddings}, the longest context the model supports`,
      'max_position_embeddings',
    );
  }
  const len = requested ?? c.maxPositionEmbeddings;
  if (c.slidingWindow !== null && c.slidingWindow < len) {
    throw new ModelConfigError(
      file,
      `sliding_window ${c.slidingWindow} is smaller than max_model_len ${len}: tknp's kernels do not serve sliding-window attention yet; run with --max-model-len ${c.slidingWindow} (or less), where full attention is exactly sliding attention`,
      'sliding_window',
    );
  }
  return len;
}

/** Parameter count of the weights (for reports). */
export function parameterCount(c: ModelConfig): number {
  const attn = c.hiddenSize * (c.numHeads + 2 * c.numKvHeads) * c.headDim + c.numHeads * c.headDim * c.hiddenSize;
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  const emb = c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2);
  return c.numLayers * (attn + mlp + 2 * c.hiddenSize) + emb + c.hiddenSize;
}
