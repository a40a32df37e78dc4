// What each supported architecture adds to the Llama-family layout, read from config.json with
// transformers' defaults for that architecture (its *Config class and modeling file):
//   llama, mistral, qwen2   the base: pre-norm blocks, SiLU-gated MLP, RoPE
//   qwen3                   + per-head RMSNorm of q and k before RoPE (q_norm, k_norm)
//   phi3                    fused qkv_proj and gate_up_proj checkpoints (the layout tknp runs anyway),
//                           partial rotary, longrope; Phi-3 and Phi-4-mini
//   gemma2, gemma3          GeGLU (gelu_pytorch_tanh), RMSNorm by (1 + weight), embeddings times
//                           sqrt(hidden), norms after attention and after the MLP, softmax scale
//                           query_pre_attn_scalar^-0.5, sliding-window layers; gemma2: attention and
//                           final logit soft-capping; gemma3: q/k norms and a local RoPE (its own theta)
//                           on the sliding layers
// model/llama.ts runs all of them from these fields (one config-driven forward).
import { ModelConfigError } from './errors.js';
import { JsonFields } from './json_fields.js';
import { parseRope, type RopeConfig } from './rope_config.js';

export type Architecture = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'phi3' | 'gemma2' | 'gemma3';

/** config.json's `architectures[0]` → Architecture. */
export const ARCHITECTURES: Readonly<Record<string, Architecture>> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  Phi3ForCausalLM: 'phi3',
  Gemma2ForCausalLM: 'gemma2',
  Gemma3ForCausalLM: 'gemma3',
};

/** transformers' defaults where they differ between architectures. */
interface Defaults {
  readonly maxPositions: number;
  readonly rmsNormEps: number;
  readonly tieWordEmbeddings: boolean;
  /** head_dim when config.json has none (undefined: hidden_size / num_attention_heads). */
  readonly headDim?: number;
  readonly ropeTheta: number;
}

const DEFAULTS: Readonly<Record<Architecture, Defaults>> = {
  llama: { maxPositions: 2048, rmsNormEps: 1e-6, tieWordEmbeddings: false, ropeTheta: 10000 },
  mistral: { maxPositions: 131072, rmsNormEps: 1e-6, tieWordEmbeddings: false, ropeTheta: 10000 },
  qwen2: { maxPositions: 32768, rmsNormEps: 1e-6, tieWordEmbeddings: false, ropeTheta: 10000 },
  qwen3: { maxPositions: 32768, rmsNormEps: 1e-6, tieWordEmbeddings: false, headDim: 128, ropeTheta: 10000 },
  phi3: { maxPositions: 4096, rmsNormEps: 1e-5, tieWordEmbeddings: false, ropeTheta: 10000 },
  gemma2: { maxPositions: 8192, rmsNormEps: 1e-6, tieWordEmbeddings: true, headDim: 256, ropeTheta: 10000 },
  gemma3: { maxPositions: 131072, rmsNormEps: 1e-6, tieWordEmbeddings: true, headDim: 256, ropeTheta: 1000000 },
};

export function architectureDefaults(arch: Architecture): Defaults {
  return DEFAULTS[arch];
}

export type Activation = 'silu' | 'gelu_tanh';

/** The per-architecture part of ModelConfig (which extends it). */
export interface ArchitectureFeatures {
  /** MLP activation: SiLU (SwiGLU) or the tanh approximation of GELU (GeGLU: Gemma's gelu_pytorch_tanh). */
  readonly hiddenAct: Activation;
  /** q/k/v projections carry a bias (Qwen2; attention_bias). */
  readonly qkvBias: boolean;
  /** o_proj carries a bias (attention_bias). */
  readonly oBias: boolean;
  /** Per-head RMSNorm of q and k before RoPE (Qwen3 and Gemma 3's q_norm, k_norm). */
  readonly qkNorm: boolean;
  /** The checkpoint stores qkv_proj and gate_up_proj fused (Phi-3). */
  readonly fusedProjections: boolean;
  /** Norms after attention and after the MLP too, before the residual add (Gemma 2 and 3). */
  readonly sandwichNorms: boolean;
  /** RMSNorm multiplies by (offset + weight): 1 for Gemma (the loader adds it to the weights), else 0. */
  readonly normWeightOffset: 0 | 1;
  /** The embedding is multiplied by this (Gemma: sqrt(hidden_size)); 1 elsewhere. */
  readonly embedScale: number;
  /** Softmax scale of attention scores: 1/sqrt(head_dim), Gemma's query_pre_attn_scalar^-0.5. */
  readonly attentionScale: number;
  /** Attention scores s become tanh(s / c) · c (Gemma 2's attn_logit_softcapping); null: none. */
  readonly attnLogitSoftcap: number | null;
  /** Logits likewise (Gemma 2's final_logit_softcapping); null: none. */
  readonly finalLogitSoftcap: number | null;
  /**
   * Each layer's sliding attention window, as transformers applies it, or null (full attention). The
   * attention kernels serve it: a query sees the last `window` keys.
   */
  readonly layerWindows: readonly (number | null)[];
  /** Gemma 3's RoPE on sliding-window layers; null: every layer uses ModelConfig.rope. */
  readonly localRope: RopeConfig | null;
}

type Json = Record<string, unknown>;

const isGemma = (a: Architecture) => a === 'gemma2' || a === 'gemma3';

