// Continuous batching with chunked prefill over token-parallel ranks (after vLLM v1's scheduler).
//
// Each token-parallel rank has its own KvCacheManager (its own block count). A request is placed
// on a rank when it is admitted and stays there until it finishes or is preempted. One step:
//   1. decodes: every running request past its prompt gets its one token (decode priority), in
//      admission order, while the token budget lasts;
//   2. prefill chunks of running requests still computing their prompt, in admission order;
//   3. admission of waiting requests, first come first served, while budget, maxNumSeqs and blocks
//      last (none in a step that preempted: a preempted request would come straight back).
// A prefill chunk is min(tokens left, budget left, longPrefillTokenThreshold if set).
// When a running request's rank has too few free blocks, the most recently admitted running
// request on that rank is preempted by recompute (blocks freed, back to the front of the waiting
// queue keeping its output, so it recomputes prompt + output) until the allocation fits or the
// request preempted itself. Preempting a request already scheduled this step unschedules it.
// Prefix caching (on by default): each rank's KvCacheManager keeps full computed blocks under
// their content hash. At admission the request's block hashes (capped below its last token, so
// that at least one token is computed) are looked up on every rank; placement (placement.ts)
// prefers the rank with the longest hit that has room for the rest, else the rank with the most
// free blocks; the hit's blocks are shared and numComputedTokens starts after them. After each
// step, the full blocks a request computed by prefill are registered (not those written by decode
// steps: their k/v at layers >= 1 come from the decode attention kernel, whose bits differ from
// prefill's, and a hit must give exactly the bits of a recomputation).
// A request that fits no rank even alone finishes with FINISHED_ERROR. Progress: the oldest
// running request of a rank only waits for budget, so every request finishes, errors out or is
// aborted.
//
// The engine alternates schedule() and updateFromOutput(); abortRequest/finishRequest may come at
// any time and free the request's blocks at once (a step in flight is submitted before the next
// step can reuse them). Token ids are u32; request ids must be unique among unfinished requests.
import { extendBlockHashes, rootBlockHash, type BlockHash } from '../kv/block_hash.js';
import { KvCacheManager, type PrefixCacheStats } from '../kv/kv_cache_manager.js';
import type { SamplingParams } from '../engine/sampling_params.js';
import { maxBlocksPerSeq, validateSchedulerConfig, type SchedulerConfig, type SchedulerConfigInput } from './config.js';
import { choosePlacement, type Placement } from './placement.js';
import { isFinishedStatus, Request, RequestError, RequestStatus, type FinishedStatus } from './request.js';
import { layOutStep, type ScheduledRequest, type SchedulerOutput } from './scheduler_output.js';

/** The scheduler was driven out of order (schedule twice, wrong step, bad sampled tokens). */
export class SchedulerStateError extends Error {
  override readonly name = 'SchedulerStateError';
}

interface StepState {
  budget: number; // tokens left this step
  readonly scheduled: Map<Request, number>; // tokens scheduled per request, in scheduling order
  readonly preempted: string[];
}

export class Scheduler {
  readonly config: SchedulerConfig;
  /** Block-table width for the runner: ceil(maxModelLen / blockSize). */
  readonly maxBlocksPerSeq: number;
  protected readonly kvManagers: readonly KvCacheManager[];
  private readonly rootHash: BlockHash;
  private readonly requests = new Map<string, Request>(); // unfinished requests
  private readonly waiting: Request[] = []; // front is admitted next
  private readonly running: Request[] = []; // admission order
  private nextStepId = 0;
  private pendingStepId: number | null = null;
  private finishedIds: string[] = [];
  private abortedIds: string[] = [];
  private errors: { requestId: string; message: string }[] = [];

  constructor(config: SchedulerConfigInput) {
    this.config = validateSchedulerConfig(config);
    this.maxBlocksPerSeq = maxBlocksPerSeq(this.config);
    this.kvManagers = this.config.numBlocksPerRank.map((n) => new KvCacheManager(n, this.config.blockSize));
    this.rootHash = rootBlockHash(this.config.prefixCacheSalt);
  }

