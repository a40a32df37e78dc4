// GET /metrics of `tknp serve`, parsed by the official Prometheus client's text parser: vLLM's
// metric names and types, counters and histograms that add up to what the requests did (tokens,
// finish reasons, one TTFT and e2e observation per request, one inter-token observation per
// later token), live gauges while a request runs (running, KV blocks used, sequences placed),
// the per-request log line; with two token-parallel ranks, per-rank gauges for both and the
// attention time per step of the attention-only rank.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LLM } from '../../src/engine/llm.js';
import { TknpServer } from '../../src/server/server.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { parsePrometheus, prometheusParserMissing, sampleValue, type PromFamily } from '../helpers/prometheus.js';
import { serverEngineOptions, type Json } from '../helpers/server.js';

const gpu = await testGpu();
const missing = gpu ? prometheusParserMissing() : undefined;
if (missing) console.warn(`[tknp tests] /metrics tests skipped: ${missing}`);
const skip = !gpu || missing !== undefined;

const VLLM: [string, string][] = [
  ['vllm:num_requests_running', 'gauge'],
  ['vllm:num_requests_waiting', 'gauge'],
  ['vllm:gpu_cache_usage_perc', 'gauge'],
  ['vllm:kv_cache_usage_perc', 'gauge'],
  ['vllm:num_preemptions', 'counter'],
  ['vllm:prompt_tokens', 'counter'],
  ['vllm:generation_tokens', 'counter'],
  ['vllm:request_success', 'counter'],
  ['vllm:time_to_first_token_seconds', 'histogram'],
  ['vllm:time_per_output_token_seconds', 'histogram'],
  ['vllm:inter_token_latency_seconds', 'histogram'],
  ['vllm:e2e_request_latency_seconds', 'histogram'],
  ['vllm:request_prompt_tokens', 'histogram'],
  ['vllm:request_generation_tokens', 'histogram'],
  ['tknp:kv_blocks_used', 'gauge'],
  ['tknp:kv_blocks_total', 'gauge'],
  ['tknp:sequences_placed', 'gauge'],
  ['tknp:engine_steps', 'counter'],
  ['vllm:prefix_cache_queries', 'counter'],
  ['vllm:prefix_cache_hits', 'counter'],
  ['tknp:kv_blocks_cached', 'gauge'],
  ['tknp:prefix_cache_queries', 'counter'],
  ['tknp:prefix_cache_hits', 'counter'],
  ['tknp:prefill_tokens_computed', 'counter'],
  ['tknp:weights_info', 'gauge'],
];

