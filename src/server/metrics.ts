// The metrics of `tknp serve` (GET /metrics, Prometheus text format) and its per-request log
// line. vLLM's metric names where one exists (vllm:num_requests_running, ...:waiting,
// ...:gpu_cache_usage_perc, the TTFT / inter-token / end-to-end latency histograms with vLLM's
// buckets, prompt and generation token counters, preemptions, finished requests by reason,
// prefix-cache queries and hits in tokens), plus tknp's own per token-parallel rank: KV blocks
// used, cached and total, sequences placed, prefix-cache queries and hits, and the attention time
// per step of the ranks that measure it; the prefill tokens actually computed; and the weight format (tknp:weights_info). Engine state is read when scraped;
// latencies are observed from every request output the engine loop delivers.
import type { LLMEngine, RequestOutput } from '../engine/llm_engine.js';
import { prefixCacheSummary } from '../scheduler/prefix_cache_summary.js';
import { Collected, Counter, Histogram, Registry, type Labels } from './prometheus.js';

const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const TPOT_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const E2E_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

/** 1, 2, 5, 10, 20, 50, ... up to `max` (vLLM's token-count buckets). */
function tokenBuckets(max: number): number[] {
  const out: number[] = [];
  for (let m = 1; m <= max; m *= 10) for (const f of [1, 2, 5]) if (f * m <= max) out.push(f * m);
  return out;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly lastTokenMs = new Map<string, number>();
  private readonly model: Labels;
  private readonly ttft: Histogram;
  private readonly itl: Histogram;
  private readonly tpot: Histogram;
  private readonly e2e: Histogram;
  private readonly promptHist: Histogram;
  private readonly genHist: Histogram;
  private readonly promptTokens: Counter;
  private readonly genTokens: Counter;
  private readonly finished: Counter;

  constructor(
    private readonly engine: LLMEngine,
    modelName: string,
    /** Receives one line per finished request; undefined: no request log. */
    private readonly log?: (line: string) => void,
  ) {
    const m = (this.model = { model_name: modelName });
    const r = this.registry;
    const sched = engine.scheduler;
    const ranks = Array.from({ length: sched.tokenParallelSize }, (_, k) => k);
    const kv = (k: number) => sched.kvManager(k);
    r.register(new Collected('gauge', 'vllm:num_requests_running', 'Requests placed on a rank (holding KV blocks).', () => [[m, sched.numRunning]]));
    r.register(new Collected('gauge', 'vllm:num_requests_waiting', 'Requests waiting to be admitted (incl. preempted ones).', () => [[m, sched.numWaiting]]));
    const usage = (): [Labels, number][] => {
      const total = ranks.reduce((a, k) => a + kv(k).numBlocks, 0);
      const used = ranks.reduce((a, k) => a + kv(k).numBlocks - kv(k).numFreeBlocks, 0);
      return [[m, total ? used / total : 0]];
    };
    r.register(new Collected('gauge', 'vllm:gpu_cache_usage_perc', 'KV cache usage over every token-parallel rank (1 = full).', usage));
    r.register(new Collected('gauge', 'vllm:kv_cache_usage_perc', 'KV cache usage over every token-parallel rank (1 = full); newer name of vllm:gpu_cache_usage_perc.', usage));
    r.register(new Collected('counter', 'vllm:num_preemptions_total', 'Requests preempted (by recompute) since start.', () => [[m, engine.stats.preemptions]]));
    r.register(new Collected('counter', 'vllm:prefix_cache_queries_total', 'Prefix cache queries: tokens of the requests admitted with prefix caching on.', () => [[m, sched.prefixCacheStats().queries]]));
    r.register(new Collected('counter', 'vllm:prefix_cache_hits_total', 'Prefix cache hits: tokens found in the cache (their prefill skipped).', () => [[m, sched.prefixCacheStats().hits]]));
    r.register(new Collected('gauge', 'tknp:weights_info', 'Always 1; label format: the projections\' weight format (f16, int8, int4, w8a8, awq, gptq; embeddings and lm_head stay f16).', () => [[{ ...m, format: engine.weightFormat }, 1]]));
    r.register(new Collected('counter', 'tknp:prefill_tokens_computed_total', 'Tokens of prefill chunks computed (prompts minus prefix-cache hits, plus recomputes after preemption).', () => [[m, engine.stats.prefillTokens]]));
    this.promptTokens = r.register(new Counter('vllm:prompt_tokens_total', 'Prompt tokens of requests whose prefill completed.'));
    this.genTokens = r.register(new Counter('vllm:generation_tokens_total', 'Generated tokens.'));
    this.finished = r.register(new Counter('vllm:request_success_total', 'Finished requests by finish reason (stop, length, abort, error).'));
    this.ttft = r.register(new Histogram('vllm:time_to_first_token_seconds', 'Time from arrival to the first generated token.', TTFT_BUCKETS));
    this.tpot = r.register(new Histogram('vllm:time_per_output_token_seconds', 'Time between two generated tokens of a request (vLLM V1 meaning; also vllm:inter_token_latency_seconds).', TPOT_BUCKETS));
    this.itl = r.register(new Histogram('vllm:inter_token_latency_seconds', 'Time between two generated tokens of a request.', TPOT_BUCKETS));
    this.e2e = r.register(new Histogram('vllm:e2e_request_latency_seconds', 'Time from arrival to the final output of finished requests.', E2E_BUCKETS));
    const maxLen = engine.executor.maxModelLen;
    this.promptHist = r.register(new Histogram('vllm:request_prompt_tokens', 'Prompt tokens per finished request.', tokenBuckets(maxLen)));
    this.genHist = r.register(new Histogram('vllm:request_generation_tokens', 'Generated tokens per finished request.', tokenBuckets(maxLen)));
    const perRank = (f: (k: number) => number) => () => ranks.map((k) => [{ rank: String(k) }, f(k)] as const);
    r.register(new Collected('gauge', 'tknp:kv_blocks_used', 'KV blocks in use on each token-parallel rank.', perRank((k) => kv(k).numBlocks - kv(k).numFreeBlocks)));
    r.register(new Collected('gauge', 'tknp:kv_blocks_cached', 'KV blocks in the prefix cache (in use or evictable) on each token-parallel rank.', perRank((k) => kv(k).numCachedBlocks)));
    r.register(new Collected('counter', 'tknp:prefix_cache_queries_total', 'Prefix cache queries (tokens) of requests admitted on each token-parallel rank.', perRank((k) => kv(k).prefixCacheStats.queries)));
    r.register(new Collected('counter', 'tknp:prefix_cache_hits_total', 'Prefix cache hits (tokens) on each token-parallel rank.', perRank((k) => kv(k).prefixCacheStats.hits)));
    r.register(new Collected('gauge', 'tknp:kv_blocks_total', 'KV blocks of each token-parallel rank.', perRank((k) => kv(k).numBlocks)));
    r.register(new Collected('gauge', 'tknp:sequences_placed', 'Sequences holding KV blocks on each token-parallel rank.', perRank((k) => kv(k).numRequests)));
    r.register(
      new Collected('gauge', 'tknp:attention_seconds_per_step', 'Mean attention time per step of each attention-only rank (global rank; token parallelism), over about the last second.', () =>
        (engine.executor.attentionMsPerStep ?? []).flatMap((ms, rank) => (ms === undefined ? [] : [[{ rank: String(rank) }, ms / 1000] as const])),
      ),
    );
    r.register(new Collected('counter', 'tknp:engine_steps_total', 'Engine steps run since start.', () => [[{}, engine.stats.steps]]));
  }

  /** Records one output of a request (called for every output the engine loop delivers). */
  observe(o: RequestOutput, now = performance.now()): void {
    const m = this.model;
    const n = o.newTokenIds.length;
    if (n > 0) {
      const last = this.lastTokenMs.get(o.requestId);
      if (last === undefined) {
        this.ttft.observe((now - o.metrics.arrivalMs) / 1000, m);
        this.promptTokens.inc(m, o.promptTokenIds.length);
      } else {
        this.itl.observe((now - last) / 1000, m);
        this.tpot.observe((now - last) / 1000, m);
      }
      this.genTokens.inc(m, n);
      this.lastTokenMs.set(o.requestId, now);
    }
    if (!o.finished) return;
    this.lastTokenMs.delete(o.requestId);
    this.finished.inc({ ...m, finished_reason: o.finishReason ?? 'error' });
    const e2eMs = now - o.metrics.arrivalMs;
    this.e2e.observe(e2eMs / 1000, m);
    this.promptHist.observe(o.promptTokenIds.length, m);
    this.genHist.observe(o.tokenIds.length, m);
    if (this.log) {
      const ttft = o.metrics.firstTokenMs !== undefined ? `, first token ${(o.metrics.firstTokenMs - o.metrics.arrivalMs).toFixed(0)} ms` : '';
      const err = o.error ? ` (${o.error})` : '';
      this.log(`${o.requestId} ${o.finishReason}${err}: prompt ${o.promptTokenIds.length} tokens, generated ${o.tokenIds.length}${ttft}, total ${e2eMs.toFixed(0)} ms`);
    }
  }

  render(): string {
    return this.registry.render();
  }

  /** A status line: requests, KV usage, prefill tokens computed and the prefix cache (per rank with tknp > 1). */
  statsLine(): string {
    const e = this.engine;
    const sched = e.scheduler;
    let used = 0;
    let total = 0;
    for (let k = 0; k < sched.tokenParallelSize; k++) {
      const kv = sched.kvManager(k);
      used += kv.numBlocks - kv.numFreeBlocks;
      total += kv.numBlocks;
    }
    return `running ${sched.numRunning}, waiting ${sched.numWaiting}; KV cache ${((100 * used) / total).toFixed(1)}% used; ${e.stats.prefillTokens} prefill tokens computed, ${e.stats.generatedTokens} generated; ${prefixCacheSummary(sched)}`;
  }
}
