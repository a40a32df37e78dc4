// Prefix caching with token parallelism: each rank has its own cache and a request goes to the
// rank holding its prefix (src/scheduler/placement.ts). With every rank a separate process on the
// software adapter (sockets), tknp = 2 with the cache gives logits and tokens BITWISE identical to
// tknp = 1 with and without the cache, for a workload of two system prompts whose follow-ups
// arrive while the first requests decode, an exact repeat of a prompt, a sampled request on a
// hit and a request that shares nothing; and the hits land on the rank that holds each prefix.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { expectBitwiseEqual, runWorkload, type WorkloadRequest } from '../helpers/workload.js';

const gpu = await testGpu();
const model = join(import.meta.dirname, '..', 'fixtures', 'models', 'tiny-llama');

describe.skipIf(!gpu)(`prefix caching across token-parallel ranks ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it('tknp 2 with the cache is bitwise tknp 1 with and without it; requests follow their prefix to its rank', async () => {
    const rng = new Rng(23);
    const tokens = (n: number) => Array.from({ length: n }, () => rng.int(5, 1000));
    const sysA = tokens(48);
    const sysB = tokens(40);
    const greedy = (maxTokens: number) => ({ temperature: 0, maxTokens, ignoreEos: true });
    const r0 = [...sysA, ...tokens(5)];
    const reqs: WorkloadRequest[] = [
      { promptTokenIds: r0, params: greedy(8) }, // rank 0 (ties go to the lower rank)
      { promptTokenIds: [...sysB, ...tokens(7)], params: greedy(8) }, // rank 1 (more free blocks)
      { promptTokenIds: tokens(30), params: greedy(6), addAtStep: 2 },
      { promptTokenIds: [...sysB, ...tokens(12)], params: greedy(6), addAtStep: 3 }, // hits sysB on rank 1
      { promptTokenIds: [...sysA, ...tokens(9)], params: greedy(6), addAtStep: 4 }, // hits sysA on rank 0
      { promptTokenIds: [...sysB, ...tokens(20)], params: { temperature: 0.8, topK: 40, seed: 9, maxTokens: 6, ignoreEos: true }, addAtStep: 5 },
      { promptTokenIds: r0, params: greedy(5), addAtStep: 6 }, // all but the last token cached on rank 0
    ];
    const base = { model, maxNumBatchedTokens: 64, maxNumSeqs: 8, kvCacheBytes: 4 << 20, commTimeoutMs: 60_000 };
    const off = await runWorkload({ ...base, enablePrefixCaching: false }, reqs);
    const on1 = await runWorkload(base, reqs);
    const on2 = await runWorkload({ ...base, tokenParallelSize: 2 }, reqs);
    const cached = (r: typeof on2) => reqs.map((_, i) => r.cachedTokens.get(`r${i}`));
    expect(cached(off)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(cached(on1)).toEqual([0, 0, 0, 32, 48, 32, 48]);
    expect(cached(on2)).toEqual([0, 0, 0, 32, 48, 32, 48]);
    expect(on2.prefixCacheHitsPerRank).toEqual([48 + 48, 32 + 32]);
    expectBitwiseEqual(off, on1, 'cache on, tknp 1');
    expectBitwiseEqual(off, on2, 'cache on, tknp 2');
  });
});
