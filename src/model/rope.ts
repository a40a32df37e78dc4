// Rotary position embedding tables on the CPU: the inverse frequencies of a model's RoPE and the
// factor cos and sin are multiplied by, following Hugging Face transformers 5's modeling_rope_utils
// (`_compute_default_rope_parameters`, `_compute_linear_scaling_rope_parameters`,
// `_compute_dynamic_ntk_parameters`, `_compute_llama3_parameters`, `_compute_yarn_parameters`,
// `_compute_longrope_parameters`), and the [maxPositions, rotaryDim] f32 cos/sin table that
// kernels/rotary reads. Computed in f64 and stored in f32 (HF computes angles in f32, which at
// position 32k is off by up to ~2e-3 rad; this table is the exact value rounded once).
//
// Two types depend on the sequence length in transformers; tknp fixes them per engine (a row's
// rotation must not depend on the batch, and cached keys keep the rotation they were written with):
// - dynamic: HF rescales the base once a sequence exceeds max_position_embeddings. tknp never serves
//   beyond max_position_embeddings (loader/model_config resolveMaxModelLen), where HF's formula gives
//   the unscaled base: the table is the default one, exactly as HF computes it.
// - longrope: HF uses the long factors while a sequence is longer than original_max_position_embeddings,
//   the short ones otherwise. tknp uses the long factors when the served length (max_model_len)
//   exceeds original_max_position_embeddings, the short ones otherwise (as llama.cpp does): exact
//   for every sequence when serving within the pretraining context.
import type { RopeType } from '../loader/rope_config.js';

export type { RopeType } from '../loader/rope_config.js';

/**
 * RoPE settings. Field names match the loader's RopeConfig, so `{ ...config.rope, rotaryDim, … }`
 * is a valid RopeParams (`ropeParamsOf` builds one from a ModelConfig).
 */
export interface RopeParams {
  /** rope_theta (the base). */
  readonly theta: number;
  /** Number of rotated dimensions per head (head_dim × partial_rotary_factor), even. */
  readonly rotaryDim: number;
  /** Scaling type; 'default' (none) when absent. */
  readonly type?: RopeType;
  /** linear/dynamic/llama3/yarn/longrope: the context extension factor. */
  readonly factor?: number;
  /** llama3 only. */
  readonly lowFreqFactor?: number;
  readonly highFreqFactor?: number;
  /** llama3, yarn, longrope: the pretraining context. */
  readonly originalMaxPositionEmbeddings?: number;
  /** yarn: ramp bounds in rotations (default 32, 1), mscale / mscale_all_dim (0 or absent: unset), truncate (default true). */
  readonly betaFast?: number;
  readonly betaSlow?: number;
  readonly mscale?: number;
  readonly mscaleAllDim?: number;
  readonly truncate?: boolean;
  /** yarn, longrope: cos/sin multiplier given by the config (null or absent: derived from factor). */
  readonly attentionFactor?: number | null;
  /** longrope: [rotaryDim / 2] divisors within and beyond the pretraining context. */
  readonly shortFactor?: readonly number[];
  readonly longFactor?: readonly number[];
  /** dynamic: the model's max_position_embeddings. */
  readonly maxPositionEmbeddings?: number;
  /** dynamic, longrope: the longest sequence served (max_model_len). */
  readonly maxModelLen?: number;
}

/** What `ropeParamsOf` reads of a ModelConfig. */
interface RopeModel {
  readonly rope: Omit<RopeParams, 'rotaryDim' | 'maxPositionEmbeddings' | 'maxModelLen'>;
  readonly rotaryDim: number;
  readonly maxPositionEmbeddings: number;
}

/** The RopeParams of a model served up to `maxModelLen` tokens. */
export function ropeParamsOf(c: RopeModel, maxModelLen: number): RopeParams {
  return { ...c.rope, rotaryDim: c.rotaryDim, maxPositionEmbeddings: c.maxPositionEmbeddings, maxModelLen };
}

export class RopeConfigError extends Error {
  override readonly name = 'RopeConfigError';
}

