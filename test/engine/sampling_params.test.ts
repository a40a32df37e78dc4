import { describe, expect, it } from 'vitest';
import {
  createSeedSource,
  DEFAULT_MAX_TOKENS,
  deriveSeed,
  generationConfigDefaults,
  normalizeSamplingParams,
  SamplingParamsError,
  type GenerationConfigDefaults,
  type SamplingParamsInput,
} from '../../src/engine/sampling_params.js';
import { Rng } from '../../src/util/rng.js';

function errorOf(input: SamplingParamsInput, defaults: GenerationConfigDefaults = {}): SamplingParamsError {
  try {
    normalizeSamplingParams(input, defaults, () => 1);
  } catch (e) {
    expect(e).toBeInstanceOf(SamplingParamsError);
    return e as SamplingParamsError;
  }
  throw new Error(`no error for ${JSON.stringify(input)}`);
}

describe('normalizeSamplingParams', () => {
  it('fills built-in defaults and draws the seed from the source', () => {
    const p = normalizeSamplingParams({}, {}, () => 1234);
    expect(p).toEqual({ temperature: 1, topK: 0, topP: 1, seed: 1234, maxTokens: DEFAULT_MAX_TOKENS, minTokens: 0, stop: [], stopTokenIds: [], ignoreEos: false, logprobs: null, presencePenalty: 0, frequencyPenalty: 0, repetitionPenalty: 1 });
    expect(structuredClone(p)).toEqual(p);
  });

  it('takes request values over generation-config defaults over built-ins (null = absent)', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 200; i++) {
      const d: GenerationConfigDefaults = {};
      const input: SamplingParamsInput = {};
      const want = { temperature: 1, topK: 0, topP: 1, maxTokens: DEFAULT_MAX_TOKENS };
      if (rng.next() < 0.5) want.temperature = d.temperature = rng.uniform(0, 2);
      if (rng.next() < 0.5) want.topK = d.topK = rng.int(1, 100);
      if (rng.next() < 0.5) want.topP = d.topP = rng.uniform(0.01, 1);
      if (rng.next() < 0.5) want.maxTokens = d.maxTokens = rng.int(1, 4096);
      if (rng.next() < 0.5) want.temperature = input.temperature = rng.uniform(0, 2);
      else if (rng.next() < 0.3) input.temperature = null;
      if (rng.next() < 0.5) want.topK = input.topK = rng.int(1, 100);
      if (rng.next() < 0.5) want.topP = input.topP = rng.uniform(0.01, 1);
      if (rng.next() < 0.5) want.maxTokens = input.maxTokens = rng.int(1, 4096);
      const seed = rng.int(0, 0xffffffff);
      const p = normalizeSamplingParams({ ...input, seed }, d, () => 7);
      expect(p).toMatchObject({ ...want, seed });
    }
  });

  it('accepts topK -1 as off, a single stop string, stop token ids, ignoreEos and minTokens', () => {
    const p = normalizeSamplingParams({ topK: -1, stop: 'END', stopTokenIds: [0, 5], ignoreEos: true, minTokens: 3, maxTokens: 3, temperature: 0 });
    expect(p).toMatchObject({ topK: 0, stop: ['END'], stopTokenIds: [0, 5], ignoreEos: true, minTokens: 3, maxTokens: 3, temperature: 0 });
    expect(normalizeSamplingParams({ topP: 1, seed: 0xffffffff }).seed).toBe(0xffffffff);
  });

  it.each<[SamplingParamsInput, string, unknown]>([
    [{ temperature: -0.1 }, 'temperature', -0.1],
    [{ temperature: Number.NaN }, 'temperature', Number.NaN],
    [{ temperature: Number.POSITIVE_INFINITY }, 'temperature', Number.POSITIVE_INFINITY],
    [{ topK: -2 }, 'topK', -2],
    [{ topK: 1.5 }, 'topK', 1.5],
    [{ topP: 0 }, 'topP', 0],
    [{ topP: 1.0001 }, 'topP', 1.0001],
    [{ seed: -1 }, 'seed', -1],
    [{ seed: 2 ** 32 }, 'seed', 2 ** 32],
    [{ seed: 3.5 }, 'seed', 3.5],
    [{ maxTokens: 0 }, 'maxTokens', 0],
    [{ minTokens: -1 }, 'minTokens', -1],
    [{ minTokens: 17 }, 'minTokens', 17],
    [{ stop: [''] }, 'stop[0]', ''],
    [{ stop: ['a', 3 as unknown as string] }, 'stop[1]', 3],
    [{ stopTokenIds: [1, -4] }, 'stopTokenIds[1]', -4],
    [{ ignoreEos: 'yes' as unknown as boolean }, 'ignoreEos', 'yes'],
    [{ temprature: 0.5 } as SamplingParamsInput, 'temprature', 0.5],
  ])('%j throws SamplingParamsError naming %s', (input, field, value) => {
    const e = errorOf(input);
    expect(e.field).toBe(field);
    expect(e.value).toEqual(value);
    expect(e.message).toContain(field);
  });

  it('validates generation-config defaults too, naming them', () => {
    const e = errorOf({}, { topP: 2 });
    expect(e.field).toBe('generationConfig.topP');
    expect(errorOf({}, { maxTokens: 0 }).field).toBe('generationConfig.maxTokens');
    // a valid request value hides a bad default
    expect(normalizeSamplingParams({ topP: 0.5 }, { topP: 2 }).topP).toBe(0.5);
  });

  it('reads defaults from generation_config.json keys', () => {
    const d = generationConfigDefaults({ temperature: 0.6, top_p: 0.9, top_k: 20, max_new_tokens: 128, repetition_penalty: 1.05, do_sample: true, eos_token_id: [1, 2] });
    expect(d).toEqual({ temperature: 0.6, topP: 0.9, topK: 20, maxTokens: 128, repetitionPenalty: 1.05 });
    expect(normalizeSamplingParams({}, d)).toMatchObject(d);
    expect(normalizeSamplingParams({ repetitionPenalty: 1 }, d).repetitionPenalty).toBe(1);
    // do_sample false (as the embedded model's generation_config says) means greedy, as in transformers.
    expect(generationConfigDefaults({ temperature: 0.6, do_sample: false }).temperature).toBe(0);
    expect(normalizeSamplingParams({ temperature: 0.9 }, generationConfigDefaults({ do_sample: false })).temperature).toBe(0.9);
  });

  it('derives distinct, reproducible u32 seeds for unseeded requests', () => {
    const a = createSeedSource(42);
    const b = createSeedSource(42);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const s = normalizeSamplingParams({}, {}, a).seed;
      expect(s).toBe(deriveSeed(42, i));
      expect(b()).toBe(s);
      expect(Number.isInteger(s) && s >= 0 && s <= 0xffffffff).toBe(true);
      seen.add(s);
    }
    expect(seen.size).toBe(2000);
    expect(deriveSeed(43, 0)).not.toBe(deriveSeed(42, 0));
    // the process-wide default source also advances
    expect(normalizeSamplingParams().seed).not.toBe(normalizeSamplingParams().seed);
  });
});
