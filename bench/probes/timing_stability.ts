// Probe (not part of `tknp bench`): is a kernel's measured time stable over time on this device?
// Sets up a few bench cases once (inputs in one arena), then times each of them round after round
// for ~a minute, two ways: the harness's per-pass median (timeGpu) and one pass of 50 back-to-back
// calls (sustained throughput). Prints one line per round and case; `nvidia-smi dmon` beside it
// tells clocks and load. Usage: node dist/bench/probes/timing_stability.js [rounds] [shape-regex]
import { BenchArena } from '../../src/bench/arena.js';
import { timeGpu } from '../../src/bench/timing.js';
import type { BenchInstance } from '../../src/bench/types.js';
import { Gpu } from '../../src/gpu/gpu.js';
import { Recorder } from '../../src/gpu/recorder.js';
import { suites } from '../../src/bench/suites/registry.js';

const rounds = Number(process.argv[2] ?? 12);
const pick = new RegExp(process.argv[3] ?? '^(B64 Hq32 Hkv8 D128 ctx4096|M1 K4096 N6144( fast)?|M16 K4096 N6144|M512 K4096 N6144)$');

const gpu = await Gpu.create();
const arena = new BenchArena(gpu);
console.log(`device: ${gpu.describe()}`);
const cases: { name: string; bytes: number; inst: BenchInstance }[] = [];
for (const s of suites) {
  for (const c of s.cases('full')) {
    if (!pick.test(c.shape) || cases.some((x) => x.name === `${c.kernel} ${c.shape}`)) continue;
    const inst = await c.setup(gpu, arena);
    await timeGpu(gpu, (rec) => inst.run(rec), { warmup: 1, warmupMs: 0, targetMs: 0, maxIterations: 1 });
    let valid = 'valid';
    try {
      await inst.validate();
    } catch (e) {
      valid = `INVALID: ${(e as Error).message}`;
    }
    console.log(`case ${c.kernel} ${c.shape} [${inst.variant}] ${valid}`);
    cases.push({ name: `${c.kernel} ${c.shape}`, bytes: c.bytes, inst });
  }
}
const t0 = performance.now();
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    const t = await timeGpu(gpu, (rec) => c.inst.run(rec));
    const rec = new Recorder(gpu, 'loop');
    rec.timed('loop', () => {
      for (let i = 0; i < 50; i++) c.inst.run(rec);
    });
    const [loop] = await rec.submitAndTime();
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(
      `t=${s}s round ${r} ${c.name.padEnd(44)} median ${(t.medianNs / 1e3).toFixed(1).padStart(8)} us (p10 ${(t.p10Ns / 1e3).toFixed(1)}, p90 ${(t.p90Ns / 1e3).toFixed(1)})  ${(c.bytes / t.medianNs).toFixed(0).padStart(5)} GB/s | loop of 50: ${(loop / 50 / 1e3).toFixed(1).padStart(8)} us ${(c.bytes / (loop / 50)).toFixed(0).padStart(5)} GB/s`,
    );
  }
}
arena.destroy();
gpu.destroy();