  get tokenParallelSize(): number {
    return this.config.tokenParallelSize;
  }
  get numWaiting(): number {
    return this.waiting.length;
  }
  get numRunning(): number {
    return this.running.length;
  }
  hasUnfinishedRequests(): boolean {
    return this.requests.size > 0;
  }
  getRequest(requestId: string): Request | undefined {
    return this.requests.get(requestId);
  }
  /** Rank `rank`'s block manager (for inspection; only the scheduler changes it). */
  kvManager(rank: number): KvCacheManager {
    return this.kvManagers[rank];
  }
  numFreeBlocks(rank: number): number {
    return this.kvManagers[rank].numFreeBlocks;
  }
  /** Prefix-cache lookups of admissions, over every rank (all zero with prefix caching off). */
  prefixCacheStats(): PrefixCacheStats {
    const t: PrefixCacheStats = { requests: 0, queries: 0, hits: 0 };
    for (const kv of this.kvManagers) {
      t.requests += kv.prefixCacheStats.requests;
      t.queries += kv.prefixCacheStats.queries;
      t.hits += kv.prefixCacheStats.hits;
    }
    return t;
  }

  /** Queues a request. Throws RequestError for a bad prompt, a duplicate id, or a prompt > maxModelLen. */
  addRequest(requestId: string, promptTokenIds: readonly number[], samplingParams: SamplingParams, eosTokenIds: readonly number[] = []): Request {
    if (this.requests.has(requestId)) throw new RequestError(`request ${requestId} already exists`);
    const r = new Request(requestId, promptTokenIds, samplingParams, eosTokenIds);
    if (r.numPromptTokens > this.config.maxModelLen) {
      throw new RequestError(`prompt of ${r.numPromptTokens} tokens exceeds maxModelLen ${this.config.maxModelLen}`);
    }
    this.requests.set(requestId, r);
    this.waiting.push(r);
    return r;
  }

  /** Aborts an unfinished request and frees its blocks now. False if it is unknown or finished. */
  abortRequest(requestId: string): boolean {
    return this.finishRequest(requestId, RequestStatus.FINISHED_ABORTED);
  }

  /** Finishes a request for a reason found outside the scheduler (e.g. a stop string); frees its blocks now. */
  finishRequest(requestId: string, status: FinishedStatus, errorMessage?: string): boolean {
    if (!isFinishedStatus(status)) throw new SchedulerStateError(`finishRequest(${requestId}): ${status} is not a finished status`);
    const r = this.requests.get(requestId);
    if (!r) return false;
    this.finish(r, status, errorMessage);
    return true;
  }

  schedule(): SchedulerOutput {
    if (this.pendingStepId !== null) throw new SchedulerStateError(`schedule(): step ${this.pendingStepId} was not updated yet`);
    const st: StepState = { budget: this.config.maxNumBatchedTokens, scheduled: new Map(), preempted: [] };
    for (const r of this.running.slice()) {
      if (st.budget === 0) break;
      if (r.status === RequestStatus.RUNNING && !r.isPrefilling) this.scheduleRunning(r, 1, st);
    }
    for (const r of this.running.slice()) {
      if (st.budget === 0) break;
      if (r.status === RequestStatus.RUNNING && r.isPrefilling) this.scheduleRunning(r, this.chunkSize(r, st.budget), st);
    }
    if (st.preempted.length === 0) this.admitWaiting(st);
    return this.buildOutput(st);
  }

