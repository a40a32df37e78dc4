// `tknp bench decode --baseline FILE --markdown FILE --html FILE`: tknp's decode cases beside the
// PyTorch peer's (tokens/s ratio), the CPU ms to record a step, the bytes roofline, and the
// time-to-first-token and transformers `generate` rows, as Markdown (for bench/RESULTS.md) and
// as a self-contained HTML page with a tokens/s-against-batch chart per context.
import type { DecodeBenchReport } from './decode.js';
import { compareDecode, ratioCell, rooflineCopy, type DecodeComparison, type PeerReport } from './decode_baseline.js';
import { svgChart, type Series } from './svg.js';

export interface DecodeSummary {
  readonly report: DecodeBenchReport;
  readonly peer?: PeerReport & { readonly file: string };
  readonly copy?: { readonly gbps: number; readonly source: string };
  readonly comparison: readonly DecodeComparison[];
}

export function decodeSummary(report: DecodeBenchReport, peer: (PeerReport & { readonly file: string }) | undefined, copyGBpsFlag: number | undefined): DecodeSummary {
  const copy = rooflineCopy(copyGBpsFlag, peer);
  return { report, ...(peer ? { peer } : {}), ...(copy ? { copy } : {}), comparison: compareDecode(report, peer, copy?.gbps) };
}

/** The JSON report: tknp's, plus the baseline, the roofline's bandwidth and the joined rows. */
export function decodeSummaryJson(s: DecodeSummary): object {
  return { ...s.report, ...(s.peer ? { baseline: s.peer } : {}), ...(s.copy ? { rooflineCopy: s.copy } : {}), comparison: s.comparison };
}

const f = (x: number | undefined, digits = 1): string => (x === undefined ? '—' : x.toFixed(digits));

function peerCell(c: DecodeComparison): { ran: string; ms: string; tps: string } {
  if (!c.peer) return { ran: '—', ms: '—', tps: '—' };
  if (c.peer.skipped) return { ran: '0', ms: `skipped: ${c.peer.skipped}`, tps: '—' };
  return { ran: String(c.peer.ranBatch), ms: f(c.peer.stepMsMedian, 2), tps: f(c.peer.tokensPerSecond) };
}

interface Row {
  readonly cells: readonly string[];
}

const HEAD = ['batch', 'context', 'tknp ran', 'tknp step ms (mean)', 'tknp tokens/s', 'CPU ms to record', 'PyTorch ran', 'PyTorch step ms (median)', 'PyTorch tokens/s', '× PyTorch', 'bytes roofline ms', '% of roofline'];

function rows(s: DecodeSummary): Row[] {
  return s.comparison.map((c, i) => {
    const r = s.report.results[i];
    const p = peerCell(c);
    const tk = r.skipped ? { ms: `skipped: ${r.skipped}`, tps: '—' } : { ms: f(c.stepMsMean, 2), tps: f(c.tokensPerSecond) };
    return { cells: [String(c.batch), String(c.context), String(c.ranBatch), tk.ms, tk.tps, f(c.recordMs, 2), p.ran, p.ms, p.tps, ratioCell(c), f(c.rooflineMs, 2), f(c.pctOfRoofline, 0)] };
  });
}

/** Lines under the table: prefill time to first token (tknp, PyTorch eager) and transformers generate. */
export function sideLines(s: DecodeSummary): string[] {
  const out: string[] = [];
  const t = s.report.ttft;
  const p = s.peer?.prefill;
  if (t || p) {
    const tk = !t ? 'not run (--ttft)' : t.skipped ? `skipped: ${t.skipped}` : `${f(t.ms)} ms (median of ${t.runsMs!.length} after a warm-up; ${f(t.tokensPerSecond, 0)} prompt tokens/s)`;
    const pt = !p ? 'not in the baseline' : p.skipped ? `skipped: ${p.skipped}` : `${f(p.ttftMs)} ms (${p.impl ?? 'eager'})`;
    const ratio = t?.ms && p?.ttftMs ? `; tknp is ${(p.ttftMs / t.ms).toFixed(2)}× PyTorch's speed` : '';
    out.push(`Time to first token, one ${t?.tokens ?? p?.tokens}-token prompt: tknp ${tk}; PyTorch ${pt}${ratio}`);
  }
  const c = t?.cached;
  if (c) out.push(`Time to first token with the first ${c.cachedTokens} of ${t!.tokens} tokens in the prefix cache (a ${c.prefixTokens}-token shared prefix): ${f(c.ms)} ms (median of ${c.runsMs.length}), ${c.speedup.toFixed(1)}× lower than the miss`);
  const g = s.peer?.generate;
  if (g) {
    out.push(
      g.skipped
        ? `transformers generate (batch ${g.batch}, context ${g.context}): skipped: ${g.skipped}`
        : `transformers generate (batch ${g.batch}, context ${g.context}, ${g.newTokens} tokens; ${g.impl ?? ''}): ${f(g.msPerToken, 2)} ms/token = ${f(g.tokensPerSecond)} tokens/s${g.ttftMs ? `; its time to first token ${f(g.ttftMs, 0)} ms` : ''}`,
    );
  }
  return out;
}

