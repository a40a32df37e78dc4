// Prefix caching gives exactly the bits of recomputation (docs/ARCHITECTURE.md "Prefix
// caching"): every request's tokens and the Float32Array logits of every one of its steps are
// bitwise those of an engine with the cache off, for hits of whole blocks, a hit that covers the
// whole prompt but its last token, a partial-block tail, a prompt whose last block is full (the
// hit stops a block earlier), a conversation continued from an earlier request's prompt and
// output (only the blocks computed by prefill are cached), requests that share a prefix inside
// one step, and a sampled request. Under memory pressure: cached blocks evicted as new requests
// need them (least recently freed first) and a later request hitting what is left; a preempted
// request that held shared blocks (the others keep them; it hits them again when readmitted, and
// its logits are those of recomputing its prompt and output from scratch).
// Token parallelism (tknp = 2, one cache per rank) is in test/parallel/prefix_caching_tknp.test.ts.
//
// Model: tiny-llama (2 layers, so the k/v of layer 1 depend on layer 0's attention: a block whose
// layer-1 k/v came from the decode kernel would show).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LLMEngine } from '../../src/engine/llm_engine.js';
import type { SamplingParamsInput } from '../../src/engine/sampling_params.js';
import { RequestStatus } from '../../src/scheduler/request.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { drive, loadFixture, sameBits, testEngine, type Trace } from '../helpers/engine.js';

const gpu = await testGpu();
const greedy = (maxTokens: number): SamplingParamsInput => ({ temperature: 0, maxTokens, ignoreEos: true });

/** Runs one request alone to the end. */
async function runOne(engine: LLMEngine, prompt: readonly number[], params: SamplingParamsInput, id: string): Promise<Trace> {
  const traces = await drive(engine, { returnLogits: true, beforeStep: (s) => s === 0 && void engine.addRequest({ promptTokenIds: prompt }, params, id) });
  return traces.get(id)!;
}

function expectSameBits(got: Trace, want: Trace, what: string, from = 0): void {
  expect(got.final!.tokenIds.slice(from), `${what}: tokens`).toEqual(want.final!.tokenIds);
  expect(got.logits.length - from, `${what}: logits rows`).toBe(want.logits.length);
  want.logits.forEach((l, k) => expect(sameBits(got.logits[from + k], l), `${what}: logits of step ${from + k} differ`).toBe(true));
}