function need(params: RopeParams, key: keyof RopeParams): number {
  const v = params[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RopeConfigError(`rope type '${params.type}' needs a numeric ${key}, got ${String(v)}`);
  return v;
}

/** theta^(-2i/rotaryDim) for i in [0, rotaryDim/2). */
function defaultInvFreq(theta: number, rotaryDim: number): Float64Array {
  const invFreq = new Float64Array(rotaryDim / 2);
  for (let i = 0; i < invFreq.length; i++) invFreq[i] = 1 / theta ** ((2 * i) / rotaryDim);
  return invFreq;
}

/** The inverse frequencies, [rotaryDim / 2]: the default ones, then the type's scaling. */
export function ropeInvFreq(params: RopeParams): Float64Array {
  const { theta, rotaryDim } = params;
  const type = params.type ?? 'default';
  if (!(theta > 0)) throw new RopeConfigError(`rope theta must be > 0, got ${theta}`);
  if (!Number.isInteger(rotaryDim) || rotaryDim < 2 || rotaryDim % 2 !== 0) {
    throw new RopeConfigError(`rotaryDim must be a positive even integer, got ${rotaryDim}`);
  }
  switch (type) {
    case 'default':
      return defaultInvFreq(theta, rotaryDim);
    case 'linear': {
      const factor = need(params, 'factor');
      return defaultInvFreq(theta, rotaryDim).map((f) => f / factor);
    }
    case 'dynamic':
      return dynamicInvFreq(params);
    case 'llama3':
      return llama3Scale(defaultInvFreq(theta, rotaryDim), params);
    case 'yarn':
      return yarnInvFreq(params);
    case 'longrope':
      return longropeInvFreq(params);
    default:
      throw new RopeConfigError(`rope type '${String(type)}' is not supported`);
  }
}

/**
 * Dynamic NTK (`_compute_dynamic_ntk_parameters`): base · (factor · L / M − (factor − 1))^(d / (d − 2)) with
 * M = max_position_embeddings and L = max(longest sequence, M); tknp's L is max(maxModelLen, M), which is M
 * whenever it serves (maxModelLen <= M): the base, and so the frequencies, are the default ones.
 */
function dynamicInvFreq(params: RopeParams): Float64Array {
  const factor = need(params, 'factor');
  const maxPos = need(params, 'maxPositionEmbeddings');
  const seqLen = Math.max(params.maxModelLen ?? maxPos, maxPos);
  const d = params.rotaryDim;
  const base = params.theta * (factor * seqLen / maxPos - (factor - 1)) ** (d / (d - 2));
  return defaultInvFreq(base, d);
}

/**
 * Llama 3.1 frequency scaling. With wavelength λ = 2π / f and the original context length L:
 * λ < L / highFreqFactor keeps f; λ > L / lowFreqFactor divides f by factor; in between,
 * s = (L/λ − lowFreqFactor) / (highFreqFactor − lowFreqFactor) blends (1−s)·f/factor + s·f.
 */
function llama3Scale(invFreq: Float64Array, params: RopeParams): Float64Array {
  const factor = need(params, 'factor');
  const low = need(params, 'lowFreqFactor');
  const high = need(params, 'highFreqFactor');
  const oldLen = need(params, 'originalMaxPositionEmbeddings');
  if (!(high > low)) throw new RopeConfigError(`llama3 rope needs highFreqFactor > lowFreqFactor, got ${high} <= ${low}`);
  const lowFreqWavelen = oldLen / low;
  const highFreqWavelen = oldLen / high;
  return invFreq.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highFreqWavelen) return f;
    if (wavelen > lowFreqWavelen) return f / factor;
    const s = (oldLen / wavelen - low) / (high - low);
    return (1 - s) * (f / factor) + s * f;
  });
}

/**
 * YaRN (`_compute_yarn_parameters`): frequency i blends interpolation f/factor and extrapolation f by a ramp
 * over i between the dims where a frequency makes beta_fast and beta_slow rotations over the original
 * context L: dim(r) = d · ln(L / (2π r)) / (2 ln base), low = floor(dim(beta_fast)) (clamped to >= 0),
 * high = ceil(dim(beta_slow)) (<= d − 1; no rounding with truncate false); ramp(i) = clamp((i − low) /
 * (high − low), 0, 1) (high += 0.001 when equal); f_i = f_i/factor · ramp(i) + f_i · (1 − ramp(i)).
 */