/** One line for logs: per case tknp tokens/s, PyTorch's, the ratio and % of the roofline. */
export function compareLine(s: DecodeSummary): string {
  const parts = s.comparison.map((c) => {
    const pt = c.peer?.tokensPerSecond !== undefined ? `, PyTorch ${f(c.peer.tokensPerSecond)} (${ratioCell(c)}×)` : '';
    const rf = c.pctOfRoofline !== undefined ? `, ${f(c.pctOfRoofline, 0)}% of roofline` : '';
    return `${c.batch}x${c.context}: ${c.tokensPerSecond !== undefined ? `${f(c.tokensPerSecond)} tok/s` : 'skipped'}${pt}${rf}`;
  });
  return `compare: ${parts.join('; ')}`;
}

function header(s: DecodeSummary): string[] {
  const rep = s.report;
  return [
    `tknp: \`${rep.command || 'tknp bench decode'}\` (${rep.preset ?? rep.model}, tp ${rep.tensorParallelSize} × tknp ${rep.tokenParallelSize}, ${rep.results[0]?.steps ?? 0} timed steps after ${rep.warmupSteps} warm-up, ${rep.date})`,
    s.peer ? `PyTorch: ${s.peer.source} (${s.peer.file})` : 'PyTorch: no baseline (--baseline FILE from tools/bench_decode_pytorch.py)',
    s.copy ? `Bytes roofline: weights + KV read once per step at ${s.copy.gbps.toFixed(0)} GB/s (${s.copy.source})` : 'Bytes roofline: no copy bandwidth (the baseline measures one; or --copy-gbps)',
  ];
}

const FOOTNOTE = '`*`: the two ran different batches (each the largest that fitted its memory); × PyTorch = tknp tokens/s ÷ PyTorch tokens/s.';

export function renderDecodeMarkdown(s: DecodeSummary): string {
  const esc = (x: string) => x.replace(/\|/g, '/');
  return [
    ...header(s).map((l) => `${l}  `),
    '',
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map((_, i) => (i === 3 || i === 7 ? '---|' : '---:|')).join('')}`,
    ...rows(s).map((r) => `| ${r.cells.map(esc).join(' | ')} |`),
    '',
    FOOTNOTE,
    ...sideLines(s).map((l) => `\n${esc(l)}`),
  ].join('\n');
}

function escHtml(x: string): string {
  return x.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Per context with at least two batches: tokens/s against the batch run (tknp, PyTorch, roofline). */
export function decodeCharts(s: DecodeSummary): string[] {
  const byContext = new Map<number, DecodeComparison[]>();
  for (const c of s.comparison) byContext.set(c.context, [...(byContext.get(c.context) ?? []), c]);
  const charts: string[] = [];
  for (const [context, cs] of byContext) {
    const line = (name: string, pts: [number, number][], dashed = false): Series[] => (pts.length ? [{ name, points: pts.sort((a, b) => a[0] - b[0]), line: true, dashed }] : []);
    const tk = cs.flatMap((c) => (c.tokensPerSecond ? [[c.ranBatch, c.tokensPerSecond] as [number, number]] : []));
    const pt = cs.flatMap((c) => (c.peer?.tokensPerSecond ? [[c.peer.ranBatch, c.peer.tokensPerSecond] as [number, number]] : []));
    const rf = cs.flatMap((c) => (c.rooflineTokensPerSecond ? [[c.ranBatch, c.rooflineTokensPerSecond] as [number, number]] : []));
    if (Math.max(tk.length, pt.length) < 2) continue;
    const series = [...line('tknp', tk), ...line('PyTorch (CUDA graph)', pt), ...line('bytes roofline', rf, true)];
    charts.push(svgChart({ title: `decode tokens/s, context ${context}`, xLabel: 'batch (sequences run)', yLabel: 'tokens/s', logX: true, logY: true, series }));
  }
  return charts;
}

export function renderDecodeHtml(s: DecodeSummary): string {
  const th = HEAD.map((h) => `<th>${escHtml(h)}</th>`).join('');
  const body = rows(s)
    .map((r) => `<tr>${r.cells.map((c) => `<td>${escHtml(c)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>tknp decode vs PyTorch</title>
<style>body{font-family:sans-serif;margin:24px;max-width:1400px}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}.charts{display:flex;flex-wrap:wrap;gap:12px}</style></head><body>
<h1>tknp bench decode vs PyTorch</h1>
<p>${header(s).map(escHtml).join('<br>')}</p>
<table><tr>${th}</tr>
${body}</table>
<p>${escHtml(FOOTNOTE)}</p>
${sideLines(s)
  .map((l) => `<p>${escHtml(l)}</p>`)
  .join('\n')}
<div class="charts">${decodeCharts(s).join('\n')}</div>
</body></html>`;
}
