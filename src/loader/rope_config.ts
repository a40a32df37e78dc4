// config.json's RoPE settings → RopeConfig (part of ModelConfig), checked once: the rope type and
// every number it uses, with transformers 5's defaults (modeling_rope_utils: `standardize_rope_params`
// and the `_compute_*_parameters` functions model/rope.ts follows). Both spellings are read:
// transformers 5's `rope_parameters` (rope_theta inside) and the older `rope_theta` + `rope_scaling`
// (`rope_type`, or the legacy `type`; Phi-3's early `su` is `longrope`).
import { ModelConfigError } from './errors.js';
import { JsonFields } from './json_fields.js';

export type RopeType = 'default' | 'linear' | 'dynamic' | 'llama3' | 'yarn' | 'longrope';
export const ROPE_TYPES: readonly RopeType[] = ['default', 'linear', 'dynamic', 'llama3', 'yarn', 'longrope'];

export interface RopeConfig {
  readonly theta: number;
  readonly type: RopeType;
  /**
   * linear, dynamic, llama3, yarn: the context extension factor (>= 1). longrope: config.json's factor or,
   * absent, max_position_embeddings / original_max_position_embeddings (transformers' default).
   */
  readonly factor: number;
  /** llama3. */
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  /** llama3, yarn, longrope: the pretraining context (Phi-3 keeps it at the top level of config.json). */
  readonly originalMaxPositionEmbeddings: number;
  /** yarn: the ramp's bounds in rotations (32, 1), mscale / mscale_all_dim (0: unset), truncate (true). */
  readonly betaFast: number;
  readonly betaSlow: number;
  readonly mscale: number;
  readonly mscaleAllDim: number;
  readonly truncate: boolean;
  /** yarn, longrope: config.json's attention_factor (cos and sin are multiplied by it); null: derived from factor. */
  readonly attentionFactor: number | null;
  /** longrope: per-frequency divisors ([rotaryDim / 2] each) below and above the pretraining context. */
  readonly shortFactor: readonly number[];
  readonly longFactor: readonly number[];
}

type Json = Record<string, unknown>;

/**
 * The rotated dims per head: head_dim × partial_rotary_factor (top level, or inside rope_parameters), an
 * even number >= 2 (transformers rotates int(head_dim × factor) dims: an odd count has no pairs).
 */
export function parseRotaryDim(raw: Json, file: string, headDim: number): number {
  const top = new JsonFields(raw, file, ModelConfigError);
  const inner = top.objectOrNull('rope_parameters');
  const key = inner && inner.partial_rotary_factor != null ? 'rope_parameters.partial_rotary_factor' : 'partial_rotary_factor';
  const f = inner && inner.partial_rotary_factor != null ? new JsonFields(inner, file, ModelConfigError, 'rope_parameters.') : top;
  const partial = f.num('partial_rotary_factor', 1, 0, Infinity);
  const rotaryDim = Math.floor(headDim * partial);
  if (!(partial <= 1) || rotaryDim < 2 || rotaryDim % 2 !== 0) {
    throw new ModelConfigError(file, `${key} ${partial} gives ${rotaryDim} rotated dims of head_dim ${headDim}: tknp takes a factor in (0, 1] giving an even number >= 2`, key);
  }
  return rotaryDim;
}

/**
 * Reads and checks the rope settings; `maxPos` is max_position_embeddings, `rotaryDim` from parseRotaryDim,
 * `defaultTheta` the architecture's rope_theta default; `name` how messages call the rope parameters
 * (when they are not raw's own rope_parameters / rope_scaling: Gemma 3's per-layer-type dicts).
 */
export function parseRope(raw: Json, file: string, maxPos: number, rotaryDim: number, defaultTheta = 10000, name?: string): RopeConfig {
  const top = new JsonFields(raw, file, ModelConfigError);
  const own = raw.rope_parameters != null ? 'rope_parameters' : 'rope_scaling';
  const params = top.objectOrNull(own) ?? {};
  const key = name ?? own;
  const p = new JsonFields(params, file, ModelConfigError, `${key}.`);
  const theta = params.rope_theta !== undefined ? p.num('rope_theta', defaultTheta, 0, Infinity) : top.num('rope_theta', defaultTheta, 0, Infinity);
  const typeKey = params.rope_type != null ? 'rope_type' : 'type';
  const spelled = p.str(typeKey, 'default');
  const type = (spelled === 'su' ? 'longrope' : spelled) as RopeType;
  if (!ROPE_TYPES.includes(type)) {
    throw new ModelConfigError(file, `rope type '${spelled}' is not supported (${ROPE_TYPES.join(', ')})`, `${key}.${typeKey}`);
  }
  // transformers moves a top-level original_max_position_embeddings (Phi-3) into the rope parameters, ahead of theirs.
  const original = raw.original_max_position_embeddings != null ? top.int('original_max_position_embeddings') : p.int('original_max_position_embeddings', maxPos);
  const factorGiven = params.factor != null;
  const factor = type === 'longrope' && !factorGiven ? maxPos / original : p.num('factor', 1, 0, Infinity);
  if (type !== 'default' && type !== 'longrope' && !(factor >= 1)) throw new ModelConfigError(file, `field '${key}.factor' must be >= 1, got ${factor}`, `${key}.factor`);
  const lowFreqFactor = p.num('low_freq_factor', 1, 0, Infinity);
  const highFreqFactor = p.num('high_freq_factor', 4, 0, Infinity);
  if (type === 'llama3' && !(highFreqFactor > lowFreqFactor)) {
    throw new ModelConfigError(file, `llama3 rope needs high_freq_factor > low_freq_factor, got ${highFreqFactor} <= ${lowFreqFactor}`, `${key}.high_freq_factor`);
  }
  // transformers reads beta_fast / beta_slow with `or`: 0 (like absence) means the default.
  const orDefault = (k: string, def: number) => p.num(k, def, -Infinity, Infinity) || def;
  const longrope = type === 'longrope';
  return {
    theta,
    type,
    factor,
    lowFreqFactor,
    highFreqFactor,
    originalMaxPositionEmbeddings: original,
    betaFast: orDefault('beta_fast', 32),
    betaSlow: orDefault('beta_slow', 1),
    mscale: p.num('mscale', 0, -Infinity, Infinity),
    mscaleAllDim: p.num('mscale_all_dim', 0, -Infinity, Infinity),
    truncate: p.bool('truncate', true),
    attentionFactor: params.attention_factor == null ? null : p.num('attention_factor', 1, 0, Infinity),
    shortFactor: longrope ? p.positiveNumbers('short_factor', rotaryDim / 2) : [],
    longFactor: longrope ? p.positiveNumbers('long_factor', rotaryDim / 2) : [],
  };
}
