// Timing helpers shared by the kernel probes (bench/probes/linear_tiles.ts, quant_probe.ts): sustained
// timing of calls recorded back to back, and a busy loop that keeps the GPU's clocks up before it.
import type { Gpu } from '../../src/gpu/gpu.js';
import { Recorder } from '../../src/gpu/recorder.js';

/** Median per-call ns of `reps` calls recorded back to back in one timed pass (3 passes). */
export async function sustained(gpu: Gpu, label: string, run: (rec: Recorder) => void, reps: number): Promise<number> {
  const ts: number[] = [];
  for (let p = 0; p < 3; p++) {
    const rec = new Recorder(gpu, label);
    rec.timed(label, () => {
      for (let i = 0; i < reps; i++) run(rec);
    });
    const [ns] = await rec.submitAndTime();
    ts.push(ns / reps);
  }
  return ts.sort((a, b) => a - b)[1];
}

/** Runs `run` in untimed batches of 20 for `ms` milliseconds (the H100 idles at 345 MHz until kept busy). */
export async function busy(gpu: Gpu, run: (rec: Recorder) => void, ms: number): Promise<void> {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    const rec = new Recorder(gpu, 'warm');
    for (let i = 0; i < 20; i++) run(rec);
    rec.submit();
    await gpu.flush();
  }
}
