// `tknp bench kernels`: for every case of every suite that matches the filter, validate the
// kernel against its CPU reference (a wrong kernel is never timed), time it on the GPU, and
// put the result against the device's measured peaks.
import type { Gpu } from '../gpu/gpu.js';
import { BenchArena } from './arena.js';
import { measurePeaks, type DevicePeaks } from './peaks.js';
import { timeGpu } from './timing.js';
import type { BenchSuite, Sweep } from './types.js';

export interface CaseResult {
  readonly kernel: string;
  readonly shape: string;
  readonly model: string;
  readonly params: Readonly<Record<string, number>>;
  readonly variant: string;
  readonly status: 'ok' | 'invalid' | 'error';
  readonly error?: string;
  readonly bytes: number;
  readonly flops: number;
  readonly medianUs?: number;
  readonly p10Us?: number;
  readonly p90Us?: number;
  readonly iterations?: number;
  readonly gbps?: number;
  readonly tflops?: number;
  readonly pctPeakBandwidth?: number;
  readonly pctPeakFlops?: number;
}

export interface BenchReport {
  readonly date: string;
  readonly device: string;
  readonly command: string;
  readonly sweep: Sweep;
  readonly peaks: DevicePeaks;
  readonly results: CaseResult[];
  /** Filled by `tknp bench kernels --baseline FILE` (PyTorch timings of the same shapes). */
  baseline?: { readonly source: string; readonly results: BaselineResult[] };
}

export interface BaselineResult {
  readonly kernel: string;
  readonly shape: string;
  readonly medianUs: number;
  readonly impl: string;
}

export interface BenchOptions {
  readonly sweep: Sweep;
  readonly filter?: string;
  readonly command?: string;
  readonly log?: (line: string) => void;
  /** Called with the report so far after every case (a run cut short still leaves its results). */
  readonly onProgress?: (partial: BenchReport) => void;
}

/**
 * Timing per sweep. 'linear-m' runs ~360 cases back to back (the clock stays up between them, and
 * timeGpu still waits until two timed batches agree within 3%): a shorter warm-up and run keep it
 * within a device call.
 */
// linear-m times 8 calls back to back per timed pass (each on the next of its weight copies), as a decode step
// runs its linears and as its PyTorch baseline times them: one call per pass adds the pass's own start and
// drain to every sample (a few µs, a fifth of a 25 µs projection; session 7).
const SWEEP_TIMING: Partial<Record<Sweep, { readonly warmupMs: number; readonly targetMs: number; readonly callsPerPass?: number }>> = {
  'linear-m': { warmupMs: 100, targetMs: 60, callsPerPass: 8 },
};

export async function runBench(gpu: Gpu, suites: readonly BenchSuite[], opts: BenchOptions): Promise<BenchReport> {
  const log = opts.log ?? (() => {});
  const peaks = await measurePeaks(gpu, opts.sweep);
  log(`device: ${gpu.describe()}`);
  log(`peaks: copy ${peaks.copyGBps.toFixed(0)} GB/s, f32 ${peaks.f32TFlops.toFixed(1)} TFLOP/s, f16 ${peaks.f16TFlops.toFixed(1)} TFLOP/s`);
  const results: CaseResult[] = [];
  const re = opts.filter ? new RegExp(opts.filter, 'i') : undefined;
  const arena = new BenchArena(gpu);
  const reportSoFar = (): BenchReport => ({ date: new Date().toISOString(), device: gpu.describe(), command: opts.command ?? '', sweep: opts.sweep, peaks, results });
  for (const suite of suites) {
    for (const c of suite.cases(opts.sweep)) {
      if (re && !re.test(suite.name) && !re.test(c.kernel) && !re.test(c.shape)) continue;
      const base = { kernel: c.kernel, shape: c.shape, model: c.model, params: c.params, bytes: c.bytes, flops: c.flops };
      let inst;
      try {
        inst = await c.setup(gpu, arena);
      } catch (e) {
        results.push({ ...base, variant: '?', status: 'error', error: (e as Error).message });
        log(`${c.kernel} ${c.shape}: setup failed: ${(e as Error).message}`);
        continue;
      }
      try {
        await timeGpu(gpu, (rec) => inst.run(rec), { warmup: 1, warmupMs: 0, targetMs: 0, maxIterations: 1 });
        try {
          await inst.validate();
        } catch (e) {
          results.push({ ...base, variant: inst.variant, status: 'invalid', error: (e as Error).message });
          log(`${c.kernel} ${c.shape} [${inst.variant}]: INVALID, not timed: ${(e as Error).message}`);
          continue;
        }
        const timing = SWEEP_TIMING[opts.sweep];
        const t = await timeGpu(gpu, (rec) => inst.run(rec), { warmupMs: gpu.software ? 50 : timing?.warmupMs, targetMs: timing?.targetMs, callsPerPass: timing?.callsPerPass });
        const gbps = c.bytes / t.medianNs;
        const tflops = c.flops / t.medianNs / 1e3;
        const r: CaseResult = {
          ...base,
          variant: inst.variant,
          status: 'ok',
          medianUs: t.medianNs / 1e3,
          p10Us: t.p10Ns / 1e3,
          p90Us: t.p90Ns / 1e3,
          iterations: t.iterations,
          gbps,
          tflops,
          pctPeakBandwidth: (100 * gbps) / peaks.copyGBps,
          pctPeakFlops: (100 * tflops) / peaks.f16TFlops,
        };
        results.push(r);
        log(
          `${c.kernel.padEnd(18)} ${c.shape.padEnd(34)} ${inst.variant.padEnd(16)} ${r.medianUs!.toFixed(1).padStart(9)} us  ${gbps.toFixed(0).padStart(5)} GB/s (${r.pctPeakBandwidth!.toFixed(0)}%)  ${tflops.toFixed(2).padStart(7)} TFLOP/s`,
        );
      } catch (e) {
        results.push({ ...base, variant: inst.variant, status: 'error', error: (e as Error).message });
        log(`${c.kernel} ${c.shape}: error: ${(e as Error).message}`);
      } finally {
        inst.destroy();
        opts.onProgress?.(reportSoFar());
      }
    }
  }
  arena.destroy();
  return reportSoFar();
}

/** Joins baseline timings (e.g. PyTorch) to results by kernel and shape. */
export function baselineFor(report: BenchReport, r: CaseResult): BaselineResult | undefined {
  return report.baseline?.results.find((b) => b.kernel === r.kernel && b.shape === r.shape);
}

/** tknp / baseline speed ratio (>1: tknp faster), or undefined without a baseline. */
export function ratio(report: BenchReport, r: CaseResult): number | undefined {
  const b = baselineFor(report, r);
  return b && r.medianUs ? b.medianUs / r.medianUs : undefined;
}
