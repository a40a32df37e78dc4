// Rotary position embedding tables on the CPU: the inverse frequencies of a model's RoPE
// (plain, `linear` and Llama-3 `llama3` scaling, following Hugging Face transformers'
// modeling_rope_utils) and the [maxPositions, rotaryDim] f32 cos/sin table that
// kernels/rotary reads. Computed in f64 and stored in f32 (HF computes angles in f32, which
// at position 32k is off by up to ~2e-3 rad; this table is the exact value rounded once).

export type RopeType = 'default' | 'linear' | 'llama3';

/**
 * RoPE settings. Field names match the loader's RopeConfig, so `{ ...config.rope, rotaryDim }`
 * is a valid RopeParams; `ropeParamsFromHf` builds one from a raw config.json.
 */
export interface RopeParams {
  /** rope_theta (the base). */
  readonly theta: number;
  /** Number of rotated dimensions per head (head_dim × partial_rotary_factor), even. */
  readonly rotaryDim: number;
  /** Scaling type; 'default' (none) when absent. */
  readonly type?: RopeType;
  /** linear/llama3: the context extension factor. */
  readonly factor?: number;
  /** llama3 only. */
  readonly lowFreqFactor?: number;
  readonly highFreqFactor?: number;
  readonly originalMaxPositionEmbeddings?: number;
}

export class RopeConfigError extends Error {
  override readonly name = 'RopeConfigError';
}

type Json = Record<string, unknown>;

/**
 * RopeParams from a Hugging Face config.json object: transformers 5 `rope_parameters`
 * (rope_theta inside) or the older top-level `rope_theta` + `rope_scaling` (`rope_type`, or
 * legacy `type`). rotaryDim = int(head_dim × partial_rotary_factor).
 */
export function ropeParamsFromHf(config: Json): RopeParams {
  const scaling = (config.rope_parameters ?? config.rope_scaling ?? {}) as Json;
  const theta = Number(scaling.rope_theta ?? config.rope_theta ?? 10000);
  const headDim = Number(config.head_dim ?? Number(config.hidden_size) / Number(config.num_attention_heads));
  const partial = Number(config.partial_rotary_factor ?? scaling.partial_rotary_factor ?? 1);
  const type = String(scaling.rope_type ?? scaling.type ?? 'default');
  if (type !== 'default' && type !== 'linear' && type !== 'llama3') {
    throw new RopeConfigError(`rope type '${type}' is not supported (default, linear, llama3)`);
  }
  const num = (key: string): number | undefined => (scaling[key] == null ? undefined : Number(scaling[key]));
  return {
    theta,
    rotaryDim: Math.floor(headDim * partial),
    type,
    factor: num('factor'),
    lowFreqFactor: num('low_freq_factor'),
    highFreqFactor: num('high_freq_factor'),
    originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
  };
}

function need(params: RopeParams, key: keyof RopeParams): number {
  const v = params[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RopeConfigError(`rope type '${params.type}' needs a numeric ${key}, got ${String(v)}`);
  return v;
}

/** invFreq[i] = theta^(-2i/rotaryDim) for i in [0, rotaryDim/2), then the type's scaling. */
export function ropeInvFreq(params: RopeParams): Float64Array {
  const { theta, rotaryDim } = params;
  const type = params.type ?? 'default';
  if (!(theta > 0)) throw new RopeConfigError(`rope theta must be > 0, got ${theta}`);
  if (!Number.isInteger(rotaryDim) || rotaryDim < 2 || rotaryDim % 2 !== 0) {
    throw new RopeConfigError(`rotaryDim must be a positive even integer, got ${rotaryDim}`);
  }
  const half = rotaryDim / 2;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = 1 / theta ** ((2 * i) / rotaryDim);
  switch (type) {
    case 'default':
      return invFreq;
    case 'linear': {
      const factor = need(params, 'factor');
      return invFreq.map((f) => f / factor);
    }
    case 'llama3':
      return llama3Scale(invFreq, params);
    default:
      throw new RopeConfigError(`rope type '${String(type)}' is not supported (default, linear, llama3)`);
  }
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

/** Factor HF multiplies cos and sin by (yarn/longrope only); 1 for every type tknp supports. */
export function attentionScaling(params: RopeParams): number {
  const type = params.type ?? 'default';
  if (type === 'default' || type === 'linear' || type === 'llama3') return 1;
  throw new RopeConfigError(`rope type '${String(type)}' is not supported (default, linear, llama3)`);
}

/**
 * The table kernels/rotary reads: [maxPositions, rotaryDim] f32, row p =
 * cos(p·invFreq[0..rotaryDim/2)) then sin(p·invFreq[0..rotaryDim/2)), times attentionScaling.
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
