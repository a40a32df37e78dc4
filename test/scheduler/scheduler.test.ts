// Hand-built scenarios for the scheduler's contract; the random coverage is in
// scheduler_random.test.ts.
import { describe, expect, it } from 'vitest';
import { normalizeSamplingParams, type SamplingParamsInput } from '../../src/engine/sampling_params.js';
import { RequestError, RequestStatus } from '../../src/scheduler/request.js';
import { Scheduler, SchedulerStateError } from '../../src/scheduler/scheduler.js';
import { flattenSchedulerOutput, type SchedulerOutput } from '../../src/scheduler/scheduler_output.js';
import type { SchedulerConfigInput } from '../../src/scheduler/config.js';

const params = (p: SamplingParamsInput = {}) => normalizeSamplingParams({ seed: 1, ...p });
const prompt = (n: number, base = 1000) => Array.from({ length: n }, (_, i) => base + i);
const make = (cfg: Partial<SchedulerConfigInput>) => new Scheduler({ numBlocksPerRank: [64], maxModelLen: 4096, ...cfg });

/** One step: schedule, "sample" token(id, step) for each request that needs logits, update. */
function step(s: Scheduler, token: (id: string, stepId: number) => number = (_id, k) => 100 + k): SchedulerOutput {
  const out = s.schedule();
  const sampled = new Map<string, number>();
  for (const q of out.requests) if (q.needsLogits) sampled.set(q.requestId, token(q.requestId, out.stepId));
  s.updateFromOutput(out, sampled);
  return out;
}
const brief = (out: SchedulerOutput) => out.requests.map((q) => [q.requestId, q.isPrefill ? 'prefill' : 'decode', q.positionStart, q.tokenIds.length, q.needsLogits]);

