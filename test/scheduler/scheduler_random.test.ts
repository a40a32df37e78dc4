// Drives the Scheduler with a fake runner over thousands of random requests. The runner keeps a
// simulated paged KV cache per rank, written through the flattened slot mappings and read back
// through the flattened block tables, and "samples" a token from a hash of the context it read:
// so each request's output must equal a reference generation computed without any batching,
// chunking, preemption, token parallelism or prefix caching, and every step's layout is checked
// against the contract (budgets, token order, positions, block tables, slots, placement, decode
// priority). With prefix caching, many prompts share prefixes (a few system prompts, and
// conversations continued from earlier requests' prompt + output): each cache slot records the
// hash of the whole context it was computed for, so a hit that hands a request the wrong blocks,
// blocks written by a decode step, or a block someone else writes into is caught at once.
import { describe, expect, it } from 'vitest';
import { normalizeSamplingParams, type SamplingParams } from '../../src/engine/sampling_params.js';
import { Request, RequestStatus, type RequestStatus as Status } from '../../src/scheduler/request.js';
import type { Placement } from '../../src/scheduler/placement.js';
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
  readonly placed = new Map<string, { rank: number; hit: number }>(); // the last admission decision: rank, hit tokens
  protected override chooseRank(r: Request): Placement | null {
    const need = Math.ceil(r.numTokens / BS);
    const hashes = this.lookupHashes(r);
    const ranks = this.kvManagers.map((kv, rank) => {
      const hit = kv.findCachedBlocks(hashes);
      return { rank, cap: kv.numBlocks, free: kv.numFreeBlocks, hit: hit.length, hitFree: hit.filter((b) => kv.pool.refCount(b) === 0).length };
    });
    const eligible = ranks.filter((x) => x.cap >= need);
    const withRoom = eligible.filter((x) => x.hit > 0 && x.free - x.hitFree >= need - x.hit).sort((a, b) => b.hit - a.hit || b.free - a.free || a.rank - b.rank);
    const want = withRoom[0] ?? [...eligible].sort((a, b) => b.free - a.free || a.rank - b.rank)[0];
    const got = super.chooseRank(r);
    ok(got?.rank === want?.rank && got?.numCachedBlocks === want?.hit, `placement of ${r.requestId}: ${JSON.stringify(got)}, rule says ${JSON.stringify(want)}`);
    if (got !== null) this.placed.set(r.requestId, { rank: got.rank, hit: got.numCachedBlocks * BS });
    return got;
  }
}

interface Shadow {
  spec: Spec;
  tokens: number[]; // prompt + output as the runner saw them
  computed: number; // tokens in the cache
  prefillTarget: number; // tokens to compute before decoding
  life: number; // bumps on each preemption
  hit: number; // tokens of this life found in the prefix cache at admission
  ctx: number[]; // ctx[p]: hash of tokens [0, p], extended as needed
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
  // simulated caches: token, position, hash of the context up to it, writer (request index and
  // life), written by a prefill chunk
  const cache = cfg.numBlocksPerRank.map((n) => ({
    tok: new Int32Array(n * BS),
    pos: new Int32Array(n * BS),
    ctx: new Uint32Array(n * BS),
    owner: new Int32Array(n * BS).fill(-1),
    life: new Int32Array(n * BS),
    byPrefill: new Uint8Array(n * BS),
  }));
  const ctxAt = (s: Shadow, p: number): number => {
    for (let q = s.ctx.length; q <= p; q++) s.ctx.push(mix(q === 0 ? H0 : s.ctx[q - 1], s.tokens[q]));
    return s.ctx[p];
  };
  const randomTokens = (n: number) => Array.from({ length: n }, () => rng.int(10, VOCAB - 1));
  // shared prefixes, some of whole blocks
  const systemPrompts = Array.from({ length: 6 }, (_, k) => randomTokens(k % 2 ? 16 * rng.int(1, 12) : rng.int(8, 260)));
  const shadows = new Map<string, Shadow>();
  const index = new Map<string, number>();
  const reqs: Request[] = [];
  const specs: Spec[] = [];
  const reported = new Map<string, number>(); // finished/aborted reports per id
  let admissions = 0;
  const stats = { steps: 0, preemptions: 0, preemptedWithOutput: 0, aborts: 0, errors: 0, chunked: 0, maxRankOfOne: 0, hits: 0, hitTokens: 0, hitsAfterPreemption: 0 };

  const addRandom = () => {
    const i = specs.length;
    const r = rng.next();
    const done = specs.filter((x) => reqs[index.get(x.id)!].isFinished);
    let prompt: number[];
    if (r < 0.06 && specs.length > 0) prompt = [...rng.pick(specs).prompt]; // the same prompt again
    else if (r < 0.3) prompt = [...rng.pick(systemPrompts), ...randomTokens(rng.next() < 0.2 ? 0 : rng.int(1, 80))];
    else if (r < 0.42 && done.length > 0) prompt = [...shadows.get(rng.pick(done).id)!.tokens, ...randomTokens(rng.int(1, 40))]; // the conversation goes on
    else {
      const q = rng.next();
      prompt = randomTokens(q < 0.03 ? rng.int(maxRank * BS + 1, maxModelLen) : q < 0.2 ? rng.int(100, 700) : rng.int(1, 100));
    }
    prompt = prompt.slice(0, maxModelLen);
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
    shadows.set(spec.id, { spec, tokens: [...prompt], computed: 0, prefillTarget: prompt.length, life: 0, hit: 0, ctx: [], rank: null, admitSeq: -1 });
  };

