// One generation request as the scheduler sees it: its tokens, how many of them are in the KV
// cache, where it runs and why it finished. Token ids are prompt then output.
//
// Prefill and decode: a request must compute its first `numPrefillTokens` tokens (its prompt;
// after a preemption, its prompt plus the output so far, since preemption is by recompute)
// before it decodes. While numComputedTokens < numPrefillTokens it is prefilling, in chunks; the
// chunk that reaches numPrefillTokens produces logits and the sampled token is appended. From then
// on each step computes exactly one token (the last sampled one) and samples the next.
//
// Prefix caching: an admission may find the request's first blocks in its rank's cache; then
// numComputedTokens starts at the hit (a multiple of 16, always below numPrefillTokens so that at
// least one token is computed and the request can sample).
import type { SamplingParams } from '../engine/sampling_params.js';
import type { BlockHash } from '../kv/block_hash.js';

export const RequestStatus = {
  /** Queued, never run (or finished before it ran). */
  WAITING: 'waiting',
  /** Admitted: placed on a rank, holding KV blocks there. */
  RUNNING: 'running',
  /** Preempted by recompute: blocks freed, back at the front of the waiting queue. */
  PREEMPTED: 'preempted',
  /** Hit EOS, a stop token id, or (engine-reported) a stop string. */
  FINISHED_STOPPED: 'finished_stopped',
  /** Reached maxTokens or maxModelLen. */
  FINISHED_LENGTH: 'finished_length',
  /** Aborted by the caller. */
  FINISHED_ABORTED: 'finished_aborted',
  /** Cannot run: e.g. needs more KV blocks than any rank has. `errorMessage` says why. */
  FINISHED_ERROR: 'finished_error',
} as const;
export type RequestStatus = (typeof RequestStatus)[keyof typeof RequestStatus];
export type FinishedStatus =
  | typeof RequestStatus.FINISHED_STOPPED
  | typeof RequestStatus.FINISHED_LENGTH
  | typeof RequestStatus.FINISHED_ABORTED
  | typeof RequestStatus.FINISHED_ERROR;

export function isFinishedStatus(s: RequestStatus): s is FinishedStatus {
  return s.startsWith('finished_');
}

/** A request is malformed (empty prompt, bad token id, duplicate id, prompt over maxModelLen). */
export class RequestError extends Error {
  override readonly name = 'RequestError';
}

export class Request {
  readonly promptTokenIds: readonly number[];
  readonly outputTokenIds: number[] = [];
  status: RequestStatus = RequestStatus.WAITING;
  /** Tokens whose k/v are in the cache (advanced after each step's output). */
  numComputedTokens = 0;
  /** Tokens to compute before decoding: the prompt, or prompt + output after a preemption. */
  numPrefillTokens: number;
  /** Token-parallel rank holding its KV blocks while RUNNING; null otherwise. */
  rank: number | null = null;
  numPreemptions = 0;
  /** The stop token id that finished it (EOS or one of stopTokenIds), if any. */
  stopReason: number | null = null;
  errorMessage: string | null = null;
  /** Prompt tokens found in the prefix cache at its first admission (null until admitted). */
  numCachedTokens: number | null = null;
  /** Hashes of its full blocks computed so far (prefix caching; extended as needed). */
  readonly blockHashes: BlockHash[] = [];

  constructor(
    readonly requestId: string,
    promptTokenIds: readonly number[],
    readonly samplingParams: SamplingParams,
    /** Token ids that count as EOS (tokenizer and generation config); ignored with ignoreEos. */
    readonly eosTokenIds: readonly number[] = [],
  ) {
    if (typeof requestId !== 'string' || requestId.length === 0) throw new RequestError(`request id must be a non-empty string`);
    if (promptTokenIds.length === 0) throw new RequestError('empty prompt');
    for (const t of promptTokenIds) {
      if (!Number.isInteger(t) || t < 0 || t > 0xffffffff) throw new RequestError(`bad prompt token id ${t}`);
    }
    this.promptTokenIds = Object.freeze([...promptTokenIds]);
    this.numPrefillTokens = promptTokenIds.length;
  }

  get numPromptTokens(): number {
    return this.promptTokenIds.length;
  }

  get numOutputTokens(): number {
    return this.outputTokenIds.length;
  }

  /** Prompt plus output tokens. */
  get numTokens(): number {
    return this.promptTokenIds.length + this.outputTokenIds.length;
  }

  get isFinished(): boolean {
    return isFinishedStatus(this.status);
  }

  /** Still computing its prompt (or recompute prompt). */
  get isPrefilling(): boolean {
    return this.numComputedTokens < this.numPrefillTokens;
  }

  /** Token id at position `i` of prompt + output. */
  tokenAt(i: number): number {
    const p = this.promptTokenIds.length;
    return i < p ? this.promptTokenIds[i] : this.outputTokenIds[i - p];
  }

  /** Token ids at positions [start, end) of prompt + output. */
  tokenSlice(start: number, end: number): number[] {
    const out = new Array<number>(end - start);
    for (let i = start; i < end; i++) out[i - start] = this.tokenAt(i);
    return out;
  }

  /** Appends a sampled token. */
  appendOutputToken(tokenId: number): void {
    this.outputTokenIds.push(tokenId);
  }

  /**
   * Whether the last appended token ends the request, by rules that need no text: EOS (unless
   * ignoreEos) and stopTokenIds count once minTokens tokens were generated; maxTokens and
   * maxModelLen always count. A stop token wins over a length limit reached by the same token.
   * Sets stopReason for a stop token. Returns the finished status, or null to continue.
   */
  checkStop(maxModelLen: number): FinishedStatus | null {
    const sp = this.samplingParams;
    const n = this.outputTokenIds.length;
    if (n > 0 && n >= sp.minTokens) {
      const last = this.outputTokenIds[n - 1];
      if ((!sp.ignoreEos && this.eosTokenIds.includes(last)) || sp.stopTokenIds.includes(last)) {
        this.stopReason = last;
        return RequestStatus.FINISHED_STOPPED;
      }
    }
    if (n >= sp.maxTokens || this.numTokens >= maxModelLen) return RequestStatus.FINISHED_LENGTH;
    return null;
  }
}