describe('Scheduler', () => {
  it('chunks a long prompt under the token budget, decodes first, and lays out the step for the kernels', () => {
    const s = make({ maxNumBatchedTokens: 8 });
    s.addRequest('a', prompt(3), params({ maxTokens: 100 }));
    s.addRequest('b', prompt(20, 2000), params({ maxTokens: 100 }));
    expect(brief(step(s))).toEqual([['a', 'prefill', 0, 3, true], ['b', 'prefill', 0, 5, false]]);
    const out1 = s.schedule();
    expect(brief(out1)).toEqual([['a', 'decode', 3, 1, true], ['b', 'prefill', 5, 7, false]]);
    expect(out1.requests[0].tokenIds).toEqual([100]); // the token sampled in step 0
    expect(out1.requests[1].tokenIds).toEqual(prompt(20, 2000).slice(5, 12));
    expect(structuredClone(out1)).toEqual(out1);

    const flat = flattenSchedulerOutput(out1, s.maxBlocksPerSeq);
    const [rb] = flat.ranks;
    const [ta, tb] = [out1.requests[0].blockTable, out1.requests[1].blockTable];
    expect(Array.from(flat.inputIds)).toEqual([100, ...prompt(20, 2000).slice(5, 12)]);
    expect(Array.from(flat.positions)).toEqual([3, 5, 6, 7, 8, 9, 10, 11]);
    expect(Array.from(flat.logitsIndices)).toEqual([0]);
    expect(flat.sampledRequestIds).toEqual(['a']);
    expect(rb).toMatchObject({ tokenStart: 0, numTokens: 8, numDecodes: 1, numPrefills: 1, requestIds: ['a', 'b'], maxDecodeSeqLen: 4, maxPrefillQueryLen: 7 });
    expect(Array.from(rb.queryStartLoc)).toEqual([1, 8]);
    expect(Array.from(rb.seqLens)).toEqual([4, 12]);
    expect(Array.from(rb.slotMapping)).toEqual([ta[0] * 16 + 3, ...[5, 6, 7, 8, 9, 10, 11].map((p) => tb[0] * 16 + p)]);
    const want = new Uint32Array(2 * s.maxBlocksPerSeq);
    want[0] = ta[0];
    want[s.maxBlocksPerSeq] = tb[0];
    expect(rb.blockTables).toEqual(want);
    s.updateFromOutput(out1, new Map([['a', 101]]));

    expect(brief(step(s))).toEqual([['a', 'decode', 4, 1, true], ['b', 'prefill', 12, 7, false]]);
    expect(brief(step(s))).toEqual([['a', 'decode', 5, 1, true], ['b', 'prefill', 19, 1, true]]);
    const out4 = step(s);
    expect(brief(out4)).toEqual([['a', 'decode', 6, 1, true], ['b', 'decode', 20, 1, true]]);
    expect(out4.requests[1].blockTable.length).toBe(2); // position 20 is in the second block
  });

  it('caps each prefill chunk at longPrefillTokenThreshold', () => {
    const s = make({ maxNumBatchedTokens: 100, longPrefillTokenThreshold: 6 });
    s.addRequest('a', prompt(20), params());
    s.addRequest('b', prompt(10), params());
    expect(brief(step(s))).toEqual([['a', 'prefill', 0, 6, false], ['b', 'prefill', 0, 6, false]]);
    expect(brief(step(s))).toEqual([['a', 'prefill', 6, 6, false], ['b', 'prefill', 6, 4, true]]);
  });

  it('places a request on the rank with the most free blocks that can hold it; idle ranks count 0', () => {
    const s = make({ numBlocksPerRank: [10, 30, 30, 20], maxNumBatchedTokens: 1000 });
    for (const [id, n] of [['a', 16], ['b', 16], ['c', 16], ['d', 400], ['e', 16]] as const) s.addRequest(id, prompt(n), params());
    const out = step(s);
    expect(out.requests.map((q) => [q.requestId, q.rank])).toEqual([['a', 1], ['c', 1], ['e', 1], ['b', 2], ['d', 2]]);
    expect(out.numTokensPerRank).toEqual([0, 48, 416, 0]);
    expect(out.numSeqsPerRank).toEqual([0, 3, 2, 0]);
    expect(out.numDecodesPerRank).toEqual([0, 0, 0, 0]);
    const flat = flattenSchedulerOutput(out, s.maxBlocksPerSeq);
    expect(flat.ranks.map((r) => [r.tokenStart, r.numTokens])).toEqual([[0, 0], [0, 48], [48, 416], [464, 0]]);
    expect(Array.from(flat.ranks[3].queryStartLoc)).toEqual([0]);
    expect(flat.ranks[3].seqLens.length).toBe(0);
    expect([0, 1, 2, 3].map((r) => s.numFreeBlocks(r))).toEqual([10, 27, 4, 20]);
    // decode rows come before the prefill of a newcomer on the same rank
    s.addRequest('f', prompt(5), params());
    const out2 = step(s);
    expect(out2.requests.map((q) => [q.requestId, q.rank, q.isPrefill])).toEqual([
      ['a', 1, false], ['c', 1, false], ['e', 1, false], ['f', 1, true], ['b', 2, false], ['d', 2, false],
    ]);
  });

  it('preempts the most recent request of a full rank by recompute and readmits it with prompt + output', () => {
    const s = make({ numBlocksPerRank: [4], maxNumBatchedTokens: 100, enablePrefixCaching: false });
    const a = s.addRequest('a', prompt(32), params({ maxTokens: 10 }));
    const b = s.addRequest('b', prompt(32, 3000), params({ maxTokens: 10 }));
    step(s, (id) => (id === 'a' ? 500 : 600)); // both prefilled: 4 blocks used
    const out1 = step(s, () => 501);
    expect(out1.preemptedRequestIds).toEqual(['b']);
    expect(brief(out1)).toEqual([['a', 'decode', 32, 1, true]]);
    expect(b.status).toBe(RequestStatus.PREEMPTED);
    expect([b.numComputedTokens, b.rank, b.numPreemptions, b.outputTokenIds]).toEqual([0, null, 1, [600]]);
    expect(s.numFreeBlocks(0)).toBe(1);
    let out: SchedulerOutput;
    do out = step(s, () => 501);
    while (a.status === RequestStatus.RUNNING);
    expect(out.requests.map((q) => q.requestId)).toEqual(['a']); // b waited for blocks
    expect(a.status).toBe(RequestStatus.FINISHED_LENGTH);
    const back = step(s, () => 601);
    expect(back.finishedRequestIds).toEqual(['a']);
    expect(brief(back)).toEqual([['b', 'prefill', 0, 33, true]]);
    expect(back.requests[0].tokenIds).toEqual([...prompt(32, 3000), 600]);
    while (s.hasUnfinishedRequests()) step(s, () => 601);
    expect(b.outputTokenIds).toEqual([600, ...Array(9).fill(601)]);
    expect(s.numFreeBlocks(0)).toBe(4);
  });

  it('puts a preempted request back at the front of the waiting queue, ahead of requests that waited before it', () => {
    // Without the prefix cache b recomputes from position 0 (with it, b would resume after its cached first
    // block: test/scheduler/prefix_caching.test.ts); the queue order is the same either way.
    const s = make({ numBlocksPerRank: [4], maxNumBatchedTokens: 100, maxNumSeqs: 2, enablePrefixCaching: false });
    const a = s.addRequest('a', prompt(32), params({ maxTokens: 3 }));
    s.addRequest('b', prompt(32, 3000), params({ maxTokens: 10 }));
    const c = s.addRequest('c', prompt(8, 5000), params({ maxTokens: 2 }));
    expect(brief(step(s)).map((r) => r[0])).toEqual(['a', 'b']); // c waits: maxNumSeqs 2
    expect(step(s).preemptedRequestIds).toEqual(['b']); // a's position 32 needs a 3rd block
    // One block is free: c (8 tokens) would fit, but b (33 tokens, 3 blocks) is first in line.
    const out2 = step(s);
    expect(brief(out2)).toEqual([['a', 'decode', 33, 1, true]]);
    expect([c.status, s.numWaiting]).toEqual([RequestStatus.WAITING, 2]);
    expect(a.status).toBe(RequestStatus.FINISHED_LENGTH);
    // a's blocks are back: b is admitted first, then c.
    const out3 = step(s);
    expect(out3.requests.map((q) => [q.requestId, q.isPrefill, q.positionStart, q.tokenIds.length])).toEqual([
      ['b', true, 0, 33],
      ['c', true, 0, 8],
    ]);
  });

  it('finishes with an error a request too large for any rank, also one that outgrows its rank', () => {
    const s = make({ numBlocksPerRank: [2, 3], maxModelLen: 100, maxNumBatchedTokens: 200 });
    const big = s.addRequest('big', prompt(49), params());
    const grow = s.addRequest('grow', prompt(48), params());
    const out0 = step(s);
    expect(big.status).toBe(RequestStatus.FINISHED_ERROR);
    expect(big.errorMessage).toMatch(/4 KV blocks.*largest rank has 3/);
    expect(out0.finishedRequestIds).toEqual(['big']);
    expect(out0.errors.map((e) => e.requestId)).toEqual(['big']);
    expect(out0.requests.map((q) => [q.requestId, q.rank])).toEqual([['grow', 1]]);
    const out1 = step(s); // position 48 needs a 4th block: grow preempts itself ...
    expect(out1.preemptedRequestIds).toEqual(['grow']);
    expect(out1.requests).toEqual([]);
    const out2 = step(s); // ... and cannot come back: 49 tokens fit no rank
    expect(grow.status).toBe(RequestStatus.FINISHED_ERROR);
    expect(grow.outputTokenIds.length).toBe(1);
    expect(out2.errors.map((e) => e.requestId)).toEqual(['grow']);
    expect([s.numFreeBlocks(0), s.numFreeBlocks(1), s.hasUnfinishedRequests()]).toEqual([2, 3, false]);
  });

  it('aborts waiting, mid-prefill and in-flight requests and frees their blocks at once', () => {
    const s = make({ numBlocksPerRank: [8], maxNumBatchedTokens: 8, maxNumSeqs: 2 });
    const w = s.addRequest('w', prompt(4), params());
    const p = s.addRequest('p', prompt(40), params());
    const q = s.addRequest('q', prompt(4), params());
    const r = s.addRequest('r', prompt(4), params());
    step(s); // w prefilled, p got 4 tokens; q and r wait (maxNumSeqs 2)
    expect(s.numRunning).toBe(2);
    expect(s.numFreeBlocks(0)).toBe(6);
    expect(s.abortRequest('p')).toBe(true); // mid-prefill
    expect(s.numFreeBlocks(0)).toBe(7);
    expect(s.abortRequest('r')).toBe(true); // waiting
    expect([p.status, r.status]).toEqual([RequestStatus.FINISHED_ABORTED, RequestStatus.FINISHED_ABORTED]);
    expect(s.abortRequest('r')).toBe(false);
    expect(s.abortRequest('nobody')).toBe(false);
    const out = s.schedule();
    expect(out.abortedRequestIds).toEqual(['p', 'r']);
    expect(brief(out)).toEqual([['w', 'decode', 4, 1, true], ['q', 'prefill', 0, 4, true]]);
    expect(s.abortRequest('w')).toBe(true); // while its step runs
    expect(s.numFreeBlocks(0)).toBe(7);
    expect(s.updateFromOutput(out, new Map([['w', 5], ['q', 6]]))).toEqual([]);
    expect(w.outputTokenIds).toEqual([100]);
    expect(q.outputTokenIds).toEqual([6]);
    expect(s.schedule().abortedRequestIds).toEqual(['w']);
  });

  it('stops on EOS after minTokens, on stop token ids, at maxTokens and at maxModelLen; the engine can finish too', () => {
    const s = make({ maxModelLen: 12 });
    const eos = s.addRequest('eos', prompt(3), params(), [7]);
    const min = s.addRequest('min', prompt(3), params({ minTokens: 3 }), [7]);
    const ign = s.addRequest('ign', prompt(3), params({ ignoreEos: true, maxTokens: 4 }), [7]);
    const stopId = s.addRequest('stopId', prompt(3), params({ stopTokenIds: [9], minTokens: 1 }), [7]);
    const len = s.addRequest('len', prompt(10), params({ ignoreEos: true }), [7]);
    const full = s.addRequest('full', prompt(12), params({ ignoreEos: true }), [7]);
    const both = s.addRequest('both', prompt(3), params({ maxTokens: 1 }), [7]);
    const eng = s.addRequest('eng', prompt(3), params({ ignoreEos: true }), [7]);
    const seen: string[][] = [];
    for (let k = 0; s.hasUnfinishedRequests(); k++) {
      const out = step(s, (id) => (id === 'stopId' ? 9 : 7));
      seen.push(out.finishedRequestIds);
      if (k === 1) expect(s.finishRequest('eng', RequestStatus.FINISHED_STOPPED)).toBe(true);
    }
    expect([eos.status, eos.stopReason, eos.outputTokenIds]).toEqual([RequestStatus.FINISHED_STOPPED, 7, [7]]);
    expect([min.status, min.outputTokenIds.length]).toEqual([RequestStatus.FINISHED_STOPPED, 3]);
    expect([ign.status, ign.outputTokenIds.length, ign.stopReason]).toEqual([RequestStatus.FINISHED_LENGTH, 4, null]);
    expect([stopId.status, stopId.stopReason]).toEqual([RequestStatus.FINISHED_STOPPED, 9]);
    expect([len.status, len.numTokens]).toEqual([RequestStatus.FINISHED_LENGTH, 12]);
    expect([full.status, full.outputTokenIds.length]).toEqual([RequestStatus.FINISHED_LENGTH, 1]);
    expect([both.status, both.stopReason]).toEqual([RequestStatus.FINISHED_STOPPED, 7]); // a stop token wins over the length limit
    expect([eng.status, eng.outputTokenIds.length]).toEqual([RequestStatus.FINISHED_STOPPED, 2]);
    expect(s.schedule().finishedRequestIds.length + seen.flat().length).toBe(8);
    expect(s.numFreeBlocks(0)).toBe(64);
  });

  it('admits at most maxNumSeqs requests', () => {
    const s = make({ maxNumSeqs: 2 });
    for (let i = 0; i < 5; i++) s.addRequest(`r${i}`, prompt(3), params());
    expect(step(s).requests.map((q) => q.requestId)).toEqual(['r0', 'r1']);
    expect([s.numRunning, s.numWaiting]).toEqual([2, 3]);
  });

  it('rejects misuse with named errors and keeps its state', () => {
    const s = make({});
    expect(() => s.addRequest('x', [], params())).toThrow(RequestError);
    expect(() => s.addRequest('x', [1, -2], params())).toThrow(RequestError);
    expect(() => s.addRequest('x', prompt(4097), params())).toThrow(RequestError);
    s.addRequest('a', prompt(3), params());
    expect(() => s.addRequest('a', prompt(3), params())).toThrow(RequestError);
    expect(() => s.finishRequest('a', RequestStatus.RUNNING as never)).toThrow(SchedulerStateError);
    const out = s.schedule();
    expect(() => s.schedule()).toThrow(SchedulerStateError);
    expect(() => s.updateFromOutput(out, new Map())).toThrow(SchedulerStateError);
    expect(() => s.updateFromOutput(out, new Map([['a', 1], ['zz', 2]]))).toThrow(SchedulerStateError);
    expect(() => s.updateFromOutput({ ...out, stepId: 7 }, new Map([['a', 1]]))).toThrow(SchedulerStateError);
    expect(s.getRequest('a')!.numComputedTokens).toBe(0);
    s.updateFromOutput(out, new Map([['a', 1]]));
    expect(s.getRequest('a')!.outputTokenIds).toEqual([1]);
    expect(() => s.updateFromOutput(out, new Map([['a', 1]]))).toThrow(SchedulerStateError);
  });
});
