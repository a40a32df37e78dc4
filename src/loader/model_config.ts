// config.json → ModelConfig: the one readonly description of a model's shapes, validated
// once by a pure function that throws a named error for anything unsupported or out of range.
import { ModelConfigError, UnsupportedArchitectureError } from './errors.js';

export type Architecture = 'llama' | 'mistral' | 'qwen2';

export interface RopeConfig {
  readonly theta: number;
  /** 'default' (no scaling), 'linear' or 'llama3'. */
  readonly type: 'default' | 'linear' | 'llama3';
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositionEmbeddings: number;
}

export interface ModelConfig {
  readonly architecture: Architecture;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly rmsNormEps: number;
  readonly rope: RopeConfig;
  /** Longest context the model supports (capped at sliding_window where one applies). */
  readonly maxPositionEmbeddings: number;
  readonly tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2; Llama with attention_bias). */
  readonly qkvBias: boolean;
  /** o_proj carries a bias (Llama with attention_bias). */
  readonly oBias: boolean;
  readonly mlpBias: boolean;
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

type Json = Record<string, unknown>;

/** Validates a parsed config.json; `file` is used in error messages. */
export function parseModelConfig(raw: Json, file = 'config.json'): ModelConfig {
  const arch = ((raw.architectures as string[] | undefined) ?? [])[0];
  const architecture = arch ? ARCHITECTURES[arch] : undefined;
  if (!architecture) {
    throw new UnsupportedArchitectureError(
      file,
      `unsupported architecture ${JSON.stringify(arch ?? raw.model_type ?? null)}: tknp supports ${Object.keys(ARCHITECTURES).join(', ')}`,
    );
  }
  const int = (key: string, def?: number, min = 1): number => {
    const v = raw[key] ?? def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new ModelConfigError(file, `field '${key}' must be an integer >= ${min}, got ${JSON.stringify(raw[key] ?? null)}`);
    }
    return v;
  };
  const num = (key: string, def: number, lo: number, hi: number): number => {
    const v = raw[key] ?? def;
    if (typeof v !== 'number' || !(v > lo && v < hi)) {
      throw new ModelConfigError(file, `field '${key}' must be a number in (${lo}, ${hi}), got ${JSON.stringify(raw[key])}`);
    }
    return v;
  };
  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  const headDim = int('head_dim', Math.floor(hiddenSize / numHeads));
  if (numHeads % numKvHeads !== 0) {
    throw new ModelConfigError(file, `num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads})`);
  }
  if (![64, 128].includes(headDim) && headDim % 32 !== 0) {
    throw new ModelConfigError(file, `head_dim ${headDim} is not supported (use a multiple of 32; 64 and 128 are tuned)`);
  }
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu') throw new ModelConfigError(file, `hidden_act '${String(act)}' is not supported (only silu)`);
  let maxPositionEmbeddings = int('max_position_embeddings', 4096);
  const sliding = raw.sliding_window;
  const slidingOn = architecture === 'qwen2' ? raw.use_sliding_window === true : true;
  if (typeof sliding === 'number' && slidingOn && sliding < maxPositionEmbeddings) {
    // Attention is exact only while the context fits the window: cap the model length.
    maxPositionEmbeddings = sliding;
  }
  const attentionBias = raw.attention_bias === true;
  const eos = raw.eos_token_id;
  const eosTokenIds = eos == null ? [] : Array.isArray(eos) ? (eos as number[]) : [eos as number];
  return {
    architecture,
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: int('vocab_size'),
    rmsNormEps: num('rms_norm_eps', 1e-6, 0, 1),
    rope: parseRope(raw, file, maxPositionEmbeddings),
    maxPositionEmbeddings,
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    qkvBias: architecture === 'qwen2' || attentionBias,
    oBias: architecture !== 'qwen2' && attentionBias,
    mlpBias: raw.mlp_bias === true,
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : null,
    eosTokenIds,
    dtype: String(raw.torch_dtype ?? raw.dtype ?? 'float16'),
  };
}

/** Reads rope settings from transformers 5's `rope_parameters` or the older `rope_theta` + `rope_scaling`. */
function parseRope(raw: Json, file: string, maxPos: number): RopeConfig {
  const params = (raw.rope_parameters ?? raw.rope_scaling ?? {}) as Json;
  const theta = Number(params.rope_theta ?? raw.rope_theta ?? 10000);
  const type = String(params.rope_type ?? params.type ?? 'default');
  if (!(theta > 0)) throw new ModelConfigError(file, `rope_theta must be > 0, got ${theta}`);
  if (type !== 'default' && type !== 'linear' && type !== 'llama3') {
    throw new ModelConfigError(file, `rope type '${type}' is not supported (default, linear, llama3)`);
  }
  const factor = Number(params.factor ?? 1);
  if (type !== 'default' && !(factor >= 1)) throw new ModelConfigError(file, `rope factor must be >= 1, got ${factor}`);
  return {
    theta,
    type,
    factor,
    lowFreqFactor: Number(params.low_freq_factor ?? 1),
    highFreqFactor: Number(params.high_freq_factor ?? 4),
    originalMaxPositionEmbeddings: Number(params.original_max_position_embeddings ?? maxPos),
  };
}

/** Parameter count of the weights (for reports). */
export function parameterCount(c: ModelConfig): number {
  const attn = c.hiddenSize * (c.numHeads + 2 * c.numKvHeads) * c.headDim + c.numHeads * c.headDim * c.hiddenSize;
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  const emb = c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2);
  return c.numLayers * (attn + mlp + 2 * c.hiddenSize) + emb + c.hiddenSize;
}