  /**
   * Applies a step's results: advances numComputedTokens, appends the sampled token of every
   * request whose step needed logits, and finishes requests by EOS / stop token ids / maxTokens /
   * maxModelLen. Requests aborted or finished since the step was scheduled are skipped. Returns
   * the requests this update finished.
   */
  updateFromOutput(output: SchedulerOutput, sampledTokenIds: ReadonlyMap<string, number>): Request[] {
    if (output.requests.length === 0 && sampledTokenIds.size === 0) return [];
    if (this.pendingStepId !== output.stepId) {
      throw new SchedulerStateError(`updateFromOutput: step ${output.stepId} given, step ${this.pendingStepId} pending`);
    }
    const live: [ScheduledRequest, Request][] = [];
    const needed = new Set<string>();
    for (const s of output.requests) {
      if (s.needsLogits) needed.add(s.requestId);
      const r = this.requests.get(s.requestId);
      if (!r || r.status !== RequestStatus.RUNNING) continue;
      if (r.rank !== s.rank || r.numComputedTokens !== s.positionStart) {
        throw new SchedulerStateError(`updateFromOutput: ${s.requestId} is at ${r.numComputedTokens} on rank ${r.rank}, step says ${s.positionStart} on ${s.rank}`);
      }
      const t = sampledTokenIds.get(s.requestId);
      if (s.needsLogits && (t === undefined || !Number.isInteger(t) || t < 0 || t > 0xffffffff)) {
        throw new SchedulerStateError(`updateFromOutput: request ${s.requestId} needs a sampled token id, got ${t}`);
      }
      live.push([s, r]);
    }
    for (const id of sampledTokenIds.keys()) {
      if (!needed.has(id)) throw new SchedulerStateError(`updateFromOutput: token sampled for ${id}, which did not need logits in step ${output.stepId}`);
    }
    this.pendingStepId = null;
    const finished: Request[] = [];
    for (const [s, r] of live) {
      r.numComputedTokens += s.tokenIds.length;
      if (s.isPrefill && this.config.enablePrefixCaching) this.cachePrefilledBlocks(r);
      if (!s.needsLogits) continue;
      r.appendOutputToken(sampledTokenIds.get(s.requestId)!);
      const status = r.checkStop(this.config.maxModelLen);
      if (status !== null) {
        this.finish(r, status);
        finished.push(r);
      }
    }
    return finished;
  }

  /**
   * The rank a waiting request is admitted to and the prefix-cache hit it takes there
   * (placement.ts); null if no rank's capacity holds its current tokens.
   */
  protected chooseRank(r: Request): Placement | null {
    const need = Math.ceil(r.numTokens / this.config.blockSize);
    const hashes = this.lookupHashes(r);
    return choosePlacement(
      this.kvManagers.map((kv, rank) => {
        const hit = kv.findCachedBlocks(hashes);
        return { rank, numBlocks: kv.numBlocks, numFreeBlocks: kv.numFreeBlocks, numCachedBlocks: hit.length, numCachedFreeBlocks: kv.numFreeAmong(hit) };
      }),
      need,
    );
  }

  /**
   * The block hashes a waiting request looks up: its full blocks before its last token (the hit
   * must leave at least one token to compute); none with prefix caching off.
   */
  protected lookupHashes(r: Request): readonly BlockHash[] {
    if (!this.config.enablePrefixCaching) return [];
    const n = Math.floor((r.numTokens - 1) / this.config.blockSize);
    return extendBlockHashes(r.blockHashes, this.rootHash, n, this.config.blockSize, (p) => r.tokenAt(p)).slice(0, n);
  }

  /** Registers the full blocks of the request's prefill computed so far in its rank's cache. */
  private cachePrefilledBlocks(r: Request): void {
    const computed = Math.min(r.numComputedTokens, r.numPrefillTokens);
    const hashes = extendBlockHashes(r.blockHashes, this.rootHash, Math.floor(computed / this.config.blockSize), this.config.blockSize, (p) => r.tokenAt(p));
    this.kvManagers[r.rank!].cacheFullBlocks(r.requestId, hashes, computed);
  }

  /** The next prefill chunk of a request whose first `start` tokens are computed. */
  private chunkSize(r: Request, budget: number, start = r.numComputedTokens): number {
    let n = Math.min(r.numPrefillTokens - start, budget);
    const cap = this.config.longPrefillTokenThreshold;
    if (cap > 0) n = Math.min(n, cap);
    return n;
  }

  /** Reserves `n` tokens for a running request, preempting on its rank as needed. */
  private scheduleRunning(r: Request, n: number, st: StepState): void {
    const rank = r.rank!;
    const kv = this.kvManagers[rank];
    if (kv.numTokens(r.requestId) !== r.numComputedTokens || n < 1 || (!r.isPrefilling && r.numComputedTokens + n !== r.numTokens)) {
      throw new SchedulerStateError(`schedule: ${r.requestId} holds ${kv.numTokens(r.requestId)} slots, computed ${r.numComputedTokens} of ${r.numTokens}, asked ${n}`);
    }
    while (!kv.canAllocate(r.requestId, n)) {
      let victim: Request | undefined;
      for (let i = this.running.length - 1; i >= 0 && !victim; i--) if (this.running[i].rank === rank) victim = this.running[i];
      this.preempt(victim!, st); // r itself is running on `rank`, so a victim exists
      if (victim === r) return;
    }
    kv.allocate(r.requestId, n);
    st.scheduled.set(r, n);
    st.budget -= n;
  }

