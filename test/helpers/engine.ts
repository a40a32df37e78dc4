// Shared helpers of the engine-level tests: the Hugging Face fixtures and their float32
// references (docs/MODELS.md), small LLMEngine configurations that keep lavapipe fast, and a
// step loop that records every request's outputs and per-step logits.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LLMEngine, type RequestOutput } from '../../src/engine/llm_engine.js';
import type { EngineConfig } from '../../src/engine/config.js';
import { bytesPerBlock } from '../../src/model/kv_cache.js';
import { readModelConfig } from '../../src/runner/model_runner.js';
import type { ChatMessage } from '../../src/tokenizer/tokenizer.js';
import { Rng } from '../../src/util/rng.js';

export const FIXTURE_ROOT = 'test/fixtures/models';
export const FIXTURE_NAMES = ['tiny-llama', 'tiny-mistral', 'tiny-qwen2'] as const;
/** Fixtures of issue 16 (architectures, odd shapes, a long context), made on the GPU host: absent until the lead adds them. */
export const COVERAGE_FIXTURE_NAMES = ['tiny-qwen3', 'tiny-phi3', 'tiny-gemma2', 'tiny-gemma3', 'tiny-long'] as const;
/** Issue 17's AWQ and GPTQ fixtures (tools/make_quant_fixtures.py on the GPU host): absent until the lead adds them. */
export const QUANT_FIXTURE_NAMES = ['tiny-awq', 'tiny-gptq'] as const;
export type QuantFixtureName = (typeof QUANT_FIXTURE_NAMES)[number];
export type FixtureName = (typeof FIXTURE_NAMES)[number] | (typeof COVERAGE_FIXTURE_NAMES)[number] | QuantFixtureName;

/** Why fixture `name` cannot be loaded (its fixture.json or logits.bin is missing), or null when it can. */
export function missingFixture(name: FixtureName): string | null {
  const dir = join(FIXTURE_ROOT, name);
  for (const f of ['fixture.json', 'logits.bin', 'config.json', 'model.safetensors']) {
    if (!existsSync(join(dir, f))) return `${join(dir, f)} is absent (made by tools/${(QUANT_FIXTURE_NAMES as readonly string[]).includes(name) ? 'make_quant_fixtures.py' : 'make_fixtures.py'} on the GPU host: docs/MODELS.md)`;
  }
  return null;
}
export const DEFAULT_MODEL_DIR = 'models/default';

export interface TokenizerCase {
  readonly text: string;
  readonly ids: number[];
  readonly idsNoSpecial: number[];
  /** decode(idsNoSpecial, skip_special_tokens=False) */
  readonly decoded: string;
  /** decode(idsNoSpecial, skip_special_tokens=True) (fixtures only) */
  readonly decodedSkipSpecial?: string;
}

export interface FixturePrompt {
  readonly name: string;
  readonly text: string;
  readonly messages?: ChatMessage[];
  readonly addSpecialTokens: boolean;
  readonly ids: number[];
}

export interface FixtureGreedy {
  readonly ids: number[];
  /** top-1 minus top-2 reference logit at each step */
  readonly margins: number[];
  readonly text: string;
  readonly textSkipSpecial: string;
  readonly firstEosIndex: number | null;
}

export interface Fixture {
  readonly name: string;
  readonly dir: string;
  readonly storageDtype: string;
  readonly vocabSize: number;
  readonly prompts: FixturePrompt[];
  readonly greedy: FixtureGreedy[];
  readonly tokenizerCases: TokenizerCase[];
  readonly logitSteps: number;
  /** Reference float32 logits of prompt p at step k ([vocab]): step 0 = last prompt position. */
  refLogits(prompt: number, step: number): Float32Array;
}

