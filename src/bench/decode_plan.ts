// Pure planning for `tknp bench decode`: how many sequences of a context fit the KV cache of
// the token-parallel ranks, and how one scheduler step that admitted every prompt whole is cut
// into executable prefill chunks. CPU only.
import { BLOCK_SIZE } from '../kv/kv_cache_manager.js';
import type { ScheduledRequest, SchedulerOutput } from '../scheduler/scheduler_output.js';

export interface BatchFit {
  /** Most sequences that run to the end without preemption (<= the batch asked for). */
  readonly maxBatch: number;
  /** Sequences each token-parallel rank holds with `maxBatch`. */
  readonly seqsPerRank: number[];
  /** What stops a larger batch: 'kv' (the cache), 'maxNumSeqs', 'maxNumBatchedTokens', or null. */
  readonly limitedBy: 'kv' | 'maxNumSeqs' | 'maxNumBatchedTokens' | null;
}

/**
 * Largest batch <= `want` of sequences with `context` prompt tokens and `decodeSteps` decode
 * steps (KV slots at the end: context + decodeSteps) that fits, placing them as the scheduler
 * does: each admitted with its whole prompt on the rank with the most free blocks (ties: lowest
 * rank) among those that hold it; a rank fits when its sequences' final blocks fit its cache.
 */
export function fitBatch(numBlocksPerRank: readonly number[], context: number, decodeSteps: number, want: number, limits: { maxNumSeqs: number; maxNumBatchedTokens: number }): BatchFit {
  const promptBlocks = Math.ceil(context / BLOCK_SIZE);
  const finalBlocks = Math.ceil((context + decodeSteps) / BLOCK_SIZE);
  const free = [...numBlocksPerRank];
  const count = numBlocksPerRank.map(() => 0);
  const cap = Math.min(want, limits.maxNumSeqs, limits.maxNumBatchedTokens);
  let n = 0;
  while (n < cap) {
    let best = -1;
    for (let r = 0; r < free.length; r++) if (numBlocksPerRank[r] >= promptBlocks && (best < 0 || free[r] > free[best])) best = r;
    if (best < 0 || free[best] < promptBlocks || (count[best] + 1) * finalBlocks > numBlocksPerRank[best]) break;
    free[best] -= promptBlocks;
    count[best]++;
    n++;
  }
  let limitedBy: BatchFit['limitedBy'] = null;
  if (n < want) limitedBy = n < cap ? 'kv' : limits.maxNumSeqs <= limits.maxNumBatchedTokens ? 'maxNumSeqs' : 'maxNumBatchedTokens';
  return { maxBatch: n, seqsPerRank: count, limitedBy };
}

/**
 * Cuts a step of whole prompts (every request a prefill from position 0 of its rank) into
 * steps of at most `maxTokens` tokens and `maxSeqs` sequences, in order: a request's chunks
 * follow each other, each a prefill chunk with the block table it needs so far; the last chunk
 * of a request samples (needsLogits) as the original did. Each chunk keeps the token order
 * (grouped by rank).
 */
export function prefillChunks(out: SchedulerOutput, maxTokens: number, maxSeqs: number): SchedulerOutput[] {
  const tp = out.numTokensPerRank.length;
  const chunks: SchedulerOutput[] = [];
  let pieces: ScheduledRequest[] = [];
  let tokens = 0;
  const emit = () => {
    if (!pieces.length) return;
    pieces.sort((a, b) => a.rank - b.rank); // stable: a rank's pieces stay in order
    const numTokensPerRank = new Array<number>(tp).fill(0);
    const numSeqsPerRank = new Array<number>(tp).fill(0);
    for (const p of pieces) {
      numTokensPerRank[p.rank] += p.tokenIds.length;
      numSeqsPerRank[p.rank]++;
    }
    chunks.push({
      stepId: out.stepId,
      requests: pieces,
      numScheduledTokens: tokens,
      numTokensPerRank,
      numSeqsPerRank,
      numDecodesPerRank: new Array<number>(tp).fill(0),
      preemptedRequestIds: [],
      finishedRequestIds: [],
      abortedRequestIds: [],
      errors: [],
    });
    pieces = [];
    tokens = 0;
  };
  for (const r of out.requests) {
    if (!r.isPrefill) throw new Error(`prefillChunks: ${r.requestId} is not a prefill`);
    const len = r.tokenIds.length;
    for (let a = 0; a < len; ) {
      if (tokens === maxTokens || pieces.length === maxSeqs) emit();
      const b = Math.min(len, a + maxTokens - tokens);
      const seqLen = r.positionStart + b;
      pieces.push({
        ...r,
        tokenIds: r.tokenIds.slice(a, b),
        positionStart: r.positionStart + a,
        seqLen,
        blockTable: r.blockTable.slice(0, Math.ceil(seqLen / BLOCK_SIZE)),
        slotMapping: r.slotMapping.slice(a, b),
        needsLogits: r.needsLogits && b === len,
      });
      tokens += b - a;
      a = b;
    }
  }
  emit();
  return chunks;
}

/** Mean, median, 90th percentile, min and max of a list of step times. */
export function stepStats(ms: readonly number[]): { mean: number; p50: number; p90: number; min: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, p50: at(0.5), p90: at(0.9), min: s[0], max: s[s.length - 1] };
}

/** One (batch, context) case of `tknp bench decode`. */
export interface DecodeCase {
  readonly batch: number;
  readonly context: number;
}

/** The cases to run: the explicit list, else every context × every batch (contexts outer, batches inner). */
export function caseList(o: { readonly batches: readonly number[]; readonly contexts: readonly number[]; readonly cases?: readonly DecodeCase[] }): DecodeCase[] {
  if (o.cases) return [...o.cases];
  return o.contexts.flatMap((context) => o.batches.map((batch) => ({ batch, context })));
}

export class DecodeCasesError extends Error {
  override readonly name = 'DecodeCasesError';
}

/** Parses `--cases`: comma-separated BATCHxCONTEXT pairs, e.g. '1x4096,64x4096,256x1024'. */
export function parseDecodeCases(s: string): DecodeCase[] {
  const items = String(s)
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
  if (!items.length) throw new DecodeCasesError(`--cases wants BATCHxCONTEXT pairs separated by commas (e.g. 1x4096,64x4096), got '${s}'`);
  const seen = new Set<string>();
  return items.map((item) => {
    const m = /^(\d+)\s*[xX×]\s*(\d+)$/.exec(item);
    const batch = m ? Number(m[1]) : NaN;
    const context = m ? Number(m[2]) : NaN;
    if (!m || batch < 1 || context < 1) throw new DecodeCasesError(`--cases: '${item}' is not BATCHxCONTEXT with positive integers (e.g. 64x4096)`);
    if (seen.has(`${batch}x${context}`)) throw new DecodeCasesError(`--cases: '${item}' is listed twice`);
    seen.add(`${batch}x${context}`);
    return { batch, context };
  });
}