describe.skipIf(!gpu)(`prefix caching gives the bits of recomputation (tiny-llama) ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const fx = loadFixture('tiny-llama');
  const rng = new Rng(19);
  const tokens = (n: number) => Array.from({ length: n }, () => rng.int(3, fx.vocabSize - 1));
  let on: LLMEngine;
  let off: LLMEngine;

  beforeAll(async () => {
    on = await testEngine(fx.dir);
    off = await testEngine(fx.dir, { enablePrefixCaching: false });
  });

  afterAll(async () => {
    await on?.shutdown();
    await off?.shutdown();
  });

  it('hits of whole blocks, of all but the last token, with a partial tail, and on a continued conversation give the bits of the cache off', async () => {
    const system = tokens(40);
    const p0 = [...system, ...tokens(9)]; // 49 tokens: 3 full blocks + 1
    const cases: [string, () => number[], SamplingParamsInput, number][] = [];
    let out0: number[] = [];
    cases.push(['p0: a miss', () => p0, greedy(20), 0]); // its decode steps fill block 3 (positions 49-63)
    cases.push(['p0 again: all but the last token cached', () => p0, greedy(20), 48]);
    cases.push(['the system prompt and a partial tail', () => [...system, ...tokens(23)], greedy(5), 32]);
    cases.push(['p0 cut to 48 tokens: its last full block is recomputed', () => p0.slice(0, 48), greedy(5), 32]);
    const cont = () => [...p0, ...out0, ...tokens(7)]; // 76 tokens
    let p4: number[] = [];
    cases.push(['the conversation continued: only prefill blocks hit, not the decoded ones', () => (p4 = cont()), greedy(6), 48]);
    cases.push(['the continued conversation again: its own prefill cached the old output', () => [...p4, 7], greedy(4), 48 + 16]);
    cases.push(['a sampled request on a hit', () => [...system, ...tokens(30)], { temperature: 0.8, topK: 50, seed: 3, maxTokens: 8, ignoreEos: true }, 32]);
    for (const [what, prompt, params, cached] of cases) {
      const p = prompt();
      const got = await runOne(on, p, params, 'on');
      const want = await runOne(off, p, params, 'off');
      expect(got.final!.numCachedTokens, what).toBe(cached);
      expect(want.final!.numCachedTokens).toBe(0);
      expectSameBits(got, want, what);
      if (out0.length === 0) out0 = got.final!.tokenIds.slice();
    }
  });

  it('requests sharing a prefix in one step (no hit between them) and next to a hit give the bits of the cache off', async () => {
    const prefix = tokens(32); // both first prompts start in step 0 (35 + 29 of 52 tokens of the 64-token budget)
    const prompts = [[...prefix, ...tokens(3)], [...prefix, ...tokens(20)], [...prefix, 5]];
    const run = async (engine: LLMEngine) =>
      drive(engine, {
        returnLogits: true,
        beforeStep: (s) => {
          if (s === 0) prompts.slice(0, 2).forEach((p, i) => engine.addRequest({ promptTokenIds: p }, greedy(6), `s${i}`));
          if (s === 3) engine.addRequest({ promptTokenIds: prompts[2] }, greedy(6), 's2');
        },
      });
    const got = await run(on);
    const want = await run(off);
    expect([0, 1, 2].map((i) => got.get(`s${i}`)!.final!.numCachedTokens)).toEqual([0, 0, 32]);
    for (const id of ['s0', 's1', 's2']) expectSameBits(got.get(id)!, want.get(id)!, id);
  });

  it('under memory pressure: evicts the least recently freed cached blocks, and a partial hit on what is left gives the bits of the cache off', async () => {
    const tight = await testEngine(fx.dir, { kvBlocks: 8 });
    try {
      const shared = tokens(48);
      // e0 leaves 3 cached blocks; e1 needs 7 of the 8: the 5 empty ones, then evicts 2 cached
      // (e0's last blocks first); e2 then finds only e0's first block.
      const seqs: [number[], number][] = [
        [[...shared, ...tokens(5)], 0],
        [tokens(100), 0],
        [[...shared, ...tokens(7)], 16],
        [[...shared, ...tokens(7)].slice(0, 40), 32], // e2's second block is cached again
      ];
      for (const [i, [p, cached]] of seqs.entries()) {
        const got = await runOne(tight, p, greedy(3), `e${i}`);
        const want = await runOne(off, p, greedy(3), `e${i}`);
        expect(got.final!.numCachedTokens, `e${i}`).toBe(cached);
        expectSameBits(got, want, `e${i}`);
      }
      expect(tight.scheduler.kvManager(0).pool.numEvictions).toBeGreaterThanOrEqual(2);
      tight.scheduler.kvManager(0).checkInvariants();
    } finally {
      await tight.shutdown();
    }
  });

  it('a preempted request that shares blocks: the holder keeps them, it hits them on readmission, and its logits are those of recomputing from scratch', async () => {
    const tight = await testEngine(fx.dir, { kvBlocks: 6 });
    try {
      const system = tokens(32);
      const pa = [...system, ...tokens(8)];
      const pb = [...system, ...tokens(8)];
      let preemptedAt = -1;
      const traces = await drive(tight, {
        returnLogits: true,
        beforeStep: (s) => {
          if (s === 0) tight.addRequest({ promptTokenIds: pa }, greedy(40), 'a');
          if (s === 1) tight.addRequest({ promptTokenIds: pb }, greedy(30), 'b');
        },
        afterStep: () => {
          const b = tight.scheduler.getRequest('b');
          if (preemptedAt < 0 && b?.status === RequestStatus.PREEMPTED) preemptedAt = b.numOutputTokens;
        },
      });
      expect(tight.stats.preemptions).toBe(1);
      expect(preemptedAt).toBeGreaterThan(0);
      const a = traces.get('a')!;
      const b = traces.get('b')!;
      expect([a.final!.numCachedTokens, b.final!.numCachedTokens]).toEqual([0, 32]);
      // b looked the cache up twice (admission and readmission) and hit the system prompt both times
      expect(tight.scheduler.prefixCacheStats()).toMatchObject({ requests: 3, hits: 64 });
      // a never noticed: its logits are those of running alone
      expectSameBits(a, await runOne(off, pa, greedy(40), 'a'), 'a');
      // b before the preemption: alone; after: its prompt and output so far recomputed by prefill
      const alone = await runOne(off, pb, greedy(preemptedAt), 'b');
      expectSameBits({ ...b, final: { ...b.final!, tokenIds: b.final!.tokenIds.slice(0, preemptedAt) }, logits: b.logits.slice(0, preemptedAt) }, alone, 'b before');
      const redo = await runOne(off, [...pb, ...b.final!.tokenIds.slice(0, preemptedAt)], greedy(30 - preemptedAt), 'b-redo');
      expectSameBits(b, redo, 'b after', preemptedAt);
      tight.scheduler.kvManager(0).checkInvariants();
    } finally {
      await tight.shutdown();
    }
  });
});