/** Reads the architecture's features; `shape` holds what parseModelConfig read already. */
export function parseFeatures(
  f: JsonFields,
  arch: Architecture,
  shape: { readonly hiddenSize: number; readonly headDim: number; readonly numLayers: number; readonly maxPositions: number; readonly rotaryDim: number },
): ArchitectureFeatures {
  const file = f.file;
  const gemma = isGemma(arch);
  // Gemma names the activation hidden_activation (hidden_act is its legacy spelling).
  const actKey = gemma && f.raw.hidden_activation != null ? 'hidden_activation' : 'hidden_act';
  const act = f.str(actKey, gemma ? 'gelu_pytorch_tanh' : 'silu');
  const hiddenAct: Activation | undefined = act === 'silu' ? 'silu' : act === 'gelu_pytorch_tanh' ? 'gelu_tanh' : undefined;
  if (!hiddenAct) throw new ModelConfigError(file, `${actKey} '${act}' is not supported (silu, gelu_pytorch_tanh)`, actKey);
  if (f.bool('mlp_bias', false)) throw new ModelConfigError(file, 'mlp_bias true is not supported', 'mlp_bias');
  // attention_bias biases all four projections (Llama, Qwen3, Gemma); Qwen2 always has q/k/v biases and
  // no o bias; Mistral and Phi-3 have none.
  const attentionBias = (arch === 'llama' || arch === 'qwen3' || gemma) && f.bool('attention_bias', false);
  const scalar = gemma ? f.num('query_pre_attn_scalar', 256, 0, Infinity) : shape.headDim;
  const softcap = (key: string, def: number | null) => (f.raw[key] === null ? null : f.raw[key] === undefined ? def : f.num(key, 1, 0, Infinity));
  return {
    hiddenAct,
    qkvBias: arch === 'qwen2' || attentionBias,
    oBias: attentionBias,
    qkNorm: arch === 'qwen3' || arch === 'gemma3',
    fusedProjections: arch === 'phi3',
    sandwichNorms: gemma,
    normWeightOffset: gemma ? 1 : 0,
    // Gemma: the embedding times sqrt(hidden_size), computed in the activations' dtype (transformers).
    embedScale: gemma ? Math.sqrt(shape.hiddenSize) : 1,
    attentionScale: 1 / Math.sqrt(scalar),
    attnLogitSoftcap: arch === 'gemma2' ? softcap('attn_logit_softcapping', 50) : null,
    finalLogitSoftcap: arch === 'gemma2' ? softcap('final_logit_softcapping', 30) : null,
    layerWindows: layerWindows(f, arch, shape.numLayers),
    localRope: arch === 'gemma3' ? gemma3LocalRope(f.raw, file, shape.maxPositions, shape.rotaryDim) : null,
  };
}

/**
 * Each layer's sliding window, or null (full attention), as transformers applies it. Llama: none.
 * Mistral, Phi-3: sliding_window on every layer (Mistral's default 4096, Phi-3's none; null disables
 * it). Qwen2, Qwen3: only with use_sliding_window, on the layers layer_types marks
 * "sliding_attention", else from max_window_layers on. Gemma 2: layer_types, else every even layer;
 * Gemma 3: layer_types, else all but every sliding_window_pattern-th (6).
 */
function layerWindows(f: JsonFields, arch: Architecture, numLayers: number): (number | null)[] {
  const all = (w: number | null) => Array<number | null>(numLayers).fill(w);
  if (arch === 'llama') return all(null);
  if (arch === 'mistral') return all(f.intOrNull('sliding_window', 1, 4096));
  if (arch === 'phi3') return all(f.intOrNull('sliding_window', 1, null));
  if ((arch === 'qwen2' || arch === 'qwen3') && !f.bool('use_sliding_window', false)) return all(null);
  const window = f.intOrNull('sliding_window', 1, 4096);
  const types = f.raw.layer_types;
  let sliding: boolean[];
  if (types != null) {
    if (!Array.isArray(types) || types.length !== numLayers || types.some((t) => t !== 'full_attention' && t !== 'sliding_attention')) {
      throw new ModelConfigError(f.file, `field 'layer_types' must list "full_attention" or "sliding_attention" for each of the ${numLayers} layers`, 'layer_types');
    }
    sliding = types.map((t) => t === 'sliding_attention');
  } else if (arch === 'gemma2') {
    sliding = Array.from({ length: numLayers }, (_, i) => i % 2 === 0);
  } else if (arch === 'gemma3') {
    const pattern = f.int('sliding_window_pattern', 6);
    sliding = Array.from({ length: numLayers }, (_, i) => (i + 1) % pattern !== 0);
  } else {
    const from = f.int('max_window_layers', 28, 0);
    sliding = Array.from({ length: numLayers }, (_, i) => i >= from);
  }
  return sliding.map((s) => (s ? window : null));
}

/**
 * Gemma 3's RoPE on its sliding layers: transformers 5's rope_parameters.sliding_attention, or the
 * default rope with theta rope_local_base_freq (10000) in the older layout.
 */
function gemma3LocalRope(raw: Json, file: string, maxPos: number, rotaryDim: number): RopeConfig {
  const nested = perLayerTypeRope(raw);
  if (nested) return parseRope({ rope_parameters: nested.sliding_attention }, file, maxPos, rotaryDim, 10000, 'rope_parameters.sliding_attention');
  const f = new JsonFields(raw, file, ModelConfigError);
  return parseRope({ rope_theta: f.num('rope_local_base_freq', 10000, 0, Infinity) }, file, maxPos, rotaryDim);
}

/** rope_parameters keyed by layer type (transformers 5's Gemma 3 layout), or null. */
export function perLayerTypeRope(raw: Json): { full_attention: Json; sliding_attention: Json } | null {
  const rp = raw.rope_parameters as Json | null | undefined;
  if (rp == null || typeof rp !== 'object' || rp.full_attention == null || rp.sliding_attention == null) return null;
  return rp as { full_attention: Json; sliding_attention: Json };
}