  const abortRandom = () => {
    const live = [...shadows.keys()].filter((id) => sched.getRequest(id));
    if (live.length === 0) return;
    const id = rng.pick(live);
    const r = sched.getRequest(id)!;
    const rank = r.rank;
    const held = rank === null ? 0 : sched.kvManager(rank).blockTable(id).filter((b) => sched.kvManager(rank).pool.refCount(b) === 1).length; // not shared
    const before = rank === null ? 0 : sched.numFreeBlocks(rank);
    ok(sched.abortRequest(id), `abort ${id}`);
    ok(rank === null || sched.numFreeBlocks(rank) === before + held, `abort of ${id} did not free its ${held} unshared blocks at once`);
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
        const placed = sched.placed.get(q.requestId)!;
        ok(placed.rank === q.rank && q.positionStart === placed.hit, `${q.requestId} admitted on ${q.rank} at ${q.positionStart}, placed ${JSON.stringify(placed)}`);
        ok(q.positionStart % BS === 0 && q.positionStart < s.tokens.length && (cfg.enablePrefixCaching !== false || q.positionStart === 0), `${q.requestId}: hit of ${q.positionStart} tokens`);
        s.computed = s.hit = q.positionStart;
        if (s.hit > 0) {
          stats.hits++;
          stats.hitTokens += s.hit;
          if (s.life > 0) stats.hitsAfterPreemption++;
        }
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
      const pool = sched.kvManager(q.rank).pool;
      for (const b of q.blockTable) {
        ok(b >= 0 && b < cfg.numBlocksPerRank[q.rank], `${q.requestId}: block ${b} outside rank ${q.rank}`);
        // only cached (full, computed, read-only) blocks are shared
        ok(!blocksSeen[q.rank].has(b) || pool.blockHash(b) !== null, `${q.requestId}: block ${b} shared on rank ${q.rank} but not cached`);
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
        const pool = sched.kvManager(b.rank).pool;
        for (let t = row; t < row + len; t++) {
          const slot = b.slotMapping[t];
          const p = flat.positions[b.tokenStart + t];
          ok(pool.refCount(slot >> 4) === 1 && pool.blockHash(slot >> 4) === null, `${id}: writes position ${p} into block ${slot >> 4}, which is shared or cached`);
          c.tok[slot] = flat.inputIds[b.tokenStart + t];
          c.pos[slot] = p;
          c.ctx[slot] = ctxAt(s, p);
          c.owner[slot] = owner;
          c.life[slot] = s.life;
          c.byPrefill[slot] = sIdx >= b.numDecodes ? 1 : 0;
        }
        row += len;
        // attention reads the whole context through the block table
        const seqLen = b.seqLens[sIdx];
        let h = H0;
        for (let p = 0; p < seqLen; p++) {
          const slot = b.blockTables[sIdx * flat.maxBlocksPerSeq + (p >> 4)] * BS + (p & 15);
          ok(c.pos[slot] === p && c.ctx[slot] === ctxAt(s, p), `${id}: cache slot ${slot} for position ${p} holds another context`);
          ok(c.tok[slot] === s.tokens[p], `${id}: cached token at ${p} differs`);
          // slots this life did not write come from a hit, whose blocks were all written by prefill
          const own = c.owner[slot] === owner && c.life[slot] === s.life;
          ok(own || (p < s.hit && c.byPrefill[slot] === 1), `${id}: position ${p} (hit ${s.hit}) reads a slot written by ${c.byPrefill[slot] ? 'a prefill' : 'a decode'} of request ${c.owner[slot]}`);
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
  // the scheduler's prefix-cache counters agree with the hits the runner saw
  expect(sched.prefixCacheStats().hits).toBe(stats.hitTokens);
  const evictions = Array.from({ length: tp }, (_, r) => sched.kvManager(r).pool.numEvictions).reduce((a, b) => a + b, 0);
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
  return { ...stats, evictions };
}

describe('Scheduler with a fake runner', () => {
  const cases: [string, number, SchedulerConfigInput, number][] = [
    ['tp1', 101, { numBlocksPerRank: [64], maxNumBatchedTokens: 128, maxNumSeqs: 16, maxModelLen: 2048 }, 900],
    ['tp1, prefix caching off', 104, { numBlocksPerRank: [64], maxNumBatchedTokens: 128, maxNumSeqs: 16, maxModelLen: 2048, enablePrefixCaching: false }, 600],
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
    if (cfg.enablePrefixCaching === false) expect(stats.hits).toBe(0);
    else {
      console.log(`[${_name}] ${stats.hits} admissions hit the prefix cache (${stats.hitTokens} tokens, ${stats.hitsAfterPreemption} after a preemption), ${stats.evictions} cached blocks evicted`);
      expect(stats.hits).toBeGreaterThan(50);
      expect(stats.hitsAfterPreemption).toBeGreaterThan(3);
      expect(stats.evictions).toBeGreaterThan(50);
    }
  });
});
