// Drives the Scheduler with a fake runner over thousands of random requests. The runner keeps a
// simulated paged KV cache per rank, written through the flattened slot mappings and read back
// through the flattened block tables, and "samples" a token from a hash of the context it read:
// so each request's output must equal a reference generation computed without any batching,
// chunking, preemption or token parallelism, and every step's layout is checked against the
// contract (budgets, token order, positions, block tables, slots, placement, decode priority).
import { describe, expect, it } from 'vitest';
import { normalizeSamplingParams, type SamplingParams } from '../../src/engine/sampling_params.js';
import { Request, RequestStatus, type RequestStatus as Status } from '../../src/scheduler/request.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { flattenSchedulerOutput, type SchedulerOutput } from '../../src/scheduler/scheduler_output.js';
import type { SchedulerConfigInput } from '../../src/scheduler/config.js';
import { Rng } from '../../src/util/rng.js';

const BS = 16;
const EOS = [2, 3];
const VOCAB = 5000;

function ok(cond: boolean, msg: string): void {
  if (!cond) throw new Error(msg);
}

const mix = (h: number, t: number): number => Math.imul(h ^ t, 0x01000193) >>> 0;
const H0 = 0x811c9dc5;
/** The fake model: the next token is a function of the whole context's hash. */
function sampleFromHash(h: number): number {
  const x = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
  if (x % 23 === 0) return EOS[(x >>> 8) & 1];
  return 10 + ((x >>> 5) % (VOCAB - 10));
}
/** Simulated engine-side stop string: fires on these tokens for requests that have one. */
const stopStringHit = (t: number): boolean => t % 41 === 0;

interface Spec {
  id: string;
  prompt: number[];
  params: SamplingParams;
  stopString: boolean;
}

function reference(spec: Spec, maxModelLen: number): { out: number[]; status: Status } {
  const sp = spec.params;
  let h = H0;
  for (const t of spec.prompt) h = mix(h, t);
  const out: number[] = [];
  for (;;) {
    const t = sampleFromHash(h);
    out.push(t);
    h = mix(h, t);
    if (out.length >= sp.minTokens && ((!sp.ignoreEos && EOS.includes(t)) || sp.stopTokenIds.includes(t))) return { out, status: RequestStatus.FINISHED_STOPPED };
    if (out.length >= sp.maxTokens || spec.prompt.length + out.length >= maxModelLen) return { out, status: RequestStatus.FINISHED_LENGTH };
    if (spec.stopString && stopStringHit(t)) return { out, status: RequestStatus.FINISHED_STOPPED };
  }
}

/** Records every placement decision and checks it against the rule, computed independently. */
class CheckedScheduler extends Scheduler {
  readonly placed = new Map<string, number>();
  protected override chooseRank(r: Request): number | null {
    const need = Math.ceil(r.numTokens / BS);
    let want: number | null = null;
    let bestFree = -1;
    this.kvManagers.forEach((kv, rank) => {
      if (kv.numBlocks >= need && kv.numFreeBlocks > bestFree) {
        bestFree = kv.numFreeBlocks;
        want = rank;
      }
    });
    const got = super.chooseRank(r);
    ok(got === want, `placement of ${r.requestId}: rank ${got}, rule says ${want}`);
    if (got !== null) this.placed.set(r.requestId, got);
    return got;
  }
}

interface Shadow {
  spec: Spec;
  tokens: number[]; // prompt + output as the runner saw them
  computed: number; // tokens in the cache
  prefillTarget: number; // tokens to compute before decoding
  life: number; // bumps on each preemption
  rank: number | null;
  admitSeq: number; // admission order (set when the request is (re)admitted)
}

