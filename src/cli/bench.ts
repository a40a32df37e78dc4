// `tknp bench kernels`: validate, time and report every kernel over a declared sweep.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { suitesFor } from '../bench/suites/registry.js';
import { Gpu } from '../gpu/gpu.js';
import { runBench, type BaselineResult, type BenchReport } from '../bench/harness.js';
import { renderHtml, renderMarkdown } from '../bench/report.js';
import { evaluateTargets } from '../bench/targets.js';
import type { Sweep } from '../bench/types.js';

export interface BenchKernelsArgs {
  readonly filter?: string;
  readonly sweep: Sweep;
  readonly json?: string;
  readonly html?: string;
  readonly markdown?: string;
  readonly baseline?: string;
  /** Write the case list (kernel, shape, params) for the PyTorch baseline script and exit. */
  readonly listCases?: string;
  readonly backend?: string;
  readonly robustness?: boolean;
  readonly adapter?: string;
}

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

export async function benchKernels(args: BenchKernelsArgs, command: string): Promise<BenchReport | undefined> {
  if (args.listCases) {
    const re = args.filter ? new RegExp(args.filter, 'i') : undefined;
    const cases = suitesFor(args.sweep).flatMap((s) =>
      s.cases(args.sweep).filter((c) => !re || re.test(s.name) || re.test(c.kernel) || re.test(c.shape)).map((c) => ({ kernel: c.kernel, shape: c.shape, model: c.model, params: c.params, bytes: c.bytes, flops: c.flops })),
    );
    write(args.listCases, JSON.stringify(cases, null, 1));
    console.log(`wrote ${cases.length} cases to ${args.listCases}`);
    return undefined;
  }
  const gpu = await Gpu.create({ backend: args.backend as never, adapterName: args.adapter, robustness: args.robustness });
  const base = args.baseline ? (JSON.parse(readFileSync(args.baseline, 'utf8')) as { source?: string; results: BaselineResult[] }) : undefined;
  const baseline = base ? { source: base.source ?? args.baseline!, results: base.results } : undefined;
  // The JSON is rewritten after every case, so a run stopped by a time limit keeps what it measured.
  const onProgress = args.json ? (r: BenchReport) => write(args.json!, JSON.stringify({ ...r, baseline, partial: true }, null, 1)) : undefined;
  const report = await runBench(gpu, suitesFor(args.sweep), { sweep: args.sweep, filter: args.filter, command, log: (l) => console.log(l), onProgress });
  if (baseline) report.baseline = baseline;
  writeReport(report, args);
  const bad = report.results.filter((r) => r.status !== 'ok');
  console.log(`${report.results.length - bad.length} cases timed, ${bad.length} invalid or failed`);
  gpu.destroy();
  if (bad.length) process.exitCode = 1;
  return report;
}

export interface BenchReportArgs {
  readonly inputs: readonly string[];
  readonly json?: string;
  readonly html?: string;
  readonly markdown?: string;
}

/**
 * `tknp bench report a.json b.json …`: one report from the JSON of several runs on the same device
 * (a full sweep split over several device calls): results and baselines concatenated in order,
 * targets evaluated again over the whole. Throws where the runs' devices differ.
 */
export function mergeBenchReports(args: BenchReportArgs): BenchReport {
  const parts = args.inputs.map((f) => JSON.parse(readFileSync(f, 'utf8')) as BenchReport);
  if (!parts.length) throw new Error('bench report: no input reports');
  const devices = new Set(parts.map((p) => p.device));
  if (devices.size > 1) throw new Error(`bench report: the runs were on different devices: ${[...devices].join(' | ')}`);
  const first = parts[0];
  const baselines = parts.flatMap((p) => p.baseline?.results ?? []);
  const report: BenchReport = {
    date: first.date,
    device: first.device,
    command: parts.map((p) => p.command).join(' ; '),
    sweep: first.sweep,
    peaks: first.peaks,
    results: parts.flatMap((p) => p.results),
    ...(baselines.length ? { baseline: { source: [...new Set(parts.map((p) => p.baseline?.source).filter(Boolean))].join(', '), results: baselines } } : {}),
  };
  writeReport(report, args);
  return report;
}

/** Prints the targets and writes the report where asked (JSON with the targets, HTML, Markdown). */
function writeReport(report: BenchReport, to: { readonly json?: string; readonly html?: string; readonly markdown?: string }): void {
  const targets = evaluateTargets(report);
  for (const t of targets) console.log(`target ${t.status.padEnd(12)} ${t.name}: ${t.detail}`);
  if (to.json) write(to.json, JSON.stringify({ ...report, targets }, null, 1));
  if (to.html) write(to.html, renderHtml(report));
  if (to.markdown) write(to.markdown, renderMarkdown(report));
}
