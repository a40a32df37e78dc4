// `tknp bench serve`: a client that drives a running OpenAI-compatible server (tknp serve, or
// any other) like vLLM's serving benchmark: synthetic prompts of exact token lengths (random
// token ids; EOS ignored so every request generates exactly outputLen tokens), sent at a Poisson
// request rate (or all at once, 'inf'), optionally capped at a maximum concurrency, streamed
// over SSE. Per request: TTFT (send → first text chunk), ITL (gaps between chunks), TPOT
// ((e2e − TTFT) / (tokens − 1)) and end-to-end latency; per run: request and token throughput
// and p50/p90/p99 of each latency. With `sharedPrefixLen`, every prompt starts with the same
// random prefix (a system prompt; vLLM's --random-prefix-len) before its own inputLen tokens, and
// the prompt tokens the server took from its prefix cache (usage.prompt_tokens_details.
// cached_tokens, where the server reports them) give the hit rate, the prefill tokens computed
// and the TTFT of hits and misses apart. The warm-up request (a prompt of its own) shares the
// prefix, so with a cache the timed requests find the system prompt cached, as a server in steady
// state would.
import { Rng } from '../util/rng.js';
import { percentile } from './timing.js';

export interface ServeBenchOptions {
  /** Server base URL, e.g. http://127.0.0.1:8000. */
  readonly url: string;
  readonly apiKey?: string;
  /** Model id (default: the first of GET /v1/models). */
  readonly model?: string;
  readonly numPrompts: number;
  readonly inputLen: number;
  readonly outputLen: number;
  /** Tokens of a prefix every prompt starts with (default 0: none); inputLen tokens follow it. */
  readonly sharedPrefixLen?: number;
  /** Requests per second of each run (Infinity: all at once). */
  readonly requestRates: readonly number[];
  /** Most requests in flight (undefined: no cap). */
  readonly maxConcurrency?: number;
  /** Prompt token ids are drawn from [10, vocab) (default 1000: valid for any model's vocabulary). */
  readonly vocab?: number;
  readonly seed: number;
  readonly log?: (line: string) => void;
}

export interface LatencyStats {
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

export interface ServeRunResult {
  readonly requestRate: number | 'inf';
  readonly maxConcurrency: number | null;
  readonly completed: number;
  readonly failed: number;
  readonly durationS: number;
  readonly totalInputTokens: number;
  readonly totalOutputTokens: number;
  readonly requestThroughput: number;
  readonly outputThroughput: number;
  readonly totalTokenThroughput: number;
  /** Milliseconds. */
  readonly ttftMs: LatencyStats;
  readonly tpotMs: LatencyStats;
  readonly itlMs: LatencyStats;
  readonly e2elMs: LatencyStats;
  /** Prompt tokens served from the prefix cache (null: the server does not report cached_tokens). */
  readonly totalCachedTokens: number | null;
  /** Prompt tokens the server prefilled: input − cached (null: not reported). */
  readonly prefillTokensComputed: number | null;
  /** Requests with cached prompt tokens, and TTFT of those with and without (ms). */
  readonly numHits: number | null;
  readonly ttftHitMs: LatencyStats | null;
  readonly ttftMissMs: LatencyStats | null;
  readonly errors: readonly string[];
}

export interface ServeBenchReport {
  readonly url: string;
  readonly model: string;
  readonly numPrompts: number;
  readonly inputLen: number;
  readonly outputLen: number;
  readonly sharedPrefixLen: number;
  readonly seed: number;
  readonly date: string;
  readonly command: string;
  readonly runs: readonly ServeRunResult[];
}

/** One request's measurements (ms, from performance.now()). */
export interface RequestTiming {
  readonly ok: boolean;
  readonly error?: string;
  readonly promptTokens: number;
  readonly outputTokens: number;
  /** usage.prompt_tokens_details.cached_tokens, when the server reports it. */
  readonly cachedTokens?: number;
  readonly ttftMs: number;
  readonly e2eMs: number;
  readonly itlMs: readonly number[];
}

/** Send times (seconds after the start) of n requests at a Poisson rate (Infinity: all at 0). */
export function poissonSchedule(n: number, rate: number, rng: Rng): number[] {
  if (!(rate > 0)) throw new RangeError(`request rate must be > 0, got ${rate}`);
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    out.push(t);
    if (Number.isFinite(rate)) t += -Math.log(1 - rng.next()) / rate;
  }
  return out;
}