/** Loads test/fixtures/models/<name>/fixture.json and logits.bin. */
export function loadFixture(name: FixtureName): Fixture {
  const dir = join(FIXTURE_ROOT, name);
  const json = JSON.parse(readFileSync(join(dir, 'fixture.json'), 'utf8')) as Omit<Fixture, 'dir' | 'refLogits' | 'logitSteps'> & {
    logits: { file: string; shape: [number, number, number]; dtype: string; endian: string };
  };
  const [numPrompts, steps, vocab] = json.logits.shape;
  if (json.logits.dtype !== 'float32' || json.logits.endian !== 'little') throw new Error(`${name}: unexpected logits format`);
  const bytes = readFileSync(join(dir, json.logits.file));
  if (bytes.byteLength !== numPrompts * steps * vocab * 4) throw new Error(`${name}: logits.bin has ${bytes.byteLength} bytes`);
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return {
    ...json,
    dir,
    logitSteps: steps,
    refLogits: (p, k) => all.subarray((p * steps + k) * vocab, (p * steps + k + 1) * vocab),
  };
}

export interface DefaultReferencePrompt {
  readonly name: string;
  readonly text: string;
  readonly messages?: ChatMessage[];
  readonly addSpecialTokens: boolean;
  readonly promptIds: number[];
  readonly lastLogits: { first8: number[]; argmax: number; max: number; logSumExp: number; top5Ids: number[]; top5Values: number[] };
  readonly greedyIds: number[];
  readonly greedyMargins: number[];
  readonly greedyText: string;
  readonly greedyTextUntilEos: string;
  readonly firstEosIndex: number | null;
}

export interface DefaultReference {
  readonly greedyTokens: number;
  readonly prompts: DefaultReferencePrompt[];
  readonly tokenizerCases: TokenizerCase[];
}

export function loadDefaultReference(): DefaultReference {
  return JSON.parse(readFileSync(join(DEFAULT_MODEL_DIR, 'reference.json'), 'utf8')) as DefaultReference;
}

/** kvCacheBytes that gives exactly `blocks` KV blocks (of 16 tokens) for the model in `dir`. */
export function kvBytesForBlocks(dir: string, blocks: number): number {
  const c = readModelConfig(dir);
  return blocks * bytesPerBlock({ numLayers: c.numLayers, numKvHeads: c.numKvHeads, headDim: c.headDim });
}

/**
 * Engine settings for tests: small step and KV budgets keep lavapipe fast (the KV cache is
 * the only large allocation). Defaults: 8 sequences, 64 tokens a step, 256 positions, 64 KV
 * blocks (1024 tokens) whatever the model's shape (`kvBlocks` changes that).
 */
export function testEngine(model: string, overrides: Partial<EngineConfig> & { kvBlocks?: number } = {}): Promise<LLMEngine> {
  const { kvBlocks = 64, ...config } = overrides;
  return LLMEngine.create({
    model,
    quiet: true,
    maxNumSeqs: 8,
    maxNumBatchedTokens: 64,
    maxModelLen: 256,
    kvCacheBytes: kvBytesForBlocks(model, kvBlocks),
    ...config,
  });
}

/** Everything a request produced while `drive` ran it. */
export interface Trace {
  readonly outputs: RequestOutput[];
  /** Logits of each sampled token, in order (only with returnLogits). */
  readonly logits: Float32Array[];
  /** Requests that shared each of this request's steps (itself included). */
  readonly batchSizes: number[];
  final?: RequestOutput;
}

export interface DriveOptions {
  readonly returnLogits?: boolean;
  /** Called before each step with the step's index (from 0): add or abort requests here. */
  readonly beforeStep?: (step: number) => void;
  /** Called after each step with its outputs (e.g. to force tokens). */
  readonly afterStep?: (step: number, outs: RequestOutput[] & { logits?: Map<string, Float32Array> }) => void;
  /** Safety bound on the number of steps. */
  readonly maxSteps?: number;
}

