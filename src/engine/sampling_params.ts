// Per-request sampling parameters, like vLLM's SamplingParams, and their validation.
// `normalizeSamplingParams(input, defaults)` turns what a caller (CLI, HTTP API) sent into a
// complete, checked SamplingParams: a field missing from `input` takes the model's generation
// config default (generation_config.json) and then the built-in default. Bad values throw a
// SamplingParamsError naming the field and the value. The result is plain data.
//
// Seeds: every request carries a u32 seed. When neither the request nor the defaults give one,
// the seed is drawn from a seed source: by default a fresh random u32 (as vLLM does); the engine
// passes createSeedSource(0), so the n-th unseeded request of an engine gets deriveSeed(0, n). One that wants its own
// sequence passes createSeedSource(baseSeed). Turning a seed into the same tokens every time is
// the sampler's job, not this file's.

/** A sampling parameter is missing its type or range. `field` and `value` say which and what. */
export class SamplingParamsError extends Error {
  override readonly name = 'SamplingParamsError';
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(`sampling parameter ${field}=${show(value)}: ${reason}`);
  }
}

export interface SamplingParams {
  /** Softmax temperature, >= 0. 0 means greedy (argmax); topK and topP are then ignored. */
  temperature: number;
  /** Keep the k most likely tokens; 0 = off. */
  topK: number;
  /** Keep the smallest set of tokens whose probability reaches topP, in (0, 1]; 1 = off. */
  topP: number;
  /** u32 seed of this request's random stream. */
  seed: number;
  /** At most this many generated tokens (>= 1). */
  maxTokens: number;
  /** Stop tokens and EOS are ignored until this many tokens were generated (0 <= minTokens <= maxTokens). */
  minTokens: number;
  /** Text stop strings (non-empty); the engine matches them on the detokenized output. */
  stop: string[];
  /** Token ids that finish the request (in addition to EOS), after minTokens. */
  stopTokenIds: number[];
  /** Keep generating past EOS (stopTokenIds still apply). */
  ignoreEos: boolean;
  /**
   * Return the log-probability of each generated token and of the `logprobs` most likely tokens
   * at its step (0..20, vLLM's max_logprobs), from the raw logits; null: no logprobs.
   */
  logprobs: number | null;
  /** Subtracted from the logit of every token already generated, in [-2, 2] (OpenAI). */
  presencePenalty: number;
  /** Subtracted from a token's logit once per time it was generated, in [-2, 2] (OpenAI). */
  frequencyPenalty: number;
  /** > 0; tokens of the prompt or output: positive logits divided by it, negative ones multiplied (vLLM); 1 = off. */
  repetitionPenalty: number;
}

/** What a caller may send: every field optional; null counts as absent (JSON APIs send null). */
export interface SamplingParamsInput {
  temperature?: number | null;
  topK?: number | null;
  topP?: number | null;
  seed?: number | null;
  maxTokens?: number | null;
  minTokens?: number | null;
  stop?: string | string[] | null;
  stopTokenIds?: number[] | null;
  ignoreEos?: boolean | null;
  logprobs?: number | null;
  presencePenalty?: number | null;
  frequencyPenalty?: number | null;
  repetitionPenalty?: number | null;
}

/** Defaults a model's generation_config.json may set (see generationConfigDefaults). */
export interface GenerationConfigDefaults {
  temperature?: number;
  topK?: number;
  topP?: number;
  maxTokens?: number;
  repetitionPenalty?: number;
}

export const DEFAULT_MAX_TOKENS = 16;
const U32_MAX = 0xffffffff;
const INPUT_FIELDS = new Set(['temperature', 'topK', 'topP', 'seed', 'maxTokens', 'minTokens', 'stop', 'stopTokenIds', 'ignoreEos', 'logprobs', 'presencePenalty', 'frequencyPenalty', 'repetitionPenalty']);
/** Most top logprobs a request may ask for (vLLM's default max_logprobs). */
export const MAX_LOGPROBS = 20;
const DEFAULT_FIELDS = new Set(['temperature', 'topK', 'topP', 'maxTokens', 'repetitionPenalty']);

