// The stdout / Markdown table of `tknp bench serve` (the JSON report is ServeBenchReport itself).
import type { LatencyStats, ServeBenchReport } from './serve.js';

const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const lat = (s: LatencyStats) => `${f(s.p50)} / ${f(s.p90)} / ${f(s.p99)}`;

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
  const lines = [
    `tknp bench serve: ${rep.model} at ${rep.url}; ${rep.numPrompts} requests per run, input ${rep.inputLen} / output ${rep.outputLen} tokens, seed ${rep.seed}`,
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
  for (const r of rep.runs) for (const e of r.errors) lines.push(`errors at rate ${r.requestRate}: ${e}`);
  return lines.join('\n');
}