  private preempt(r: Request, st: StepState): void {
    const n = st.scheduled.get(r);
    if (n !== undefined) {
      st.scheduled.delete(r);
      st.budget += n;
    }
    this.kvManagers[r.rank!].free(r.requestId);
    this.running.splice(this.running.indexOf(r), 1);
    r.status = RequestStatus.PREEMPTED;
    r.rank = null;
    r.numComputedTokens = 0;
    r.numPrefillTokens = r.numTokens; // recompute prompt + output so far
    r.numPreemptions++;
    this.waiting.unshift(r);
    st.preempted.push(r.requestId);
  }

  private admitWaiting(st: StepState): void {
    while (this.waiting.length > 0 && st.budget > 0 && this.running.length < this.config.maxNumSeqs) {
      const r = this.waiting[0];
      const place = this.chooseRank(r);
      if (place === null) {
        const need = Math.ceil(r.numTokens / this.config.blockSize);
        const most = Math.max(...this.config.numBlocksPerRank);
        this.finish(r, RequestStatus.FINISHED_ERROR, `the request needs ${need} KV blocks for ${r.numTokens} tokens; the largest rank has ${most}`);
        continue;
      }
      const kv = this.kvManagers[place.rank];
      const hit = kv.findCachedBlocks(this.lookupHashes(r).slice(0, place.numCachedBlocks));
      const hitTokens = hit.length * this.config.blockSize;
      const n = this.chunkSize(r, st.budget, hitTokens);
      if (!kv.canAllocate(r.requestId, n, hit)) break; // the chosen rank cannot take its first chunk yet: wait (FCFS)
      this.waiting.shift();
      r.numComputedTokens = hitTokens;
      kv.allocate(r.requestId, n, hit);
      if (this.config.enablePrefixCaching) kv.countLookup(r.numTokens, hitTokens);
      r.numCachedTokens ??= hitTokens;
      r.rank = place.rank;
      r.status = RequestStatus.RUNNING;
      this.running.push(r);
      st.scheduled.set(r, n);
      st.budget -= n;
    }
  }

  private finish(r: Request, status: FinishedStatus, errorMessage?: string): void {
    if (r.rank !== null) this.kvManagers[r.rank].free(r.requestId);
    const list = r.status === RequestStatus.RUNNING ? this.running : this.waiting;
    const i = list.indexOf(r);
    if (i >= 0) list.splice(i, 1);
    r.status = status;
    r.rank = null;
    this.requests.delete(r.requestId);
    if (status === RequestStatus.FINISHED_ABORTED) {
      this.abortedIds.push(r.requestId);
      return;
    }
    this.finishedIds.push(r.requestId);
    if (status === RequestStatus.FINISHED_ERROR) {
      r.errorMessage = errorMessage ?? 'finished with an error';
      this.errors.push({ requestId: r.requestId, message: r.errorMessage });
    }
  }

  private buildOutput(st: StepState): SchedulerOutput {
    const requests: ScheduledRequest[] = [];
    for (const [r, n] of st.scheduled) {
      const kv = this.kvManagers[r.rank!];
      const start = r.numComputedTokens;
      requests.push({
        requestId: r.requestId,
        rank: r.rank!,
        tokenIds: r.tokenSlice(start, start + n),
        positionStart: start,
        seqLen: start + n,
        blockTable: kv.blockTable(r.requestId).slice(),
        slotMapping: Array.from(kv.slotMapping(r.requestId, start, n)),
        isPrefill: r.isPrefilling,
        needsLogits: start + n === r.numTokens,
        samplingParams: r.samplingParams,
      });
    }
    const stepId = this.nextStepId++;
    if (requests.length > 0) this.pendingStepId = stepId;
    const out: SchedulerOutput = {
      stepId,
      ...layOutStep(requests, this.config.tokenParallelSize),
      preemptedRequestIds: st.preempted,
      finishedRequestIds: this.finishedIds,
      abortedRequestIds: this.abortedIds,
      errors: this.errors,
    };
    this.finishedIds = [];
    this.abortedIds = [];
    this.errors = [];
    return out;
  }
}