/** Steps the engine until no request is unfinished; returns a trace per request id. */
export async function drive(engine: LLMEngine, opts: DriveOptions = {}): Promise<Map<string, Trace>> {
  const traces = new Map<string, Trace>();
  const trace = (id: string): Trace => {
    let t = traces.get(id);
    if (!t) traces.set(id, (t = { outputs: [], logits: [], batchSizes: [] }));
    return t;
  };
  const maxSteps = opts.maxSteps ?? 1000;
  for (let step = 0; ; step++) {
    opts.beforeStep?.(step);
    if (!engine.hasUnfinishedRequests()) break;
    if (step >= maxSteps) throw new Error(`drive: requests still unfinished after ${maxSteps} steps`);
    const outs = await engine.step({ returnLogits: opts.returnLogits });
    for (const o of outs) {
      const t = trace(o.requestId);
      t.outputs.push(o);
      if (o.newTokenIds.length > 0) t.batchSizes.push(outs.filter((x) => x.newTokenIds.length > 0).length);
      if (o.finished) t.final = o;
    }
    for (const [id, l] of outs.logits ?? []) trace(id).logits.push(l);
    opts.afterStep?.(step, outs);
  }
  return traces;
}

/**
 * Runs every prompt of a fixture twice through `engine` in one batch: `forced-<name>` (fx.logitSteps tokens,
 * teacher-forced: after each step its last sampled token is overwritten with the reference's greedy id, since
 * the engine has no teacher-forcing API) and `greedy-<name>` (free greedy, as many tokens as the reference).
 * Prompts go through the engine's own tokenization (plain text: BOS per the tokenizer; chats: the template).
 */
export async function driveFixture(engine: LLMEngine, fx: Fixture): Promise<Map<string, Trace>> {
  const forced = new Map<string, number[]>(); // request id -> reference greedy ids
  fx.prompts.forEach((p, i) => {
    const prompt = p.messages ? { messages: p.messages } : p.text;
    engine.addRequest(prompt, { temperature: 0, maxTokens: fx.logitSteps, ignoreEos: true }, `forced-${p.name}`);
    engine.addRequest(prompt, { temperature: 0, maxTokens: fx.greedy[i].ids.length, ignoreEos: true }, `greedy-${p.name}`);
    forced.set(`forced-${p.name}`, fx.greedy[i].ids);
  });
  return drive(engine, {
    returnLogits: true,
    afterStep: (_, outs) => {
      for (const o of outs) {
        const ref = forced.get(o.requestId);
        if (!ref || o.finished || o.newTokenIds.length === 0) continue;
        const r = engine.scheduler.getRequest(o.requestId)!;
        r.outputTokenIds[r.outputTokenIds.length - 1] = ref[r.outputTokenIds.length - 1];
      }
    },
  });
}

/**
 * Greedy `steps` tokens after `length` seeded random ids (Rng(7), ids 5..999), prefill in chunks of 8, on a fresh
 * engine of `dir`: the prompt and the trace of request 'r'.
 */
export async function greedyRandomPrompt(dir: string, o: { length: number; steps: number; maxModelLen: number }, overrides: Partial<EngineConfig> & { kvBlocks?: number } = {}) {
  const rng = new Rng(7);
  const prompt = Array.from({ length: o.length }, () => rng.int(5, 1000));
  const engine = await testEngine(dir, { maxNumBatchedTokens: 8, maxModelLen: o.maxModelLen, ...overrides });
  try {
    engine.addRequest({ promptTokenIds: prompt }, { temperature: 0, maxTokens: o.steps, ignoreEos: true }, 'r');
    return { prompt, trace: (await drive(engine, { returnLogits: true })).get('r')! };
  } finally {
    await engine.shutdown();
  }
}

/** Largest |a[i] - b[i]| (Infinity on NaN or a length mismatch). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Index of the largest value (the first one on ties). */
export function argmaxOf(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

/** Number of leading positions where the two id lists agree. */
export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Bitwise equality of two float arrays (distinguishes -0 and NaN payloads). */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}