/** A u32 hash of (base, index) (splitmix32-style): the seed of the index-th unseeded request. */
export function deriveSeed(base: number, index: number): number {
  let z = (Math.imul(base >>> 0, 0x9e3779b9) + Math.imul((index + 1) >>> 0, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** A counter-based seed source: its n-th call (n = 0, 1, ...) returns deriveSeed(baseSeed, n). */
export function createSeedSource(baseSeed = 0): () => number {
  let n = 0;
  return () => deriveSeed(baseSeed, n++);
}

/** Default seed source: a fresh random u32 (no process-wide state). Engines pass their own. */
function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/**
 * Validates `input`, fills what is missing from `defaults` then from the built-in defaults
 * (temperature 1, topK off, topP 1, maxTokens 16, minTokens 0, no stops, ignoreEos false) and
 * returns complete parameters. topK -1 is accepted as "off" and returned as 0. A missing seed is
 * taken from `seedSource` (see the file comment). Unknown fields throw.
 */
export function normalizeSamplingParams(
  input: SamplingParamsInput = {},
  defaults: GenerationConfigDefaults = {},
  seedSource: () => number = randomSeed,
): SamplingParams {
  checkObject(input, INPUT_FIELDS, '');
  checkObject(defaults, DEFAULT_FIELDS, 'generationConfig.');
  const pick = <K extends keyof GenerationConfigDefaults>(k: K): [string, unknown] =>
    input[k] != null ? [k, input[k]] : [`generationConfig.${k}`, defaults[k]];

  const [tf, t] = pick('temperature');
  const temperature = t == null ? 1 : num(tf, t);
  if (!(temperature >= 0)) throw new SamplingParamsError(tf, t, 'must be >= 0');

  const [kf, k] = pick('topK');
  let topK = k == null ? 0 : int(kf, k);
  if (topK === -1) topK = 0;
  if (topK < 0) throw new SamplingParamsError(kf, k, 'must be 0 or -1 (off) or >= 1');

  const [pf, p] = pick('topP');
  const topP = p == null ? 1 : num(pf, p);
  if (!(topP > 0 && topP <= 1)) throw new SamplingParamsError(pf, p, 'must be in (0, 1]');

  const [mf, m] = pick('maxTokens');
  const maxTokens = m == null ? DEFAULT_MAX_TOKENS : int(mf, m);
  if (maxTokens < 1) throw new SamplingParamsError(mf, m, 'must be >= 1');

  const minTokens = input.minTokens == null ? 0 : int('minTokens', input.minTokens);
  if (minTokens < 0) throw new SamplingParamsError('minTokens', input.minTokens, 'must be >= 0');
  if (minTokens > maxTokens) throw new SamplingParamsError('minTokens', minTokens, `must be <= maxTokens (${maxTokens})`);

  let seed: number;
  if (input.seed != null) {
    seed = int('seed', input.seed);
    if (seed < 0 || seed > U32_MAX) throw new SamplingParamsError('seed', input.seed, 'must be a u32 (0 .. 4294967295)');
  } else {
    seed = seedSource() >>> 0;
  }

  const stopIn = input.stop ?? [];
  const stop = typeof stopIn === 'string' ? [stopIn] : stopIn;
  if (!Array.isArray(stop)) throw new SamplingParamsError('stop', stopIn, 'must be a string or an array of strings');
  stop.forEach((s, i) => {
    if (typeof s !== 'string' || s.length === 0) throw new SamplingParamsError(`stop[${i}]`, s, 'must be a non-empty string');
  });

  const ids = input.stopTokenIds ?? [];
  if (!Array.isArray(ids)) throw new SamplingParamsError('stopTokenIds', ids, 'must be an array of token ids');
  ids.forEach((id, i) => {
    if (int(`stopTokenIds[${i}]`, id) < 0) throw new SamplingParamsError(`stopTokenIds[${i}]`, id, 'must be >= 0');
  });

  const ignoreEos = input.ignoreEos ?? false;
  if (typeof ignoreEos !== 'boolean') throw new SamplingParamsError('ignoreEos', ignoreEos, 'must be a boolean');

  let logprobs: number | null = null;
  if (input.logprobs != null) {
    logprobs = int('logprobs', input.logprobs);
    if (logprobs < 0 || logprobs > MAX_LOGPROBS) throw new SamplingParamsError('logprobs', input.logprobs, `must be in [0, ${MAX_LOGPROBS}]`);
  }
  const penalty = (field: 'presencePenalty' | 'frequencyPenalty') => {
    const v = input[field] == null ? 0 : num(field, input[field]);
    if (v < -2 || v > 2) throw new SamplingParamsError(field, input[field], 'must be in [-2, 2]');
    return v;
  };
  const presencePenalty = penalty('presencePenalty');
  const frequencyPenalty = penalty('frequencyPenalty');
  const [rf, r] = pick('repetitionPenalty');
  const repetitionPenalty = r == null ? 1 : num(rf, r);
  if (!(repetitionPenalty > 0)) throw new SamplingParamsError(rf, r, 'must be > 0');

  return { temperature, topK, topP, seed, maxTokens, minTokens, stop: [...stop], stopTokenIds: [...ids], ignoreEos, logprobs, presencePenalty, frequencyPenalty, repetitionPenalty };
}

/** Whether any of the request's penalties changes logits. */
export function hasPenalties(sp: SamplingParams): boolean {
  return sp.presencePenalty !== 0 || sp.frequencyPenalty !== 0 || sp.repetitionPenalty !== 1;
}

/**
 * Sampling defaults from a parsed generation_config.json (temperature, top_k, top_p,
 * max_new_tokens, repetition_penalty); other keys are ignored. Values are validated by normalizeSamplingParams.
 */
export function generationConfigDefaults(json: Record<string, unknown>): GenerationConfigDefaults {
  const d: GenerationConfigDefaults = {};
  if (json.temperature != null) d.temperature = json.temperature as number;
  // Hugging Face semantics: do_sample false means greedy, whatever temperature says.
  if (json.do_sample === false) d.temperature = 0;
  if (json.top_k != null) d.topK = json.top_k as number;
  if (json.top_p != null) d.topP = json.top_p as number;
  if (json.max_new_tokens != null) d.maxTokens = json.max_new_tokens as number;
  if (json.repetition_penalty != null) d.repetitionPenalty = json.repetition_penalty as number;
  return d;
}

function checkObject(o: object, fields: Set<string>, prefix: string): void {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new SamplingParamsError(prefix || '(params)', o, 'must be an object');
  for (const key of Object.keys(o)) {
    if (!fields.has(key)) throw new SamplingParamsError(prefix + key, (o as Record<string, unknown>)[key], 'unknown field');
  }
}

function num(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new SamplingParamsError(field, v, 'must be a finite number');
  return v;
}

function int(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new SamplingParamsError(field, v, 'must be an integer');
  return v;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v !== 'object' || v === null) return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
