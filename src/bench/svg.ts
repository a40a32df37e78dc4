// A small self-contained SVG chart (scatter/line, linear or log axes) for offline reports.

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  readonly line?: boolean;
  readonly dashed?: boolean;
}

export interface ChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly logX?: boolean;
  readonly logY?: boolean;
  readonly series: readonly Series[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const W = 640;
const H = 380;
const M = { l: 70, r: 170, t: 30, b: 50 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-2) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}

function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
    return out.filter((t) => t >= lo / 1.0001 && t <= hi * 1.0001);
  }
  const step = 10 ** Math.floor(Math.log10((hi - lo) / 5 || 1));
  const k = [1, 2, 5, 10].find((m) => (hi - lo) / (m * step) <= 6) ?? 10;
  const s = k * step;
  const out: number[] = [];
  for (let t = Math.ceil(lo / s) * s; t <= hi + 1e-9; t += s) out.push(t);
  return out;
}

export function svgChart(spec: ChartSpec): string {
  const pts = spec.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!spec.logX || x > 0) && (!spec.logY || y > 0));
  if (pts.length === 0) return `<p><em>${esc(spec.title)}: no data</em></p>`;
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (spec.logX) [x0, x1] = [10 ** Math.floor(Math.log10(x0)), 10 ** Math.ceil(Math.log10(x1))];
  else if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (spec.logY) [y0, y1] = [10 ** Math.floor(Math.log10(y0)), 10 ** Math.ceil(Math.log10(y1))];
  else [y0, y1] = [Math.min(0, y0), y1 * 1.1 || 1];
  const sx = (x: number) => M.l + ((spec.logX ? Math.log10(x / x0) / Math.log10(x1 / x0) : (x - x0) / (x1 - x0)) * (W - M.l - M.r));
  const sy = (y: number) => H - M.b - ((spec.logY ? Math.log10(y / y0) / Math.log10(y1 / y0) : (y - y0) / (y1 - y0)) * (H - M.t - M.b));
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`];
  parts.push(`<text x="${W / 2 - M.r / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(spec.title)}</text>`);
  for (const t of ticks(x0, x1, !!spec.logX)) {
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${M.t}" y2="${H - M.b}" stroke="#eee"/><text x="${sx(t)}" y="${H - M.b + 14}" text-anchor="middle">${fmt(t)}</text>`);
  }
  for (const t of ticks(y0, y1, !!spec.logY)) {
    parts.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/><text x="${M.l - 6}" y="${sy(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  parts.push(`<rect x="${M.l}" y="${M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${(M.l + W - M.r) / 2}" y="${H - 12}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${(M.t + H - M.b) / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`);
  spec.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const p = s.points.filter(([x, y]) => (!spec.logX || x > 0) && (!spec.logY || y > 0)).map(([x, y]) => [sx(x), sy(y)] as const);
    if (s.line && p.length > 1) {
      parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="5 4"' : ''} points="${p.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
    }
    if (!s.dashed) for (const [x, y] of p) parts.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${color}"/>`);
    const ly = M.t + 14 * i + 8;
    parts.push(`<rect x="${W - M.r + 10}" y="${ly - 7}" width="10" height="3" fill="${color}"/><text x="${W - M.r + 24}" y="${ly}">${esc(s.name.slice(0, 26))}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