async function scrape(base: string): Promise<Map<string, PromFamily>> {
  const r = await fetch(`${base}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await r.text());
}

/** Histogram buckets are cumulative and end in +Inf = _count. */
function expectHistogram(f: PromFamily, labels: Record<string, string>): { count: number; sum: number } {
  const mine = f.samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  const buckets = mine.filter((s) => s.name.endsWith('_bucket'));
  for (let i = 1; i < buckets.length; i++) expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
  expect(buckets.at(-1)!.labels.le).toBe('+Inf');
  const count = mine.find((s) => s.name.endsWith('_count'))!.value;
  expect(buckets.at(-1)!.value).toBe(count);
  return { count, sum: mine.find((s) => s.name.endsWith('_sum'))!.value };
}

describe.skipIf(skip)(`GET /metrics ${skip ? `(skipped: ${missing ?? noGpuReason()})` : ''}`, () => {
  let llm: LLM;
  let server: TknpServer;
  let base: string;
  const log: string[] = [];
  const m = { model_name: 'tiny-llama' };
  const post = (body: unknown) => fetch(`${base}/v1/completions`, { method: 'POST', body: JSON.stringify(body) });

  beforeAll(async () => {
    llm = await LLM.create(serverEngineOptions());
    server = await TknpServer.start(llm.engine, { port: 0, log: (l) => log.push(l) });
    base = server.url;
  });
  afterAll(async () => {
    await server?.close();
    await llm?.shutdown();
  });

  it('vLLM names and types; counters and histograms add up to the requests served; a log line per request', async () => {
    const before = await scrape(base);
    for (const [name, type] of VLLM) expect(before.get(name)?.type, name).toBe(type);
    expect(sampleValue(before, 'tknp:kv_blocks_total', 'tknp:kv_blocks_total', { rank: '0' })).toBe(64);
    expect(sampleValue(before, 'tknp:weights_info', 'tknp:weights_info', { ...m, format: 'f16' })).toBe(1);
    const lengths = [3, 5, 8];
    const replies = (await Promise.all(lengths.map((n, i) => post({ prompt: `request number ${i}`, max_tokens: n, temperature: 0, ignore_eos: true }).then((r) => r.json() as Promise<Json>)))) as Json[];
    const promptTokens = replies.reduce((a, r) => a + r.usage.prompt_tokens, 0);
    const after = await scrape(base);
    expect(sampleValue(after, 'vllm:generation_tokens', 'vllm:generation_tokens_total', m)).toBe(16);
    expect(sampleValue(after, 'vllm:prompt_tokens', 'vllm:prompt_tokens_total', m)).toBe(promptTokens);
    expect(sampleValue(after, 'vllm:request_success', 'vllm:request_success_total', { ...m, finished_reason: 'length' })).toBe(3);
    expect(expectHistogram(after.get('vllm:time_to_first_token_seconds')!, m).count).toBe(3);
    expect(expectHistogram(after.get('vllm:e2e_request_latency_seconds')!, m).count).toBe(3);
    expect(expectHistogram(after.get('vllm:inter_token_latency_seconds')!, m).count).toBe(16 - 3);
    expect(expectHistogram(after.get('vllm:time_per_output_token_seconds')!, m).count).toBe(16 - 3);
    expect(expectHistogram(after.get('vllm:request_generation_tokens')!, m).sum).toBe(16);
    expect(sampleValue(after, 'vllm:num_requests_running', 'vllm:num_requests_running', m)).toBe(0);
    expect(sampleValue(after, 'vllm:gpu_cache_usage_perc', 'vllm:gpu_cache_usage_perc', m)).toBe(0);
    expect(sampleValue(after, 'tknp:engine_steps', 'tknp:engine_steps_total')).toBeGreaterThanOrEqual(8);
    const lines = log.filter((l) => / length: prompt \d+ tokens, generated \d+/.test(l));
    expect(lines.map((l) => Number(/generated (\d+)/.exec(l)![1])).sort((a, b) => a - b)).toEqual(lengths);
  });

  it('prefix cache: queries and hits in tokens (vLLM names and per rank), cached blocks, prefill tokens computed, usage.prompt_tokens_details.cached_tokens, the stats line', async () => {
    const value = (f: Map<string, PromFamily>, family: string, name: string, labels: Record<string, string> = m) => sampleValue(f, family, name, labels) ?? 0;
    const before = await scrape(base);
    const prompt = 'The quick brown fox jumps over the lazy dog. '.repeat(6);
    const send = async () => ((await (await post({ prompt, max_tokens: 2, temperature: 0, ignore_eos: true })).json()) as Json).usage;
    const first = await send();
    const second = await send();
    const p = first.prompt_tokens as number;
    const hit = Math.floor((p - 1) / 16) * 16; // every full block before the last token
    expect(p).toBeGreaterThan(32);
    expect([first.prompt_tokens_details.cached_tokens, second.prompt_tokens_details.cached_tokens]).toEqual([0, hit]);
    const after = await scrape(base);
    const delta = (family: string, name: string, labels?: Record<string, string>) => value(after, family, name, labels) - value(before, family, name, labels);
    expect(delta('vllm:prefix_cache_queries', 'vllm:prefix_cache_queries_total')).toBe(2 * p);
    expect(delta('vllm:prefix_cache_hits', 'vllm:prefix_cache_hits_total')).toBe(hit);
    expect(delta('tknp:prefix_cache_queries', 'tknp:prefix_cache_queries_total', { rank: '0' })).toBe(2 * p);
    expect(delta('tknp:prefix_cache_hits', 'tknp:prefix_cache_hits_total', { rank: '0' })).toBe(hit);
    expect(delta('tknp:prefill_tokens_computed', 'tknp:prefill_tokens_computed_total')).toBe(2 * p - hit);
    expect(value(after, 'tknp:kv_blocks_cached', 'tknp:kv_blocks_cached', { rank: '0' })).toBeGreaterThanOrEqual(Math.floor(p / 16));
    expect(server.metrics.statsLine()).toMatch(/^running 0, waiting 0; KV cache 0\.0% used; \d+ prefill tokens computed, \d+ generated; prefix cache hit rate \d+\.\d% \(\d+ of \d+ tokens looked up by \d+ admissions\), \d+ blocks cached$/);
  });

  it('live gauges while a request runs: running 1, its KV blocks in use on rank 0, one sequence placed', async () => {
    const ac = new AbortController();
    const r = await fetch(`${base}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'a long one', max_tokens: 200, temperature: 0, ignore_eos: true, stream: true }), signal: ac.signal });
    const reader = (r.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    const live = await scrape(base);
    ac.abort();
    expect(sampleValue(live, 'vllm:num_requests_running', 'vllm:num_requests_running', m)).toBe(1);
    const used = sampleValue(live, 'tknp:kv_blocks_used', 'tknp:kv_blocks_used', { rank: '0' })!;
    expect(used).toBeGreaterThanOrEqual(1);
    expect(sampleValue(live, 'vllm:gpu_cache_usage_perc', 'vllm:gpu_cache_usage_perc', m)).toBeCloseTo(used / 64, 10);
    expect(sampleValue(live, 'tknp:sequences_placed', 'tknp:sequences_placed', { rank: '0' })).toBe(1);
    // The abort's final output (which the metrics count) comes with the engine's next step.
    for (let i = 0; i < 500 && (server.loop.numActive > 0 || llm.engine.hasUnfinishedRequests()); i++) await new Promise((res) => setTimeout(res, 10));
    const done = await scrape(base);
    expect(sampleValue(done, 'vllm:request_success', 'vllm:request_success_total', { ...m, finished_reason: 'abort' })).toBe(1);
    expect(sampleValue(done, 'tknp:kv_blocks_used', 'tknp:kv_blocks_used', { rank: '0' })).toBe(0);
  });
});

