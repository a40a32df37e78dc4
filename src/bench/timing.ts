// GPU timing of one benchmark case with timestamp queries: warm-up, then many iterations,
// each in its own timed compute pass; reports the median and the spread.
import type { Gpu } from '../gpu/gpu.js';
import { Recorder } from '../gpu/recorder.js';

export interface Timing {
  readonly medianNs: number;
  readonly p10Ns: number;
  readonly p90Ns: number;
  readonly iterations: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))));
  return sorted[i];
}

/** Times `record` (which records one call) on the GPU. */
export async function timeGpu(
  gpu: Gpu,
  record: (rec: Recorder) => void,
  /** callsPerPass: calls recorded back to back in each timed pass (the sample is the pass over the calls), as a model step runs them. */
  opts: { warmup?: number; warmupMs?: number; targetMs?: number; maxIterations?: number; callsPerPass?: number } = {},
): Promise<Timing> {
  const warm = new Recorder(gpu, 'warmup');
  for (let i = 0; i < (opts.warmup ?? 3); i++) record(warm);
  warm.submit();
  await gpu.flush();
  // Bring the clocks up. An idle H100 under Vulkan sits at 345 MHz and takes a few hundred ms of
  // load to reach 1980 MHz (nvidia-smi dmon, bench/RESULTS.md): a case timed right after its
  // set-up read 3-4× slow. Repeat the case for at least warmupMs, then until two successive
  // timed batches agree within 3% (at most 10 × warmupMs). A batch holds ≥ ~2 ms of GPU work, so
  // that short kernels keep the GPU busy between the host's round trips too (10 calls of a 40 µs
  // kernel left it idle most of the time and the first case of a run read 2-3× slow).
  const warmupMs = opts.warmupMs ?? 400;
  const start = performance.now();
  let last = 0;
  let perBatch = 10;
  if (warmupMs > 0 && gpu.caps.timestamps) {
    const r = new Recorder(gpu, 'warmup');
    r.timed('size', () => record(r));
    const [ns] = await r.submitAndTime();
    perBatch = Math.max(10, Math.min(1000, Math.ceil(2e6 / Math.max(ns, 1))));
  }
  while (performance.now() - start < warmupMs) {
    const r = new Recorder(gpu, 'warmup');
    for (let i = 0; i < perBatch; i++) record(r);
    r.submit();
    await gpu.flush();
  }
  while (warmupMs > 0 && performance.now() - start < 10 * warmupMs && gpu.caps.timestamps) {
    const r = new Recorder(gpu, 'warmup');
    for (let i = 0; i < 10; i++) r.timed(`w${i}`, () => record(r));
    const ts = (await r.submitAndTime()).sort((a, b) => a - b);
    const med = ts[5];
    if (last > 0 && Math.abs(med - last) <= 0.03 * last) break;
    last = med;
  }
  // One timed call to size the run.
  const probe = new Recorder(gpu, 'probe');
  probe.timed('probe', () => record(probe));
  const [first] = await probe.submitAndTime();
  const targetNs = (opts.targetMs ?? 200) * 1e6;
  const per = opts.callsPerPass ?? 1;
  const n = Math.max(5, Math.min(opts.maxIterations ?? 200, Math.round(targetNs / Math.max(first * per, 1000))));
  // Batches of 10 calls per submit: the scratch buffers a call takes from the pool (split-K
  // partials, ...) are recycled between batches, as in the engine, instead of 200 fresh
  // (zero-filled) allocations landing inside the timed passes.
  const times: number[] = [];
  for (let done = 0; done < n; ) {
    const batch = Math.min(10, n - done);
    const rec = new Recorder(gpu, 'timed');
    for (let i = 0; i < batch; i++) {
      rec.timed(`it${done + i}`, () => {
        for (let j = 0; j < per; j++) record(rec);
      });
    }
    times.push(...(await rec.submitAndTime()).map((ns) => ns / per));
    done += batch;
  }
  times.sort((a, b) => a - b);
  return { medianNs: percentile(times, 50), p10Ns: percentile(times, 10), p90Ns: percentile(times, 90), iterations: n };
}
