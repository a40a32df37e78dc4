// Hybrid tensor and token parallelism on the committed fixture models, over the socket
// communicator with every rank a separate process on the software adapter:
// - tknp ∈ {2, 4} gives logits and tokens BITWISE identical to tknp = 1 at the same tp, for a
//   workload of mixed prefill chunks and decodes, requests joining mid-generation, a seeded
//   sampled request, an abort, and (tknp = 4) ranks that hold no request at all;
// - tp = 2 matches tp = 1 within the HF-parity tolerance with identical greedy tokens (its
//   all-reduce changes the summation order);
// - under KV pressure, requests are preempted (by recompute) and all still finish.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng.js';
import { testGpu, noGpuReason } from '../helpers/gpu.js';
import { expectBitwiseEqual, maxLogitDiff, runWorkload, type WorkloadRequest, type WorkloadResult } from '../helpers/workload.js';
import { makeTinyModel } from '../helpers/model_dir.js';

const gpu = await testGpu();
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'models');

function workload(vocab: number, seed: number): WorkloadRequest[] {
  const rng = new Rng(seed);
  const prompt = (n: number) => Array.from({ length: n }, () => rng.int(5, vocab - 1));
  return [
    { promptTokenIds: prompt(37), params: { temperature: 0, maxTokens: 6, ignoreEos: true } },
    { promptTokenIds: prompt(5), params: { temperature: 0, maxTokens: 9, ignoreEos: true } },
    { promptTokenIds: prompt(21), params: { temperature: 0.8, topK: 20, topP: 0.9, seed: 1234, maxTokens: 7, ignoreEos: true }, addAtStep: 2 },
    { promptTokenIds: prompt(12), params: { temperature: 0, maxTokens: 20, ignoreEos: true }, abortAfterStep: 4 },
    { promptTokenIds: prompt(1), params: { temperature: 0, maxTokens: 5, ignoreEos: true }, addAtStep: 5 },
  ];
}

const base = { maxNumBatchedTokens: 24, maxNumSeqs: 8, kvCacheBytes: 4 << 20, commTimeoutMs: 60_000 };

describe.skipIf(!gpu)(`token and tensor parallelism ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  for (const name of ['tiny-llama', 'tiny-qwen2']) {
    const model = join(FIXTURES, name);
    const results = new Map<string, WorkloadResult>();
    const run = async (tp: number, tknp: number) => {
      const key = `${tp}x${tknp}`;
      if (!results.has(key)) results.set(key, await runWorkload({ model, ...base, tensorParallelSize: tp, tokenParallelSize: tknp }, workload(1024, 7)));
      return results.get(key)!;
    };

    it(`${name}: tknp 2 and 4 are bitwise identical to tknp 1 (tp 1)`, async () => {
      const one = await run(1, 1);
      expect(one.finishReasons.get('r3')).toBe('abort');
      expect(one.tokens.get('r0')!.length).toBe(6);
      expectBitwiseEqual(one, await run(1, 2), `${name} tp1 tknp2`);
      expectBitwiseEqual(one, await run(1, 4), `${name} tp1 tknp4`);
    });

    it(`${name}: tp 2 matches tp 1 within tolerance, and tp 2 × tknp 2 is bitwise identical to tp 2`, async () => {
      const one = await run(1, 1);
      const tp2 = await run(2, 1);
      // Greedy requests only: a sampled one may legitimately take another path when logits move.
      const greedy = ['r0', 'r1', 'r4'];
      for (const id of greedy) expect(tp2.tokens.get(id)).toEqual(one.tokens.get(id));
      const diff = maxLogitDiff(one, tp2, greedy);
      console.log(`[${name}] max |logit(tp2) - logit(tp1)| = ${diff.toExponential(2)}`);
      expect(diff).toBeLessThan(5e-2);
      expectBitwiseEqual(tp2, await run(2, 2), `${name} tp2 tknp2`);
      // The layout of the 8-GPU example (tp 2 × tknp 4, 8 processes), on one fixture.
      if (name === 'tiny-llama') expectBitwiseEqual(tp2, await run(2, 4), `${name} tp2 tknp4`);
    });
  }

  // The attention options on other ranks (sliding window on layer 0, soft-capped scores, a scale other than
  // 1/sqrt(D)) and Gemma's norms after the row-parallel all-reduce: a tiny Gemma 2.
  it('Gemma 2 (window, soft-cap, scale, sandwich norms): tknp 2 bitwise equal to tknp 1, tp 2 within tolerance', async () => {
    const model = makeTinyModel({ arch: 'Gemma2ForCausalLM', config: { num_attention_heads: 4, num_key_value_heads: 2, sliding_window: 8, attn_logit_softcapping: 3, query_pre_attn_scalar: 48 }, seed: 4 });
    const reqs = workload(1024, 9);
    const one = await runWorkload({ model, ...base }, reqs);
    expectBitwiseEqual(one, await runWorkload({ model, ...base, tokenParallelSize: 2 }, reqs), 'gemma2 tp1 tknp2');
    const tp2 = await runWorkload({ model, ...base, tensorParallelSize: 2 }, reqs);
    for (const id of ['r0', 'r1', 'r4']) expect(tp2.tokens.get(id)).toEqual(one.tokens.get(id));
    expect(maxLogitDiff(one, tp2, ['r0', 'r1', 'r4'])).toBeLessThan(5e-2);
  });

  it('preempts under KV pressure on every rank and still finishes every request with the same greedy tokens', async () => {
    const model = join(FIXTURES, 'tiny-llama');
    const rng = new Rng(11);
    const reqs: WorkloadRequest[] = Array.from({ length: 6 }, () => ({
      promptTokenIds: Array.from({ length: 40 }, () => rng.int(5, 1000)),
      params: { temperature: 0, maxTokens: 12, ignoreEos: true },
    }));
    // tiny-llama: 2 layers × 2 KV heads × 64 dims: 16 KiB per block; 10 blocks per rank.
    const tight = { ...base, maxNumBatchedTokens: 64, kvCacheBytes: 10 * 16 * 1024 };
    const roomy = await runWorkload({ model, ...base, maxNumBatchedTokens: 64 }, reqs);
    for (const tknp of [1, 2]) {
      const r = await runWorkload({ model, ...tight, tokenParallelSize: tknp }, reqs);
      expect(r.numBlocksPerRank).toEqual(Array(tknp).fill(10));
      expect(r.preemptions).toBeGreaterThan(0);
      for (const [id, t] of roomy.tokens) expect(r.tokens.get(id), `tknp ${tknp} ${id}`).toEqual(t);
    }
  });
});
