// Hand-built scenarios of the scheduler with prefix caching: which tokens a request skips,
// which blocks it shares, what is cached and what is not, under chunking, preemption, eviction
// and token-parallel placement. (The random coverage is in scheduler_random.test.ts.)
import { describe, expect, it } from 'vitest';
import { normalizeSamplingParams, type SamplingParamsInput } from '../../src/engine/sampling_params.js';
import { RequestStatus } from '../../src/scheduler/request.js';
import { prefixCacheSummary } from '../../src/scheduler/prefix_cache_summary.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import type { SchedulerOutput } from '../../src/scheduler/scheduler_output.js';
import type { SchedulerConfigInput } from '../../src/scheduler/config.js';

const params = (p: SamplingParamsInput = {}) => normalizeSamplingParams({ seed: 1, ignoreEos: true, ...p });
const seq = (n: number, base = 1000) => Array.from({ length: n }, (_, i) => base + i);
const make = (cfg: Partial<SchedulerConfigInput> = {}) => new Scheduler({ numBlocksPerRank: [64], maxModelLen: 4096, maxNumBatchedTokens: 512, ...cfg });

function step(s: Scheduler, token = 7): SchedulerOutput {
  const out = s.schedule();
  const sampled = new Map<string, number>();
  for (const q of out.requests) if (q.needsLogits) sampled.set(q.requestId, token);
  s.updateFromOutput(out, sampled);
  return out;
}
const run = (s: Scheduler) => {
  while (s.hasUnfinishedRequests()) step(s);
};
/** [requestId, rank, positionStart, tokens] of each scheduled prefill chunk. */
const prefills = (out: SchedulerOutput) => out.requests.filter((q) => q.isPrefill).map((q) => [q.requestId, q.rank, q.positionStart, q.tokenIds.length]);

