// The stdout / Markdown table of `tknp bench serve` (the JSON report is ServeBenchReport itself),
// and, where the server reports cached prompt tokens, a second table: prefix-cache hits, the
// prefill tokens the server computed, and time to first token of hits and misses apart.
import type { LatencyStats, ServeBenchReport } from './serve.js';

const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const lat = (s: LatencyStats) => `${f(s.p50)} / ${f(s.p90)} / ${f(s.p99)}`;
const table = (head: string[], rows: string[][]) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];

export function renderServeTable(rep: ServeBenchReport): string {
  const head = ['rate (req/s)', 'max conc.', 'ok / failed', 'duration s', 'req/s', 'output tok/s', 'total tok/s', 'TTFT ms p50/p90/p99', 'TPOT ms p50/p90/p99', 'ITL ms p50/p90/p99', 'E2E ms p50/p90/p99'];
  const rows = rep.runs.map((r) => [
    String(r.requestRate),
    r.maxConcurrency === null ? '-' : String(r.maxConcurrency),
    `${r.completed} / ${r.failed}`,
    f(r.durationS, 2),
    f(r.requestThroughput, 2),
    f(r.outputThroughput),
    f(r.totalTokenThroughput),
    lat(r.ttftMs),
    lat(r.tpotMs),
    lat(r.itlMs),
    lat(r.e2elMs),
  ]);
  const input = rep.sharedPrefixLen ? `${rep.sharedPrefixLen} shared + ${rep.inputLen}` : String(rep.inputLen);
  const lines = [`tknp bench serve: ${rep.model} at ${rep.url}; ${rep.numPrompts} requests per run, input ${input} / output ${rep.outputLen} tokens, seed ${rep.seed}`, ...table(head, rows)];
  const cached = rep.runs.filter((r) => r.totalCachedTokens !== null);
  if (cached.length > 0) {
    lines.push('', 'prefix cache (usage.prompt_tokens_details.cached_tokens):');
    const cacheHead = ['rate (req/s)', 'requests with a hit', 'cached prompt tokens', 'prefill tokens computed', 'TTFT ms of hits p50/p90/p99', 'TTFT ms of misses p50/p90/p99'];
    const cacheRows = cached.map((r) => [
      String(r.requestRate),
      `${r.numHits} of ${r.completed}`,
      `${r.totalCachedTokens} of ${r.totalInputTokens} (${f((100 * r.totalCachedTokens!) / r.totalInputTokens)}%)`,
      String(r.prefillTokensComputed),
      r.ttftHitMs ? lat(r.ttftHitMs) : '-',
      r.ttftMissMs ? lat(r.ttftMissMs) : '-',
    ]);
    lines.push(...table(cacheHead, cacheRows));
  }
  for (const r of rep.runs) for (const e of r.errors) lines.push(`errors at rate ${r.requestRate}: ${e}`);
  return lines.join('\n');
}