describe.skipIf(skip)(`GET /metrics with two token-parallel ranks ${skip ? `(skipped: ${missing ?? noGpuReason()})` : ''}`, () => {
  it('per-rank KV blocks and placement for both ranks, and the attention time per step of rank 1', async () => {
    const llm = await LLM.create({ ...serverEngineOptions(), tokenParallelSize: 2 });
    const server = await TknpServer.start(llm.engine, { port: 0, log: () => {} });
    try {
      const post = (prompt: string) => fetch(`${server.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt, max_tokens: 150, temperature: 0, ignore_eos: true }) });
      // Two requests land on different ranks (placement prefers the rank with more free blocks).
      const running = Promise.all([post('first'), post('second')]);
      let seen: Map<string, PromFamily> | undefined;
      for (let i = 0; i < 300 && !seen; i++) {
        const f = await scrape(server.url);
        const both = ['0', '1'].every((rank) => sampleValue(f, 'tknp:sequences_placed', 'tknp:sequences_placed', { rank }) === 1);
        if (both && (sampleValue(f, 'tknp:attention_seconds_per_step', 'tknp:attention_seconds_per_step', { rank: '1' }) ?? 0) > 0) seen = f;
        else await new Promise((r) => setTimeout(r, 50));
      }
      expect(seen, 'a scrape with a sequence on each rank and rank 1 attention measured').toBeDefined();
      for (const rank of ['0', '1']) {
        expect(sampleValue(seen!, 'tknp:kv_blocks_total', 'tknp:kv_blocks_total', { rank })).toBe(64);
        expect(sampleValue(seen!, 'tknp:kv_blocks_used', 'tknp:kv_blocks_used', { rank })).toBeGreaterThanOrEqual(1);
      }
      expect(sampleValue(seen!, 'tknp:attention_seconds_per_step', 'tknp:attention_seconds_per_step', { rank: '0' })).toBeUndefined();
      for (const r of await running) expect(r.status).toBe(200);
    } finally {
      await server.close();
      await llm.shutdown();
    }
  });
});