function yarnInvFreq(params: RopeParams): Float64Array {
  const { theta, rotaryDim: d } = params;
  const factor = need(params, 'factor');
  const oldLen = need(params, 'originalMaxPositionEmbeddings');
  const betaFast = params.betaFast || 32;
  const betaSlow = params.betaSlow || 1;
  const correctionDim = (rotations: number) => (d * Math.log(oldLen / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = correctionDim(betaFast);
  let high = correctionDim(betaSlow);
  if (params.truncate ?? true) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, d - 1);
  if (low === high) high += 0.001;
  return defaultInvFreq(theta, d).map((f, i) => {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const extrapolation = 1 - ramp;
    return (f / factor) * (1 - extrapolation) + f * extrapolation;
  });
}

/**
 * LongRoPE (`_compute_longrope_parameters`): f_i = 1 / (ext_i · base^(2i/d)), ext = long_factor when the
 * served length exceeds original_max_position_embeddings, else short_factor (see the file header).
 */
function longropeInvFreq(params: RopeParams): Float64Array {
  const oldLen = need(params, 'originalMaxPositionEmbeddings');
  const long = (params.maxModelLen ?? 0) > oldLen;
  const ext = (long ? params.longFactor : params.shortFactor) ?? [];
  const half = params.rotaryDim / 2;
  if (ext.length !== half) throw new RopeConfigError(`longrope needs ${half} ${long ? 'long' : 'short'} factors (rotaryDim / 2), got ${ext.length}`);
  return defaultInvFreq(params.theta, params.rotaryDim).map((f, i) => f / ext[i]);
}

/**
 * The factor HF multiplies cos and sin by: 1, but for yarn (attention_factor, else
 * mscale(factor, mscale) / mscale(factor, mscale_all_dim) when both are set, else mscale(factor), with
 * mscale(s, m) = 0.1 · m · ln(s) + 1 for s > 1, else 1) and longrope (attention_factor, else 1 for
 * factor <= 1, else sqrt(1 + ln(factor) / ln(original_max_position_embeddings))).
 */
export function attentionScaling(params: RopeParams): number {
  const type = params.type ?? 'default';
  if (type !== 'yarn' && type !== 'longrope') return 1;
  if (params.attentionFactor != null) return params.attentionFactor;
  const factor = need(params, 'factor');
  if (type === 'yarn') {
    const mscale = (s: number, m = 1) => (s <= 1 ? 1 : 0.1 * m * Math.log(s) + 1);
    return params.mscale && params.mscaleAllDim ? mscale(factor, params.mscale) / mscale(factor, params.mscaleAllDim) : mscale(factor);
  }
  return factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(need(params, 'originalMaxPositionEmbeddings')));
}

/**
 * The table kernels/rotary reads: [maxPositions, rotaryDim] f32, row p =
 * cos(p·invFreq[0..rotaryDim/2)) then sin(p·invFreq[0..rotaryDim/2)), times `scaling` (attentionScaling).
 */
export function ropeCosSinTable(invFreq: Float64Array, maxPositions: number, scaling = 1): Float32Array {
  const half = invFreq.length;
  const rotaryDim = 2 * half;
  const table = new Float32Array(maxPositions * rotaryDim);
  for (let p = 0; p < maxPositions; p++) {
    const row = p * rotaryDim;
    for (let i = 0; i < half; i++) {
      const angle = p * invFreq[i];
      table[row + i] = scaling * Math.cos(angle);
      table[row + half + i] = scaling * Math.sin(angle);
    }
  }
  return table;
}

/** The cos/sin table of `params`, scaled by attentionScaling: [maxPositions, rotaryDim] f32. */
export function ropeTable(params: RopeParams, maxPositions: number): Float32Array {
  return ropeCosSinTable(ropeInvFreq(params), maxPositions, attentionScaling(params));
}
