// Probe (not part of `tknp bench`): CPU cost of recording dispatches through Recorder (no GPU work
// worth timing: one tiny add kernel), in steps of 430 dispatches (a 32-layer decode step records ~610).
// Usage: node dist/bench/probes/record_cost.js [steps]
import { Gpu } from '../../src/gpu/gpu.js';
import { Recorder } from '../../src/gpu/recorder.js';
import { add } from '../../src/kernels/add.js';

const steps = Number(process.argv[2] ?? 50);
const gpu = await Gpu.create();
const a = gpu.tensor([256], 'f16', 'a');
const b = gpu.tensor([256], 'f16', 'b');
const c = gpu.tensor([256], 'f16', 'c');
const PER_STEP = 430;
const times: number[] = [];
for (let s = 0; s < steps; s++) {
  const rec = new Recorder(gpu, 'step');
  const t0 = performance.now();
  for (let i = 0; i < PER_STEP; i++) add(rec, a, b, c);
  rec.submit();
  times.push(performance.now() - t0);
  await gpu.flush();
}
times.sort((x, y) => x - y);
const med = times[Math.floor(times.length / 2)];
console.log(`record ${PER_STEP} dispatches + submit: median ${med.toFixed(2)} ms = ${((med * 1000) / PER_STEP).toFixed(1)} us per dispatch (bind groups: ${gpu.bindGroups.hits} hits, ${gpu.bindGroups.misses} misses)`);
gpu.destroy();