/** n prompts of `len` token ids from [10, vocab), each after the same `prefixLen` ids (default 0). */
export function syntheticPrompts(n: number, len: number, vocab: number, rng: Rng, prefixLen = 0): number[][] {
  if (vocab <= 10) throw new RangeError(`vocab must be > 10, got ${vocab}`);
  const ids = (k: number) => Array.from({ length: k }, () => rng.int(10, vocab - 1));
  const prefix = ids(prefixLen);
  return Array.from({ length: n }, () => [...prefix, ...ids(len)]);
}

export function latencyStats(xs: readonly number[]): LatencyStats {
  const s = [...xs].sort((a, b) => a - b);
  return { mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99) };
}

function headers(o: ServeBenchOptions): Record<string, string> {
  return { 'Content-Type': 'application/json', ...(o.apiKey ? { Authorization: `Bearer ${o.apiKey}` } : {}) };
}

/** Sends one streamed completion and times it. */
export async function timedCompletion(o: ServeBenchOptions, model: string, prompt: readonly number[], outputLen: number): Promise<RequestTiming> {
  const t0 = performance.now();
  const fail = (error: string): RequestTiming => ({ ok: false, error, promptTokens: prompt.length, outputTokens: 0, ttftMs: NaN, e2eMs: performance.now() - t0, itlMs: [] });
  let res: Response;
  try {
    res = await fetch(`${o.url}/v1/completions`, {
      method: 'POST',
      headers: headers(o),
      body: JSON.stringify({ model, prompt, max_tokens: outputLen, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
    });
  } catch (e) {
    return fail(`fetch failed: ${(e as Error).message}`);
  }
  if (res.status !== 200) return fail(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
  let first = NaN;
  let last = NaN;
  const itl: number[] = [];
  let usage: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: { cached_tokens?: number } | null } | undefined;
  let buf = '';
  const decoder = new TextDecoder();
  for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(piece, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const data = buf.slice(buf.indexOf('data: ') + 6, end);
      buf = buf.slice(end + 2);
      if (data === '[DONE]') continue;
      const ev = JSON.parse(data) as { choices?: { text?: string }[]; usage?: typeof usage; error?: { message: string } };
      if (ev.error) return fail(`stream error: ${ev.error.message}`);
      if (ev.usage) usage = ev.usage;
      if (!ev.choices?.[0]?.text) continue;
      const now = performance.now();
      if (Number.isNaN(first)) first = now;
      else itl.push(now - last);
      last = now;
    }
  }
  const e2e = performance.now() - t0;
  if (!usage) return fail('no usage in the stream');
  const cached = usage.prompt_tokens_details?.cached_tokens;
  return { ok: true, promptTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens, ...(typeof cached === 'number' ? { cachedTokens: cached } : {}), ttftMs: first - t0, e2eMs: e2e, itlMs: itl };
}

/** Runs the requests of one rate; resolves with the run's statistics. */
async function runOnce(o: ServeBenchOptions, model: string, prompts: readonly number[][], rate: number): Promise<ServeRunResult> {
  const schedule = poissonSchedule(prompts.length, rate, new Rng(o.seed ^ 0x5eed));
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  const acquire = async () => {
    if (o.maxConcurrency !== undefined) while (inFlight >= o.maxConcurrency) await new Promise<void>((r) => waiting.push(r));
    inFlight++;
  };
  const release = () => {
    inFlight--;
    waiting.shift()?.();
  };
  const start = performance.now();
  const timings = await Promise.all(
    prompts.map(async (p, i) => {
      const wait = start + schedule[i] * 1000 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await acquire();
      try {
        return await timedCompletion(o, model, p, o.outputLen);
      } finally {
        release();
      }
    }),
  );
  const durationS = (performance.now() - start) / 1000;
  const ok = timings.filter((t) => t.ok);
  const inTok = ok.reduce((a, t) => a + t.promptTokens, 0);
  const outTok = ok.reduce((a, t) => a + t.outputTokens, 0);
  const reported = ok.length > 0 && ok.every((t) => t.cachedTokens !== undefined);
  const cached = reported ? ok.reduce((a, t) => a + t.cachedTokens!, 0) : null;
  const hits = ok.filter((t) => (t.cachedTokens ?? 0) > 0);
  const misses = ok.filter((t) => (t.cachedTokens ?? 0) === 0);
  return {
    requestRate: Number.isFinite(rate) ? rate : 'inf',
    maxConcurrency: o.maxConcurrency ?? null,
    completed: ok.length,
    failed: timings.length - ok.length,
    durationS,
    totalInputTokens: inTok,
    totalOutputTokens: outTok,
    requestThroughput: ok.length / durationS,
    outputThroughput: outTok / durationS,
    totalTokenThroughput: (inTok + outTok) / durationS,
    ttftMs: latencyStats(ok.map((t) => t.ttftMs)),
    tpotMs: latencyStats(ok.filter((t) => t.outputTokens > 1).map((t) => (t.e2eMs - t.ttftMs) / (t.outputTokens - 1))),
    itlMs: latencyStats(ok.flatMap((t) => t.itlMs)),
    e2elMs: latencyStats(ok.map((t) => t.e2eMs)),
    totalCachedTokens: cached,
    prefillTokensComputed: cached === null ? null : inTok - cached,
    numHits: reported ? hits.length : null,
    ttftHitMs: reported && hits.length ? latencyStats(hits.map((t) => t.ttftMs)) : null,
    ttftMissMs: reported && misses.length ? latencyStats(misses.map((t) => t.ttftMs)) : null,
    errors: [...new Set(timings.filter((t) => !t.ok).map((t) => t.error!))].slice(0, 5),
  };
}

/** The model id to use: the option, or the server's first. */
async function modelOf(o: ServeBenchOptions): Promise<string> {
  if (o.model) return o.model;
  const r = await fetch(`${o.url}/v1/models`, { headers: headers(o) });
  if (r.status !== 200) throw new Error(`GET ${o.url}/v1/models: HTTP ${r.status}: ${(await r.text()).slice(0, 200)}`);
  const j = (await r.json()) as { data: { id: string }[] };
  return j.data[0].id;
}

export async function runServeBench(o: ServeBenchOptions, command = ''): Promise<ServeBenchReport> {
  for (const [k, v] of [['numPrompts', o.numPrompts], ['inputLen', o.inputLen], ['outputLen', o.outputLen]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${k} must be a positive integer, got ${v}`);
  }
  const prefixLen = o.sharedPrefixLen ?? 0;
  if (!Number.isInteger(prefixLen) || prefixLen < 0) throw new RangeError(`sharedPrefixLen must be an integer >= 0, got ${prefixLen}`);
  if (o.maxConcurrency !== undefined && !(Number.isInteger(o.maxConcurrency) && o.maxConcurrency >= 1)) throw new RangeError(`maxConcurrency must be a positive integer, got ${o.maxConcurrency}`);
  if (o.requestRates.length === 0 || o.requestRates.some((r) => !(r > 0))) throw new RangeError(`request rates must be > 0 (or inf), got ${o.requestRates.join(',')}`);
  const model = await modelOf(o);
  // With a shared prefix the warm-up gets a prompt of its own (the same prefix), so that no timed
  // request repeats a whole prompt the cache holds.
  const prompts = syntheticPrompts(o.numPrompts + (prefixLen > 0 ? 1 : 0), o.inputLen, o.vocab ?? 1000, new Rng(o.seed), prefixLen);
  const warmPrompt = prefixLen > 0 ? prompts.pop()! : prompts[0];
  // Warm-up: one short request (compiles pipelines, checks the server answers) before timing.
  const warm = await timedCompletion(o, model, warmPrompt, Math.min(4, o.outputLen));
  if (!warm.ok) throw new Error(`warm-up request failed: ${warm.error}`);
  const runs: ServeRunResult[] = [];
  for (const rate of o.requestRates) {
    o.log?.(`bench serve: ${o.numPrompts} requests at ${Number.isFinite(rate) ? `${rate} req/s` : 'once (inf)'}${o.maxConcurrency ? `, at most ${o.maxConcurrency} in flight` : ''} (input ${prefixLen ? `${prefixLen} shared + ` : ''}${o.inputLen}, output ${o.outputLen} tokens)`);
    runs.push(await runOnce(o, model, prompts, rate));
  }
  return { url: o.url, model, numPrompts: o.numPrompts, inputLen: o.inputLen, outputLen: o.outputLen, sharedPrefixLen: prefixLen, seed: o.seed, date: new Date().toISOString(), command, runs };
}
