// `tknp bench decode --ttft N`: time to first token of one N-token prompt through the engine —
// the whole prompt in one prefill step (schedule → execute on every rank → the first token read
// back), after one untimed warm-up prefill of another prompt of the same length. Comparable to
// the prefill row of tools/bench_decode_pytorch.py (one eager forward of the same prompt length).
import type { EngineConfig } from '../engine/config.js';
import type { Executor } from '../engine/executor.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { Rng } from '../util/rng.js';
import { BLOCK_SIZE } from '../kv/kv_cache_manager.js';
import { execute, GREEDY } from './decode_step.js';

export interface TtftResult {
  /** Prompt tokens. */
  readonly tokens: number;
  /** Wall-clock ms of each timed prefill step (after the warm-up one). */
  readonly runsMs?: readonly number[];
  /** Median of runsMs. */
  readonly ms?: number;
  /** Prompt tokens per second of the median run. */
  readonly tokensPerSecond?: number;
  readonly skipped?: string;
}

/** Timed prefills after the warm-up one. */
const TIMED_RUNS = 3;

export async function runTtft(ex: Executor, config: EngineConfig, tokens: number, seed: number, log: (l: string) => void): Promise<TtftResult> {
  if (tokens + 1 > ex.maxModelLen) return { tokens, skipped: `a ${tokens}-token prompt exceeds maxModelLen ${ex.maxModelLen}` };
  if (tokens > config.maxNumBatchedTokens) return { tokens, skipped: `a ${tokens}-token prompt exceeds maxNumBatchedTokens ${config.maxNumBatchedTokens} (one step)` };
  const blocks = Math.ceil((tokens + 1) / BLOCK_SIZE);
  if (!ex.numBlocksPerRank.some((n) => n >= blocks)) return { tokens, skipped: `a ${tokens}-token prompt needs ${blocks} KV blocks; ranks hold ${ex.numBlocksPerRank.join(', ')}` };
  const scheduler = new Scheduler({
    tokenParallelSize: config.tokenParallelSize,
    numBlocksPerRank: ex.numBlocksPerRank,
    maxNumBatchedTokens: tokens,
    maxNumSeqs: 1,
    maxModelLen: ex.maxModelLen,
  });
  const rng = new Rng(seed + 104729 * tokens);
  const vocab = ex.modelConfig.vocabSize;
  const runsMs: number[] = [];
  for (let run = 0; run <= TIMED_RUNS; run++) {
    const id = `ttft-${tokens}-${run}`;
    scheduler.addRequest(id, Array.from({ length: tokens }, () => rng.int(0, vocab - 1)), { ...GREEDY, maxTokens: 2 });
    const t = performance.now();
    const out = scheduler.schedule();
    if (out.numScheduledTokens !== tokens || out.requests.length !== 1) {
      throw new Error(`bench decode --ttft: the scheduler scheduled ${out.numScheduledTokens} of ${tokens} prompt tokens in one step`);
    }
    const first = await execute(ex, out, scheduler.maxBlocksPerSeq);
    const ms = performance.now() - t;
    if (!first.has(id)) throw new Error(`bench decode --ttft: the prefill step sampled no first token for ${id}`);
    scheduler.updateFromOutput(out, first);
    scheduler.abortRequest(id);
    if (run > 0) runsMs.push(ms);
    log(`[tknp] prefill of ${tokens} tokens (${run === 0 ? 'warm-up' : `timed ${run}/${TIMED_RUNS}`}): ${ms.toFixed(1)} ms`);
  }
  const sorted = [...runsMs].sort((a, b) => a - b);
  const ms = sorted[Math.floor(sorted.length / 2)];
  return { tokens, runsMs, ms, tokensPerSecond: tokens / (ms / 1000) };
}