function runScenario(seed: number, cfg: SchedulerConfigInput, numRequests: number) {
  const rng = new Rng(seed);
  const sched = new CheckedScheduler(cfg);
  const tp = cfg.numBlocksPerRank.length;
  const maxRank = Math.max(...cfg.numBlocksPerRank);
  const maxModelLen = cfg.maxModelLen;
  const budget = cfg.maxNumBatchedTokens!;
  const threshold = cfg.longPrefillTokenThreshold ?? 0;
  // simulated caches: token, position, owner request index, owner life
  const cache = cfg.numBlocksPerRank.map((n) => ({ tok: new Int32Array(n * BS), pos: new Int32Array(n * BS), owner: new Int32Array(n * BS).fill(-1), life: new Int32Array(n * BS) }));
  const shadows = new Map<string, Shadow>();
  const index = new Map<string, number>();
  const reqs: Request[] = [];
  const specs: Spec[] = [];
  const reported = new Map<string, number>(); // finished/aborted reports per id
  let admissions = 0;
  const stats = { steps: 0, preemptions: 0, preemptedWithOutput: 0, aborts: 0, errors: 0, chunked: 0, maxRankOfOne: 0 };

  const addRandom = () => {
    const i = specs.length;
    const r = rng.next();
    const len = r < 0.02 ? rng.int(maxRank * BS + 1, maxModelLen) : r < 0.15 ? rng.int(100, 700) : rng.int(1, 100);
    const prompt = Array.from({ length: Math.min(len, maxModelLen) }, () => rng.int(10, VOCAB - 1));
    const maxTokens = rng.next() < 0.1 ? rng.int(100, 300) : rng.int(1, 48);
    const params = normalizeSamplingParams({
      maxTokens,
      minTokens: rng.next() < 0.2 ? rng.int(0, maxTokens) : 0,
      ignoreEos: rng.next() < 0.15,
      stopTokenIds: rng.next() < 0.2 ? Array.from({ length: 60 }, () => rng.int(10, VOCAB - 1)) : [],
      seed: i,
    });
    const spec: Spec = { id: `req-${seed}-${i}`, prompt, params, stopString: rng.next() < 0.2 };
    specs.push(spec);
    index.set(spec.id, i);
    reqs.push(sched.addRequest(spec.id, prompt, params, EOS));
    shadows.set(spec.id, { spec, tokens: [...prompt], computed: 0, prefillTarget: prompt.length, life: 0, rank: null, admitSeq: -1 });
  };

  const abortRandom = () => {
    const live = [...shadows.keys()].filter((id) => sched.getRequest(id));
    if (live.length === 0) return;
    const id = rng.pick(live);
    const r = sched.getRequest(id)!;
    const rank = r.rank;
    const held = rank === null ? 0 : sched.kvManager(rank).blockTable(id).length;
    const before = rank === null ? 0 : sched.numFreeBlocks(rank);
    ok(sched.abortRequest(id), `abort ${id}`);
    ok(rank === null || sched.numFreeBlocks(rank) === before + held, `abort of ${id} did not free its ${held} blocks at once`);
    ok(r.status === RequestStatus.FINISHED_ABORTED && !sched.getRequest(id), `${id} not aborted`);
    stats.aborts++;
  };

  const checkReports = (out: SchedulerOutput) => {
    for (const id of [...out.finishedRequestIds, ...out.abortedRequestIds]) reported.set(id, (reported.get(id) ?? 0) + 1);
    for (const e of out.errors) {
      const r = reqs[index.get(e.requestId)!];
      ok(r.status === RequestStatus.FINISHED_ERROR && out.finishedRequestIds.includes(e.requestId), `error report for ${e.requestId}`);
    }
  };

  for (let step = 0; sched.hasUnfinishedRequests() || specs.length < numRequests; step++) {
    ok(step < 100_000, 'scheduler did not finish: hang or livelock');
    let arrivals = rng.next() < 0.05 ? rng.int(5, 30) : rng.int(0, 2);
    while (arrivals-- > 0 && specs.length < numRequests) addRandom();
    if (rng.next() < 0.01) abortRandom();

    const runningBefore = new Set([...shadows.values()].filter((s) => sched.getRequest(s.spec.id)?.status === RequestStatus.RUNNING).map((s) => s.spec.id));
    const out = sched.schedule();
    stats.steps++;
    checkReports(out);
    ok(structuredClone(out).requests.length === out.requests.length, 'output not clonable');

    // the victims on a rank are its most recently admitted running requests
    for (const id of out.preemptedRequestIds) {
      const p = shadows.get(id)!;
      for (const other of runningBefore) {
        const o = shadows.get(other)!;
        ok(o.rank !== p.rank || o.admitSeq < p.admitSeq || out.preemptedRequestIds.includes(other), `${id} preempted before the more recently admitted ${other}`);
      }
    }

    // preemptions: the request was running, loses its cache, recomputes prompt + output
    for (const id of out.preemptedRequestIds) {
      const s = shadows.get(id)!;
      ok(s.rank !== null && runningBefore.has(id), `${id} preempted but was not running`);
      ok(out.requests.every((q) => q.requestId !== id), `${id} preempted and scheduled in one step`);
      if (s.tokens.length > s.spec.prompt.length) stats.preemptedWithOutput++;
      s.rank = null;
      s.computed = 0;
      s.prefillTarget = s.tokens.length;
      s.life++;
      stats.preemptions++;
    }

    // budgets and per-rank counts
    ok(out.numScheduledTokens <= budget, `step ${out.stepId}: ${out.numScheduledTokens} tokens > budget ${budget}`);
    ok(out.requests.length <= cfg.maxNumSeqs!, `step ${out.stepId}: ${out.requests.length} seqs > maxNumSeqs`);
    ok(out.numTokensPerRank.length === tp && out.numSeqsPerRank.length === tp && out.numDecodesPerRank.length === tp, 'per-rank arrays have the wrong length');
    const tokSum = new Array(tp).fill(0);
    const seqSum = new Array(tp).fill(0);
    const decSum = new Array(tp).fill(0);
    let prevRank = 0;
    let prevPrefill = false;
    let anyPrefill = false;
    const blocksSeen = cfg.numBlocksPerRank.map(() => new Set<number>());
    for (const q of out.requests) {
      const s = shadows.get(q.requestId)!;
      const n = q.tokenIds.length;
      // token order: by rank, then decodes before prefills
      ok(q.rank > prevRank || (q.rank === prevRank && (!prevPrefill || q.isPrefill)), `step ${out.stepId}: token order broken at ${q.requestId}`);
      prevRank = q.rank;
      prevPrefill = q.isPrefill;
      tokSum[q.rank] += n;
      seqSum[q.rank]++;
      if (!q.isPrefill) decSum[q.rank]++;
      anyPrefill ||= q.isPrefill;
      // placement sticks while running; a (re)admission follows the recorded placement
      if (s.rank === null) {
        ok(out.preemptedRequestIds.length === 0, `step ${out.stepId}: admitted ${q.requestId} in a step that preempted`);
        ok(q.positionStart === 0 && sched.placed.get(q.requestId) === q.rank, `${q.requestId} admitted on ${q.rank} at ${q.positionStart}`);
        s.rank = q.rank;
        s.admitSeq = admissions++;
        if (tp > 1) stats.maxRankOfOne = Math.max(stats.maxRankOfOne, q.rank);
      }
      ok(q.rank === s.rank, `${q.requestId} moved from rank ${s.rank} to ${q.rank} while running`);
      // positions, tokens, phase
      ok(q.positionStart === s.computed && q.seqLen === s.computed + n && n >= 1, `${q.requestId}: positions ${q.positionStart}+${n}, runner has ${s.computed}`);
      for (let i = 0; i < n; i++) ok(q.tokenIds[i] === s.tokens[s.computed + i], `${q.requestId}: token ${s.computed + i} differs (recompute prompt wrong?)`);
      ok(q.isPrefill === s.computed < s.prefillTarget, `${q.requestId}: isPrefill ${q.isPrefill} at ${s.computed}/${s.prefillTarget}`);
      ok(q.needsLogits === (s.computed + n === s.tokens.length), `${q.requestId}: needsLogits ${q.needsLogits}`);
      if (!q.isPrefill) ok(n === 1, `decode of ${q.requestId} has ${n} tokens`);
      else {
        ok(s.computed + n <= s.prefillTarget && (threshold === 0 || n <= threshold), `${q.requestId}: chunk of ${n} tokens`);
        if (s.computed + n < s.prefillTarget) {
          stats.chunked++;
          ok(n === threshold || out.numScheduledTokens === budget, `${q.requestId}: chunk of ${n} cut short with budget left`);
        }
      }
      // block table and slots
      ok(q.blockTable.length === Math.ceil(q.seqLen / BS), `${q.requestId}: ${q.blockTable.length} blocks for ${q.seqLen} tokens`);
      for (const b of q.blockTable) {
        ok(b >= 0 && b < cfg.numBlocksPerRank[q.rank] && !blocksSeen[q.rank].has(b), `${q.requestId}: block ${b} bad or shared on rank ${q.rank}`);
        blocksSeen[q.rank].add(b);
      }
      for (let i = 0; i < n; i++) {
        const p = q.positionStart + i;
        ok(q.slotMapping[i] === q.blockTable[p >> 4] * BS + (p & 15), `${q.requestId}: slot of position ${p}`);
      }
    }
    for (let r = 0; r < tp; r++) {
      ok(tokSum[r] === out.numTokensPerRank[r] && seqSum[r] === out.numSeqsPerRank[r] && decSum[r] === out.numDecodesPerRank[r], `step ${out.stepId}: rank ${r} counts`);
    }
    ok(tokSum.reduce((a, b) => a + b, 0) === out.numScheduledTokens, 'total token count');
    // decode priority: a running decode left out means the step had no room for prefills
    const scheduledIds = new Set(out.requests.map((q) => q.requestId));
    for (const s of shadows.values()) {
      if (s.rank !== null && runningBefore.has(s.spec.id) && s.computed >= s.prefillTarget && !scheduledIds.has(s.spec.id) && sched.getRequest(s.spec.id)) {
        ok(!anyPrefill && out.numScheduledTokens === budget, `step ${out.stepId}: decode of ${s.spec.id} skipped while prefills ran`);
      }
    }

    // run the step from the flattened arrays, like the real runner
    const flat = flattenSchedulerOutput(out, sched.maxBlocksPerSeq);
    const sampled = new Map<string, number>();
    const sampleRow = new Map<string, number>();
    flat.sampledRequestIds.forEach((id, i) => sampleRow.set(id, flat.logitsIndices[i]));
    for (const b of flat.ranks) {
      const c = cache[b.rank];
      let row = 0; // rows of this rank's slice, walked in seq order
      for (let sIdx = 0; sIdx < b.requestIds.length; sIdx++) {
        const id = b.requestIds[sIdx];
        const s = shadows.get(id)!;
        const owner = index.get(id)!;
        const len = sIdx < b.numDecodes ? 1 : b.queryStartLoc[sIdx - b.numDecodes + 1] - b.queryStartLoc[sIdx - b.numDecodes];
        ok(sIdx < b.numDecodes || b.queryStartLoc[sIdx - b.numDecodes] === row, `queryStartLoc of ${id}`);
        for (let t = row; t < row + len; t++) {
          const slot = b.slotMapping[t];
          c.tok[slot] = flat.inputIds[b.tokenStart + t];
          c.pos[slot] = flat.positions[b.tokenStart + t];
          c.owner[slot] = owner;
          c.life[slot] = s.life;
        }
        row += len;
        // attention reads the whole context through the block table
        const seqLen = b.seqLens[sIdx];
        let h = H0;
        for (let p = 0; p < seqLen; p++) {
          const slot = b.blockTables[sIdx * flat.maxBlocksPerSeq + (p >> 4)] * BS + (p & 15);
          ok(c.owner[slot] === owner && c.life[slot] === s.life && c.pos[slot] === p, `${id}: cache slot ${slot} for position ${p} holds another token`);
          ok(c.tok[slot] === s.tokens[p], `${id}: cached token at ${p} differs`);
          h = mix(h, c.tok[slot]);
        }
        if (sampleRow.has(id)) {
          ok(sampleRow.get(id) === b.tokenStart + row - 1, `${id}: logits row`);
          sampled.set(id, sampleFromHash(h));
        }
      }
      ok(row === b.numTokens, `rank ${b.rank}: rows`);
    }
    for (const q of out.requests) {
      const s = shadows.get(q.requestId)!;
      s.computed += q.tokenIds.length;
      if (q.needsLogits) s.tokens.push(sampled.get(q.requestId)!);
    }
    // an abort may land while the step runs: the update must ignore that request
    if (out.requests.length > 0 && rng.next() < 0.01) abortRandom();
    const finished = sched.updateFromOutput(out, sampled);
    for (const r of finished) ok(r.isFinished && !sched.getRequest(r.requestId), `${r.requestId} reported finished but is ${r.status}`);
    // the engine's stop strings
    for (const q of out.requests) {
      const r = sched.getRequest(q.requestId);
      if (r && q.needsLogits && shadows.get(q.requestId)!.spec.stopString && stopStringHit(r.outputTokenIds[r.numOutputTokens - 1])) {
        ok(sched.finishRequest(q.requestId, RequestStatus.FINISHED_STOPPED), 'finishRequest');
      }
    }
    for (const s of shadows.values()) if (!sched.getRequest(s.spec.id)) s.rank = null;
    for (let r = 0; r < tp; r++) sched.kvManager(r).checkInvariants();
  }
  checkReports(sched.schedule()); // drains the last reports

  // no leak
  for (let r = 0; r < tp; r++) {
    expect(sched.numFreeBlocks(r)).toBe(cfg.numBlocksPerRank[r]);
    expect(sched.kvManager(r).numRequests).toBe(0);
  }
  expect(sched.numWaiting + sched.numRunning).toBe(0);
  // every request finished, was reported once, and generated what the reference generates
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i];
    const r = reqs[i];
    ok(r.isFinished, `${spec.id} is ${r.status}`);
    ok(reported.get(spec.id) === 1, `${spec.id} reported ${reported.get(spec.id)} times`);
    const ref = reference(spec, maxModelLen);
    const outIds = r.outputTokenIds;
    ok(outIds.every((t, k) => t === ref.out[k]) && outIds.length <= ref.out.length, `${spec.id}: output differs from the reference`);
    ok(outIds.every((t, k) => t === shadows.get(spec.id)!.tokens[spec.prompt.length + k]), `${spec.id}: runner and scheduler disagree`);
    if (r.status === RequestStatus.FINISHED_ERROR) {
      stats.errors++;
      ok(Math.ceil(r.numTokens / BS) > maxRank && r.errorMessage !== null, `${spec.id} errored although ${r.numTokens} tokens fit a rank`);
    } else if (r.status !== RequestStatus.FINISHED_ABORTED) {
      ok(r.status === ref.status && outIds.length === ref.out.length, `${spec.id}: ${r.status} after ${outIds.length}, reference ${ref.status} after ${ref.out.length}`);
    }
  }
  return stats;
}

