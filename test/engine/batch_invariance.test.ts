// Batch invariance of the whole engine (docs/KERNELS.md): a request's greedy tokens and the
// logits of every one of its steps are bitwise the same whatever else runs with it. One target
// request is run alone, then in batches of 3-5 other requests of different prompt lengths and
// output lengths, with its prompt chunked differently (maxNumBatchedTokens 64 vs 16), with
// requests joining while it decodes, with it joining requests already decoding, and next to a
// sampled (temperature > 0) request, which moves the step's token selection from argmax to the
// sampling kernel. Every run must reproduce the alone run's tokens and Float32Array logits bit
// for bit. (Preemption by recompute is not batch-invariant by design, so KV is plentiful here.)
//
// Model: tiny-qwen2 (q/k/v biases, tied embeddings); its 2 layers are cheap on lavapipe.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LLMEngine } from '../../src/engine/llm_engine.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { drive, loadFixture, sameBits, testEngine, type Trace } from '../helpers/engine.js';

const gpu = await testGpu();

const TARGET = 'target';
const TARGET_TOKENS = 10;

interface Other {
  readonly len: number;
  readonly maxTokens: number;
  /** Step (of drive) before which it is added; 0 = with the target. */
  readonly at: number;
  readonly temperature?: number;
}

describe.skipIf(!gpu)(`batch invariance (tiny-qwen2) ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const fx = loadFixture('tiny-qwen2');
  const rng = new Rng(20261125);
  const randomPrompt = (n: number) => Array.from({ length: n }, () => rng.int(3, fx.vocabSize - 1));
  const target = randomPrompt(37); // chunks: 37 | 16+16+5 | others' budget decides
  const prompts = new Map<number, number[]>();
  const promptOf = (len: number) => prompts.get(len) ?? (prompts.set(len, randomPrompt(len)), prompts.get(len)!);

  let wide: LLMEngine; // maxNumBatchedTokens 64: the target's prompt is one chunk when alone
  let narrow: LLMEngine; // maxNumBatchedTokens 16: prefill in chunks of at most 16
  let alone: Trace;

  /** Runs the target (added before step `targetAt`) with `others`; returns the target's trace. */
  async function run(engine: LLMEngine, others: readonly Other[], targetAt = 0): Promise<Trace> {
    const preemptions = engine.stats.preemptions;
    const traces = await drive(engine, {
      returnLogits: true,
      beforeStep: (step) => {
        others.forEach((o, i) => {
          if (o.at === step) engine.addRequest({ promptTokenIds: promptOf(o.len) }, { temperature: o.temperature ?? 0, seed: 7 + i, maxTokens: o.maxTokens, ignoreEos: true }, `other-${i}`);
        });
        if (step === targetAt) engine.addRequest({ promptTokenIds: target }, { temperature: 0, maxTokens: TARGET_TOKENS, ignoreEos: true }, TARGET);
      },
    });
    for (const [id, t] of traces) expect(t.final?.finishReason, id).toBe('length');
    expect(engine.stats.preemptions, 'a preemption (recompute) is not batch-invariant by design: give the test more KV').toBe(preemptions);
    return traces.get(TARGET)!;
  }

  function expectSameAsAlone(t: Trace): void {
    expect(t.final!.tokenIds).toEqual(alone.final!.tokenIds);
    expect(t.logits.length).toBe(TARGET_TOKENS);
    t.logits.forEach((l, k) => expect(sameBits(l, alone.logits[k]), `logits of step ${k} differ from the alone run`).toBe(true));
  }

  beforeAll(async () => {
    wide = await testEngine(fx.dir, { maxNumBatchedTokens: 64, submitEveryLayers: 0 });
    narrow = await testEngine(fx.dir, { maxNumBatchedTokens: 16 });
    alone = await run(wide, []);
  });

  afterAll(async () => {
    await wide?.shutdown();
    await narrow?.shutdown();
  });

  it('alone: one prefill step, then one decode step per token', () => {
    expect(alone.final!.tokenIds.length).toBe(TARGET_TOKENS);
    expect(alone.batchSizes.every((n) => n === 1)).toBe(true);
  });

  it('alone with the prompt chunked 16+16+5', async () => {
    expectSameAsAlone(await run(narrow, []));
  });

  it('in a batch of 5 others of different lengths, all added together', async () => {
    const t = await run(wide, [
      { len: 3, maxTokens: 4, at: 0 },
      { len: 9, maxTokens: 12, at: 0 },
      { len: 20, maxTokens: 6, at: 0 },
      { len: 50, maxTokens: 8, at: 0 },
      { len: 1, maxTokens: 14, at: 0 },
    ]);
    expect(Math.max(...t.batchSizes)).toBeGreaterThan(3);
    expectSameAsAlone(t);
  });

  it('in a batch of 4 with small step budget (prefill chunks shared with others and decodes)', async () => {
    const t = await run(narrow, [
      { len: 11, maxTokens: 9, at: 0 },
      { len: 23, maxTokens: 5, at: 0 },
      { len: 5, maxTokens: 12, at: 0 },
      { len: 30, maxTokens: 7, at: 2 },
    ]);
    expect(Math.max(...t.batchSizes)).toBeGreaterThan(2);
    expectSameAsAlone(t);
  });

  it('others join while the target decodes (mixed decode + prefill steps)', async () => {
    const t = await run(wide, [
      { len: 13, maxTokens: 6, at: 3 },
      { len: 40, maxTokens: 3, at: 3 },
      { len: 7, maxTokens: 5, at: 5 },
      { len: 26, maxTokens: 4, at: 7 },
    ]);
    expectSameAsAlone(t);
  });

  it('with the step submitted after every layer (submitEveryLayers 1; the alone run submits once per step), in a batch', async () => {
    const split = await testEngine(fx.dir, { maxNumBatchedTokens: 64, submitEveryLayers: 1 });
    try {
      expectSameAsAlone(await run(split, [{ len: 20, maxTokens: 6, at: 0 }]));
    } finally {
      await split.shutdown();
    }
  });

  it('the target joins requests already decoding, next to a sampled request (temperature 0.8)', async () => {
    const t = await run(
      narrow,
      [
        { len: 17, maxTokens: 14, at: 0 },
        { len: 4, maxTokens: 16, at: 0, temperature: 0.8 },
        { len: 33, maxTokens: 10, at: 1 },
      ],
      4,
    );
    expectSameAsAlone(t);
  });
});
