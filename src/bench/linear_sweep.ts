// The linear M sweep of issue 15 (`tknp bench kernels --sweep linear-m`): per projection and mode,
// time against M = 1..512; its rules as targets, and a chart of time against M per projection.
import { baselineFor, type BenchReport, type CaseResult } from './harness.js';
import { svgChart, type Series } from './svg.js';
import { judge, type Measured, type TargetResult } from './judge.js';

/** A case may take at most this many times the time of the next larger M of its sweep. */
export const MAX_STEP_RATIO = 1.25;
/**
 * `fast` counts as slower than the default only beyond this: the timing harness itself warms up
 * until two timed batches agree within 3%, so closer medians are not a difference it can resolve.
 */
export const FAST_TOLERANCE = 0.03;

export type SweepMode = 'default' | 'fast';

/** One projection in one mode: its cases in increasing M. */
export interface SweepLine {
  /** 'Llama-3-8B gate_up (K4096 N28672)'. */
  readonly projection: string;
  readonly mode: SweepMode;
  readonly points: readonly CaseResult[];
}

const modeOf = (r: CaseResult): SweepMode => (r.shape.endsWith(' fast') ? 'fast' : 'default');
const projectionOf = (r: CaseResult): string => `${r.model} (K${r.params.K} N${r.params.N})`;

/** The timed cases of the sweep (params.linearSweep), one line per projection and mode. */
export function sweepLines(report: BenchReport): SweepLine[] {
  const lines = new Map<string, { projection: string; mode: SweepMode; points: CaseResult[] }>();
  for (const r of report.results) {
    if (r.kernel !== 'linear' || r.params.linearSweep !== 1 || r.status !== 'ok' || r.medianUs === undefined) continue;
    const key = `${projectionOf(r)}|${modeOf(r)}`;
    const line = lines.get(key) ?? { projection: projectionOf(r), mode: modeOf(r), points: [] };
    if (!line.points.some((p) => p.params.M === r.params.M)) line.points.push(r); // a merged report's repeats: the first
    lines.set(key, line);
  }
  return [...lines.values()].map((l) => ({ ...l, points: [...l.points].sort((a, b) => a.params.M - b.params.M) }));
}

/** t(M) / t(next larger M) for each neighbouring pair of a line. */
export function stepRatios(line: SweepLine): Measured[] {
  return line.points.slice(0, -1).map((r, i) => {
    const next = line.points[i + 1];
    return { label: `${line.projection} ${line.mode} M${r.params.M} (${r.medianUs!.toFixed(1)} µs) vs M${next.params.M} (${next.medianUs!.toFixed(1)} µs)`, v: r.medianUs! / next.medianUs! };
  });
}

/** PyTorch time ÷ tknp time (>1: tknp faster) of default-mode cases with M in [lo, hi]. */
function vsTorch(report: BenchReport, lines: readonly SweepLine[], lo: number, hi: number): Measured[] {
  return lines
    .filter((l) => l.mode === 'default')
    .flatMap((l) =>
      l.points.flatMap((r) => {
        const b = baselineFor(report, r);
        return r.params.M >= lo && r.params.M <= hi && b ? [{ label: `${l.projection} M${r.params.M} [${r.variant}]`, v: b.medianUs / r.medianUs! }] : [];
      }),
    );
}

/** fast time ÷ default time for each projection and M timed in both modes. */
export function fastOverDefault(lines: readonly SweepLine[]): Measured[] {
  return lines
    .filter((l) => l.mode === 'fast')
    .flatMap((f) => {
      const d = lines.find((l) => l.mode === 'default' && l.projection === f.projection);
      return f.points.flatMap((r) => {
        const twin = d?.points.find((p) => p.params.M === r.params.M);
        return twin ? [{ label: `${f.projection} M${r.params.M} (fast ${r.medianUs!.toFixed(1)} µs [${r.variant}], default ${twin.medianUs!.toFixed(1)} µs [${twin.variant}])`, v: r.medianUs! / twin.medianUs! }] : [];
      });
    });
}

/** The rules for the sweep; none when the report holds no sweep case. */
export function linearSweepTargets(report: BenchReport): TargetResult[] {
  const lines = sweepLines(report);
  if (!lines.length) return [];
  const none = 'no sweep case with a PyTorch baseline (tknp bench kernels --sweep linear-m --baseline FILE)';
  return [
    judge('linear M sweep: no step up', `per projection and mode, time(M) ≤ ${MAX_STEP_RATIO}× time(next larger M of the sweep)`, lines.flatMap(stepRatios), MAX_STEP_RATIO, '× the next M', false),
    judge('linear M sweep vs PyTorch, M ≤ 64', 'default (batch-invariant) mode, M 1–64: ≥ 0.9× torch.matmul speed', vsTorch(report, lines, 1, 64), 0.9, '× PyTorch', true, none),
    judge('linear M sweep vs PyTorch, M 65–512', 'default mode, M 65–512: ≥ 0.6× torch.matmul speed', vsTorch(report, lines, 65, 512), 0.6, '× PyTorch', true, none),
    judge('linear M sweep: fast never slower', `fast time ≤ default time × ${1 + FAST_TOLERANCE} (timing resolution ${FAST_TOLERANCE * 100}%) at every projection and M`, fastOverDefault(lines), 1 + FAST_TOLERANCE, '× default time', false),
  ];
}

/** One chart per projection: µs against M for tknp default, tknp fast and PyTorch. */
export function linearSweepCharts(report: BenchReport): string[] {
  const lines = sweepLines(report);
  const projections = [...new Set(lines.map((l) => l.projection))];
  return projections.map((projection) => {
    const series: Series[] = [];
    for (const mode of ['default', 'fast'] as const) {
      const l = lines.find((x) => x.projection === projection && x.mode === mode);
      if (l) series.push({ name: `tknp ${mode}`, points: l.points.map((r) => [r.params.M, r.medianUs!] as [number, number]), line: true });
    }
    const d = lines.find((x) => x.projection === projection && x.mode === 'default') ?? lines.find((x) => x.projection === projection)!;
    const torch = d.points.flatMap((r) => {
      const b = baselineFor(report, r);
      return b ? [[r.params.M, b.medianUs] as [number, number]] : [];
    });
    if (torch.length) series.push({ name: 'PyTorch (torch.matmul)', points: torch, line: true, dashed: true });
    return svgChart({ title: `linear ${projection}: time vs M`, xLabel: 'M (tokens)', yLabel: 'µs per call', logX: true, series });
  });
}

/** Markdown lines listing every miss of the sweep's rules (the targets give only the worst). */
export function linearSweepMisses(report: BenchReport): string[] {
  const lines = sweepLines(report);
  if (!lines.length) return [];
  const out: string[] = [];
  for (const m of lines.flatMap(stepRatios)) if (m.v > MAX_STEP_RATIO) out.push(`- step up ${m.v.toFixed(2)}×: ${m.label}`);
  for (const [lo, hi, bound] of [[1, 64, 0.9], [65, 512, 0.6]] as const) for (const m of vsTorch(report, lines, lo, hi)) if (m.v < bound) out.push(`- ${m.v.toFixed(2)}× PyTorch (needs ${bound}): ${m.label}`);
  for (const m of fastOverDefault(lines)) if (m.v > 1 + FAST_TOLERANCE) out.push(`- fast ${m.v.toFixed(2)}× the default time: ${m.label}`);
  return out.length ? ['Linear M sweep, every miss:', '', ...out] : ['Linear M sweep: no miss.'];
}