describe('Scheduler with a fake runner', () => {
  const cases: [string, number, SchedulerConfigInput, number][] = [
    ['tp1', 101, { numBlocksPerRank: [64], maxNumBatchedTokens: 128, maxNumSeqs: 16, maxModelLen: 2048 }, 900],
    ['tp2 unequal, long-prefill threshold', 102, { numBlocksPerRank: [40, 90], maxNumBatchedTokens: 96, maxNumSeqs: 24, maxModelLen: 2048, longPrefillTokenThreshold: 40 }, 900],
    ['tp4 unequal', 103, { numBlocksPerRank: [25, 70, 12, 50], maxNumBatchedTokens: 200, maxNumSeqs: 32, maxModelLen: 2048 }, 1200],
  ];
  it.each(cases)('%s: every request finishes as in the reference, budgets and layout hold, nothing leaks', (_name, seed, cfg, n) => {
    const stats = runScenario(seed, cfg, n);
    // the scenarios are tight enough to exercise every path
    expect(stats.preemptions).toBeGreaterThan(10);
    expect(stats.preemptedWithOutput).toBeGreaterThan(5);
    expect(stats.chunked).toBeGreaterThan(10);
    expect(stats.aborts).toBeGreaterThan(5);
    expect(stats.errors).toBeGreaterThan(3);
    if (cfg.numBlocksPerRank.length > 1) expect(stats.maxRankOfOne).toBe(cfg.numBlocksPerRank.length - 1);
  });
});
