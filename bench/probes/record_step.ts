// Probe (not part of `tknp bench`): CPU time to record one decode step's forward pass, the JavaScript
// inside LlamaModel.forward, without the GPU executing anything while the clock runs. A model of the
// tiny-llama shapes (test/fixtures/models/tiny-llama) with `layers` layers and dummy weights is built
// through ModelRunner; a real prefill and decode step through the runner set up the KV cache and the
// attention metadata; then each timed iteration records forward() for that decode step into a fresh
// Recorder (submitEveryLayers 0: no submit inside the timed region). After the clock stops the
// Recorder is submitted and awaited, untimed, so its pooled uniform arenas go back to the pool as in
// the engine (steady-state bind-group hits); the GPU is idle while the next iteration is timed.
// One tiny dispatch opens each Recorder's compute pass before the clock starts (see there).
// Prints the median ms per step and µs per dispatch, and the median process CPU time per step (all
// threads: less disturbed than the wall clock by other processes sharing the cores; the GPU is idle).
// mode 'eager' records every step (EngineConfig.enforceEager), 'replay' goes through the runner's step
// cache as the engine does (the first timed step is captured, the others replay it).
// Usage: node dist/bench/probes/record_step.js [steps=60] [layers=32] [batch=1] [context=32] [mode=eager|replay]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gpu } from '../../src/gpu/gpu.js';
import { Recorder } from '../../src/gpu/recorder.js';
import { normalizeSamplingParams } from '../../src/engine/sampling_params.js';
import { ModelRunner } from '../../src/runner/model_runner.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { flattenSchedulerOutput, type FlatBatch } from '../../src/scheduler/scheduler_output.js';
import { add } from '../../src/kernels/add.js';
import type { SamplingRow } from '../../src/kernels/sampling.js';

const steps = Number(process.argv[2] ?? 60);
const layers = Number(process.argv[3] ?? 32);
const batch = Number(process.argv[4] ?? 1);
const context = Number(process.argv[5] ?? 32);
const mode = process.argv[6] ?? 'eager';
if (mode !== 'eager' && mode !== 'replay') throw new Error(`mode must be eager or replay, got ${mode}`);

const fixture = join(import.meta.dirname, '../../../test/fixtures/models/tiny-llama/config.json');
const dir = mkdtempSync(join(tmpdir(), 'tknp-record-step-'));
const config = JSON.parse(readFileSync(fixture, 'utf8')) as Record<string, unknown>;
writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: layers }));

const gpu = await Gpu.create();
try {
  const runner = await ModelRunner.create(gpu, dir, {
    maxNumBatchedTokens: Math.max(256, batch * context),
    maxNumSeqs: Math.max(8, batch),
    gpuMemoryUtilization: 0.9,
    kvCacheBytes: 64 * 2 ** 20,
    loadFormat: 'dummy',
    submitEveryLayers: 0,
    enforceEager: mode === 'eager',
    quiet: true,
  });
  const scheduler = new Scheduler({ tokenParallelSize: 1, numBlocksPerRank: [runner.numBlocks], maxNumBatchedTokens: Math.max(256, batch * context), maxNumSeqs: Math.max(8, batch), maxModelLen: runner.maxModelLen });
  const params = normalizeSamplingParams({ temperature: 0, ignoreEos: true, maxTokens: 16 }, {}, () => 0);
  for (let i = 0; i < batch; i++) scheduler.addRequest(`r${i}`, Array.from({ length: context }, (_, t) => (t * 7 + i) % 1000), params);
  const greedy = (n: number): SamplingRow[] => Array.from({ length: n }, () => ({ temperature: 0, topK: 0, topP: 1, seed: 0, step: 0 }));
  const stepOnce = async (): Promise<FlatBatch> => {
    const out = scheduler.schedule();
    const flat = flattenSchedulerOutput(out, scheduler.maxBlocksPerSeq);
    const r = await runner.execute(flat, greedy(flat.sampledRequestIds.length));
    scheduler.updateFromOutput(out, new Map(flat.sampledRequestIds.map((id, i) => [id, r.tokens[i]])));
    return flat;
  };
  await stepOnce(); // prefill
  const flat = await stepOnce(); // a decode step: leaves the attention metadata of this step in place
  if (flat.numTokens !== batch) throw new Error(`expected a decode step of ${batch} tokens, got ${flat.numTokens}`);
  // The same inputs as that step (ModelRunner.execute uploads them the same way).
  const inputs = (runner as unknown as { tokens: { upload(f: FlatBatch): Parameters<typeof runner.model.forward>[1] } }).tokens.upload(flat);

  const dummy = gpu.tensor([64], 'f16', 'dummy');
  const dummyOut = gpu.tensor([64], 'f16', 'dummyOut');
  const times: number[] = [];
  const cpu: number[] = [];
  let dispatches = 0;
  for (let s = 0; s < steps + 3; s++) {
    const rec = new Recorder(gpu, 'probe');
    // Opens the compute pass untimed: on lavapipe the first beginComputePass after a flush sometimes
    // takes ~10 ms (Dawn catching up with the finished submit), which would swamp the recording cost.
    add(rec, dummy, dummy, dummyOut);
    const before = gpu.bindGroups.hits + gpu.bindGroups.misses; // one lookup per recorded dispatch
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await runner.recordForward(rec, inputs);
    const dt = performance.now() - t0;
    const dc = process.cpuUsage(c0);
    dispatches = Math.max(dispatches, gpu.bindGroups.hits + gpu.bindGroups.misses - before); // 0 where replayed
    if (s >= 3) {
      times.push(dt);
      cpu.push((dc.user + dc.system) / 1000);
    }
    rec.submit();
    await gpu.flush();
  }
  times.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const med = times[Math.floor(times.length / 2)];
  const cpuMed = cpu[Math.floor(cpu.length / 2)];
  const q = (f: number) => times[Math.floor(f * (times.length - 1))].toFixed(2);
  console.log(
    `${mode} forward (${layers} layers, batch ${batch}, ${dispatches} dispatches): median ${med.toFixed(2)} ms (p10 ${q(0.1)}, p90 ${q(0.9)}) = ${((med * 1000) / dispatches).toFixed(2)} us per dispatch; ` +
      `process CPU time median ${cpuMed.toFixed(2)} ms; bind groups ${gpu.bindGroups.hits} hits, ${gpu.bindGroups.misses} misses` +
      (runner.steps ? `; step cache ${runner.steps.hits} replays, ${runner.steps.misses} captures` : ''),
  );
} finally {
  gpu.destroy();
  rmSync(dir, { recursive: true, force: true });
}