describe('Scheduler with prefix caching', () => {
  it('skips the full blocks a request shares with an earlier prompt, and shares their physical blocks', () => {
    const s = make();
    s.addRequest('a', seq(40), params({ maxTokens: 3 }));
    run(s);
    const b = s.addRequest('b', [...seq(32), ...seq(8, 5000)], params({ maxTokens: 3 }));
    const out = step(s);
    expect(prefills(out)).toEqual([['b', 0, 32, 8]]);
    expect(out.requests[0].tokenIds).toEqual(seq(8, 5000));
    expect(out.requests[0].slotMapping[0]).toBe(out.requests[0].blockTable[2] * 16);
    expect(b.numCachedTokens).toBe(32);
    expect(s.prefixCacheStats()).toEqual({ requests: 2, queries: 80, hits: 32 });
    // c runs next to b and shares b's first two blocks (in use now)
    const c = s.addRequest('c', [...seq(32), ...seq(20, 6000)], params({ maxTokens: 2 }));
    const out2 = step(s);
    expect(prefills(out2)).toEqual([['c', 0, 32, 20]]);
    const tb = s.kvManager(0).blockTable('b');
    const tc = s.kvManager(0).blockTable('c');
    expect(tc.slice(0, 2)).toEqual(tb.slice(0, 2));
    expect(tc[2]).not.toBe(tb[2]);
    expect(s.kvManager(0).pool.refCount(tb[0])).toBe(2);
    expect(c.numCachedTokens).toBe(32);
    s.kvManager(0).checkInvariants();
    run(s);
    expect(s.numFreeBlocks(0)).toBe(64);
  });

  it('computes at least one token: a whole cached prompt recomputes its last token (or its last block when that block is full)', () => {
    const s = make();
    s.addRequest('a', seq(33), params({ maxTokens: 1 }));
    s.addRequest('b', seq(48, 3000), params({ maxTokens: 1 }));
    run(s);
    s.addRequest('a2', seq(33), params({ maxTokens: 2 }));
    s.addRequest('b2', seq(48, 3000), params({ maxTokens: 2 }));
    const out = step(s);
    // a2: 32 of 33 tokens cached, computes only position 32; b2: its last block holds the last
    // token, so the hit stops a block earlier (shared blocks are never written) and 16 are computed
    expect(prefills(out)).toEqual([['a2', 0, 32, 1], ['b2', 0, 32, 16]]);
    expect(out.requests.every((q) => q.needsLogits)).toBe(true);
    run(s);
  });

  it('a partial last block is never shared; blocks of decoded tokens are not cached (their KV came from the decode kernel)', () => {
    const s = make();
    const a = s.addRequest('a', seq(20), params({ maxTokens: 20 }));
    run(s);
    expect(a.outputTokenIds.length).toBe(20);
    // the same 20-token prompt: only its first full block hits
    s.addRequest('b', seq(20), params({ maxTokens: 1 }));
    expect(prefills(step(s))).toEqual([['b', 0, 16, 4]]);
    // a's conversation continued (prompt + output + more): block 1 (positions 16-31) holds
    // decoded tokens, so only block 0 hits
    const cont = [...seq(20), ...a.outputTokenIds, ...seq(10, 9000)];
    s.addRequest('c', cont, params({ maxTokens: 1 }));
    expect(prefills(step(s))).toEqual([['c', 0, 16, 34]]);
    // c prefilled all of it: now its first three blocks are cached
    s.addRequest('d', [...cont, 1], params({ maxTokens: 1 }));
    expect(prefills(step(s))).toEqual([['d', 0, 48, 3]]);
  });

  it('requests admitted in one step with the same prefix all compute it (blocks are cached once computed); later ones hit', () => {
    const s = make();
    s.addRequest('a', seq(64), params({ maxTokens: 1 }));
    s.addRequest('b', seq(64), params({ maxTokens: 1 }));
    expect(prefills(step(s))).toEqual([['a', 0, 0, 64], ['b', 0, 0, 64]]);
    s.addRequest('c', seq(64), params({ maxTokens: 1 }));
    expect(prefills(step(s))).toEqual([['c', 0, 48, 16]]);
    // b computed the same blocks as a: a's copies are the cached ones, b's went back empty
    expect(s.kvManager(0).numCachedBlocks).toBe(4);
  });

  it('chunked prefill starts after the hit, and a request admitted mid-way hits what is computed so far', () => {
    const s = make({ maxNumBatchedTokens: 40, longPrefillTokenThreshold: 16 });
    s.addRequest('a', seq(100), params({ maxTokens: 1 }));
    const chunks: (string | number)[][] = [];
    while (s.hasUnfinishedRequests()) chunks.push(...prefills(step(s)));
    expect(chunks.map((c) => [c[2], c[3]])).toEqual([[0, 16], [16, 16], [32, 16], [48, 16], [64, 16], [80, 16], [96, 4]]);
    s.addRequest('c', seq(200), params({ maxTokens: 1 }));
    expect(prefills(step(s))).toEqual([['c', 0, 96, 16]]); // a's 6 full blocks
    s.addRequest('b', [...seq(140), 5], params({ maxTokens: 1 }));
    // c has computed 112 tokens (7 blocks) when b is admitted
    expect(prefills(step(s))).toEqual([['c', 0, 112, 16], ['b', 0, 112, 16]]);
    expect(prefills(step(s))).toEqual([['c', 0, 128, 16], ['b', 0, 128, 13]]);
    run(s);
  });

  it('preempting a request that shares blocks keeps them for the others; it hits them again when readmitted', () => {
    const s = make({ numBlocksPerRank: [6], maxNumBatchedTokens: 100 });
    const a = s.addRequest('a', seq(40), params({ maxTokens: 30 }));
    step(s); // a: 3 blocks, 2 cached
    const b = s.addRequest('b', [...seq(32), ...seq(14, 7000)], params({ maxTokens: 30 }));
    expect(prefills(step(s))).toEqual([['b', 0, 32, 14]]); // b: shares 2, adds 1
    expect(s.numFreeBlocks(0)).toBe(2);
    const shared = s.kvManager(0).blockTable('a').slice(0, 2);
    let out: SchedulerOutput;
    do out = step(s);
    while (out.preemptedRequestIds.length === 0);
    expect(out.preemptedRequestIds).toEqual(['b']); // the most recent request on the rank
    expect(b.status).toBe(RequestStatus.PREEMPTED);
    expect(shared.map((x) => s.kvManager(0).pool.refCount(x))).toEqual([1, 1]); // a still holds them
    s.kvManager(0).checkInvariants();
    while (b.status !== RequestStatus.RUNNING) out = step(s);
    // readmitted after a finished: b recomputes prompt + output after the 2 cached blocks
    expect(a.status).toBe(RequestStatus.FINISHED_LENGTH);
    expect(prefills(out)).toEqual([['b', 0, 32, b.numTokens - 1 - 32]]);
    expect(b.numCachedTokens).toBe(32); // the first admission's hit
    run(s);
    expect(s.numFreeBlocks(0)).toBe(6);
  });

  it('evicts cached blocks only when a block is needed, least recently freed first, and a later request then misses', () => {
    const s = make({ numBlocksPerRank: [8], maxNumBatchedTokens: 200 });
    s.addRequest('a', seq(65), params({ maxTokens: 1 })); // 5 blocks: 4 full (cached), 1 partial
    s.addRequest('x', seq(48, 4000), params({ maxTokens: 1 })); // 3 blocks, all cached
    run(s); // freed a (tail first), then x: cached a3 a2 a1 a0 x2 x1 x0; empty: a's partial block
    expect([s.kvManager(0).numCachedBlocks, s.numFreeBlocks(0), s.kvManager(0).pool.numEvictableBlocks]).toEqual([7, 8, 7]);
    s.addRequest('y', seq(20, 8000), params({ maxTokens: 1 })); // 2 blocks: the empty one, then a3 is evicted
    run(s);
    expect(s.kvManager(0).pool.numEvictions).toBe(1);
    s.addRequest('a2', seq(65), params({ maxTokens: 1 }));
    expect(prefills(step(s))).toEqual([['a2', 0, 48, 17]]); // a0-a2 still cached
    // a prompt that needs every block evicts every cached one
    s.addRequest('z', seq(120, 20000), params({ maxTokens: 1 }));
    run(s);
    s.addRequest('a3', seq(65), params({ maxTokens: 1 }));
    expect(prefills(step(s))).toEqual([['a3', 0, 0, 65]]);
    run(s);
    s.kvManager(0).checkInvariants();
  });

  it('token parallelism: a request goes to the rank holding its prefix unless that rank lacks room', () => {
    const s = make({ numBlocksPerRank: [12, 20] });
    s.addRequest('a', seq(64), params({ maxTokens: 1 }));
    expect(prefills(step(s))).toEqual([['a', 1, 0, 64]]); // most free
    run(s); // rank 1 keeps a's 4 blocks cached (free)
    s.addRequest('fill', seq(150, 30000), params({ maxTokens: 8 }));
    expect(prefills(step(s))).toEqual([['fill', 1, 0, 150]]); // no hit anywhere: the most free rank
    expect([s.numFreeBlocks(0), s.numFreeBlocks(1)]).toEqual([12, 10]);
    // b's prefix is on rank 1: it goes there although rank 0 has more free blocks
    s.addRequest('b', [...seq(64), 1, 2, 3], params({ maxTokens: 4 }));
    expect(prefills(step(s))).toEqual([['b', 1, 64, 3]]);
    expect(s.numFreeBlocks(1)).toBe(5);
    // c's prefix is on rank 1 too, but rank 1 has 5 free blocks for the 7 more it needs: the most
    // free rank (0) takes it, a miss
    s.addRequest('c', [...seq(64), ...seq(100, 40000)], params({ maxTokens: 1 }));
    expect(prefills(step(s))).toEqual([['c', 0, 0, 164]]);
    run(s);
    expect([s.kvManager(0).prefixCacheStats.hits, s.kvManager(1).prefixCacheStats.hits]).toEqual([0, 64]);
    // the status line: hit rate over every admission's lookup, and per rank
    const q1 = s.kvManager(1).prefixCacheStats.queries;
    expect(q1).toBe(64 + 150 + 67);
    expect(prefixCacheSummary(s)).toBe(
      `prefix cache hit rate ${((100 * 64) / (q1 + 164)).toFixed(1)}% (64 of ${q1 + 164} tokens looked up by 4 admissions), ${s.kvManager(0).numCachedBlocks + s.kvManager(1).numCachedBlocks} blocks cached; ` +
        `rank 0: 0.0%, ${s.kvManager(0).numCachedBlocks} cached; rank 1: ${((100 * 64) / q1).toFixed(1)}%, ${s.kvManager(1).numCachedBlocks} cached`,
    );
  });

  it('with prefix caching off nothing is looked up, shared or cached', () => {
    const s = make({ enablePrefixCaching: false });
    s.addRequest('a', seq(64), params({ maxTokens: 1 }));
    run(s);
    const b = s.addRequest('b', seq(64), params({ maxTokens: 1 }));
    expect(prefills(step(s))).toEqual([['b', 0, 0, 64]]);
    expect([b.numCachedTokens, s.kvManager(0).numCachedBlocks]).toEqual([0, 0]);
    expect(s.prefixCacheStats()).toEqual({ requests: 0, queries: 0, hits: 0 });
    expect(prefixCacheSummary(s)).toBe('prefix cache off');
  });
});
