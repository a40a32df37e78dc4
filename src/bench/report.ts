// Bench report: a self-contained HTML page (tables + SVG charts, readable offline) and a
// Markdown summary table for bench/RESULTS.md.
import { baselineFor, ratio, type BenchReport, type CaseResult } from './harness.js';
import { linearSweepCharts, linearSweepMisses } from './linear_sweep.js';
import { evaluateTargets } from './targets.js';

export { ratio };
import { svgChart, type Series } from './svg.js';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    if (!m.has(k)) m.set(k, []);
    m.get(k)!.push(it);
  }
  return m;
}


function rooflineChart(report: BenchReport, kernel: string, rs: CaseResult[]): string {
  const { copyGBps, f16TFlops } = report.peaks;
  const ais = rs.map((r) => r.flops / r.bytes).filter((x) => x > 0);
  const lo = Math.min(...ais, 0.1) / 2;
  const hi = Math.max(...ais, (f16TFlops * 1e3) / copyGBps) * 4;
  const roof: [number, number][] = [];
  for (let ai = lo; ai <= hi; ai *= 1.25) roof.push([ai, Math.min(f16TFlops, (ai * copyGBps) / 1e3)]);
  const series: Series[] = [{ name: 'roofline (measured peaks)', points: roof, line: true, dashed: true }];
  for (const [variant, vs] of groupBy(rs, (r) => r.variant)) {
    series.push({ name: variant, points: vs.map((r) => [r.flops / r.bytes, r.tflops!] as [number, number]) });
  }
  return svgChart({ title: `${kernel}: roofline`, xLabel: 'arithmetic intensity (FLOP/byte)', yLabel: 'TFLOP/s', logX: true, logY: true, series });
}

function sweepChart(rs: CaseResult[], title: string, x: string, seriesKey: (r: CaseResult) => string, y: (r: CaseResult) => number, yLabel: string, report: BenchReport, yBase?: (r: CaseResult, baseUs: number) => number): string {
  const series: Series[] = [];
  for (const [name, vs] of groupBy(rs.filter((r) => r.params[x] !== undefined), seriesKey)) {
    const sorted = [...vs].sort((a, b) => a.params[x] - b.params[x]);
    series.push({ name, points: sorted.map((r) => [r.params[x], y(r)] as [number, number]), line: true });
    if (yBase) {
      const pts = sorted.flatMap((r) => {
        const b = baselineFor(report, r);
        return b ? [[r.params[x], yBase(r, b.medianUs)] as [number, number]] : [];
      });
      if (pts.length) series.push({ name: `${name} (PyTorch)`, points: pts, line: true, dashed: true });
    }
  }
  return svgChart({ title, xLabel: x, yLabel, logX: true, series });
}

export function renderHtml(report: BenchReport): string {
  const ok = report.results.filter((r) => r.status === 'ok');
  const byKernel = groupBy(ok, (r) => r.kernel);
  const charts: string[] = [];
  for (const [kernel, rs] of byKernel) charts.push(rooflineChart(report, kernel, rs));
  const attn = byKernel.get('decode_attention');
  if (attn) {
    charts.push(sweepChart(attn, 'decode attention: bandwidth vs context', 'context', (r) => `${r.model} B${r.params.batch}`, (r) => r.gbps!, 'GB/s (KV read)', report, (r, us) => r.bytes / (us * 1e3)));
  }
  const lin = byKernel.get('linear')?.filter((r) => r.params.linearSweep !== 1);
  charts.push(...linearSweepCharts(report));
  if (lin?.length) {
    charts.push(sweepChart(lin, 'linear: TFLOP/s vs tokens', 'M', (r) => `N${r.params.N} K${r.params.K}`, (r) => r.tflops!, 'TFLOP/s', report, (r, us) => r.flops / (us * 1e6)));
  }
  const rows = report.results.map((r) => {
    const q = ratio(report, r);
    const cls = r.status === 'ok' ? '' : ' class="bad"';
    return `<tr${cls}><td>${esc(r.kernel)}</td><td>${esc(r.shape)}</td><td>${esc(r.model)}</td><td>${esc(r.variant)}</td><td>${r.status}${r.error ? `: ${esc(r.error.slice(0, 200))}` : ''}</td><td>${r.medianUs?.toFixed(1) ?? ''}</td><td>${r.p10Us?.toFixed(1) ?? ''}–${r.p90Us?.toFixed(1) ?? ''}</td><td>${r.gbps?.toFixed(0) ?? ''}</td><td>${r.pctPeakBandwidth?.toFixed(0) ?? ''}</td><td>${r.tflops?.toFixed(2) ?? ''}</td><td>${q ? q.toFixed(2) : ''}</td></tr>`;
  });
  return `<!doctype html><html><head><meta charset="utf-8"><title>tknp kernel benchmarks</title>
<style>body{font-family:sans-serif;margin:24px;max-width:1400px}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:nth-child(-n+5){text-align:left}.bad{background:#fdd}.charts{display:flex;flex-wrap:wrap;gap:12px}</style></head><body>
<h1>tknp kernel benchmarks</h1>
<p>${esc(report.date)} — ${esc(report.device)}<br>command: <code>${esc(report.command)}</code> — sweep: ${report.sweep}<br>
measured peaks: copy ${report.peaks.copyGBps.toFixed(0)} GB/s, f32 ${report.peaks.f32TFlops.toFixed(1)} TFLOP/s, f16 (vector) ${report.peaks.f16TFlops.toFixed(1)} TFLOP/s${report.baseline ? `<br>baseline: ${esc(report.baseline.source)}` : ''}</p>
<h2>Targets</h2>
<table><tr><th>target</th><th>requirement</th><th>status</th><th>detail</th></tr>
${evaluateTargets(report)
  .map((t) => `<tr${t.status === 'missed' ? ' class="bad"' : ''}><td>${esc(t.name)}</td><td>${esc(t.requirement)}</td><td>${t.status}</td><td>${esc(t.detail)}</td></tr>`)
  .join('\n')}</table>
<div class="charts">${charts.join('\n')}</div>
<h2>All cases</h2>
<table><tr><th>kernel</th><th>shape</th><th>model</th><th>variant</th><th>status</th><th>median µs</th><th>p10–p90 µs</th><th>GB/s</th><th>% copy peak</th><th>TFLOP/s</th><th>× PyTorch</th></tr>
${rows.join('\n')}</table></body></html>`;
}

const withBlankLine = (lines: string[]): string[] => (lines.length ? [...lines, ''] : []);

/** Markdown table of the results (for bench/RESULTS.md). */
export function renderMarkdown(report: BenchReport): string {
  const lines = [
    `Device: ${report.device}; peaks: copy ${report.peaks.copyGBps.toFixed(0)} GB/s, f16 ${report.peaks.f16TFlops.toFixed(1)} TFLOP/s (vector)`,
    '',
    '| target | status | detail |',
    '|---|---|---|',
    ...evaluateTargets(report).map((t) => `| ${t.name} (${t.requirement}) | ${t.status} | ${t.detail.replace(/\|/g, '/')} |`),
    '',
    ...withBlankLine(linearSweepMisses(report)),
    '| kernel | shape | variant | median µs | GB/s | % copy peak | TFLOP/s | × PyTorch |',
    '|---|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of report.results) {
    const q = ratio(report, r);
    lines.push(
      r.status === 'ok'
        ? `| ${r.kernel} | ${r.shape} | ${r.variant} | ${r.medianUs!.toFixed(1)} | ${r.gbps!.toFixed(0)} | ${r.pctPeakBandwidth!.toFixed(0)} | ${r.tflops!.toFixed(2)} | ${q ? q.toFixed(2) : '—'} |`
        : `| ${r.kernel} | ${r.shape} | ${r.variant} | ${r.status} | | | | ${(r.error ?? '').slice(0, 80).replace(/\|/g, '/')} |`,
    );
  }
  return lines.join('\n');
}
