// Probe (not part of `tknp bench`): the tensor-core linear schedules side by side over M on real model
// shapes (decode batches), to choose which schedule `linear` runs at each M.
// For each shape and M, every forced tile (stream, par64, par128, block, ...) is timed sustained: R calls
// back to back in one timed pass (as a decode step runs them), median of 3 passes after a short warm loop,
// with the clock warmed up once at the start. Every tile must give the same bits (rows 0-3 and the last
// row are compared) and the first tile is checked against an f64 reference on sampled outputs.
// Usage: node dist/bench/probes/linear_tiles.js [shape-regex] [M,M,...] [tile,tile,...] > table
//   (tiles default by M: stream/par64/par128 up to 64 rows, par64/par128/block above; 'auto' = the default
//   plan, 'fast' = --fast mode). Each line is also written as JSON to $LINEAR_TILES_JSON if set.
//   PROBE_X=same: all rows of x equal (data dependence of the time); PROBE_EMULATE=1: emulated kernels.
import { appendFileSync } from 'node:fs';
import { fillTiled } from '../../src/bench/fill.js';
import { Gpu } from '../../src/gpu/gpu.js';
import { busy, sustained } from './probe_timing.js';
import { Recorder } from '../../src/gpu/recorder.js';
import { copyRows, type Tensor } from '../../src/gpu/tensor.js';
import { linear, linearVariant, type LinearOptions } from '../../src/kernels/linear.js';
import { linearTolerance } from '../../src/kernels/ref/linear.js';
import { fromF16, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';

interface Shape {
  name: string;
  K: number;
  N: number;
  bias: boolean;
  f32: boolean;
}
const SHAPES: Shape[] = [
  { name: 'llama3 qkv', K: 4096, N: 6144, bias: false, f32: false },
  { name: 'llama3 o', K: 4096, N: 4096, bias: false, f32: false },
  { name: 'llama3 gate_up', K: 4096, N: 28672, bias: false, f32: false },
  { name: 'llama3 down', K: 14336, N: 4096, bias: false, f32: false },
  { name: 'llama3 lm_head', K: 4096, N: 128256, bias: false, f32: true },
  { name: 'qwen2.5 qkv', K: 3584, N: 4608, bias: true, f32: false },
  { name: 'qwen2.5 o', K: 3584, N: 3584, bias: false, f32: false },
  { name: 'qwen2.5 gate_up', K: 3584, N: 37888, bias: false, f32: false },
  { name: 'qwen2.5 down', K: 18944, N: 3584, bias: false, f32: false },
  { name: 'qwen2.5 lm_head', K: 3584, N: 152064, bias: false, f32: true },
];
// PROBE_SHAPES='name:K:N[:bias][:f32],…' replaces the list (experiments on other shapes).
if (process.env.PROBE_SHAPES) {
  SHAPES.splice(0, SHAPES.length, ...process.env.PROBE_SHAPES.split(',').map((d) => {
    const [name, K, N, ...flags] = d.split(':');
    return { name, K: Number(K), N: Number(N), bias: flags.includes('bias'), f32: flags.includes('f32') };
  }));
}
const pick = new RegExp(process.argv[2] ?? '.');
const MS = (process.argv[3] ?? '1,2,4,8,16,24,32,48,64,80,96,112,128,160,192,256,384,512').split(',').map(Number);
const forcedTiles = process.argv[4]?.split(',');
const jsonPath = process.env.LINEAR_TILES_JSON;
const MAX_M = Math.max(...MS);
const PERIOD = (1 << 20) + 7;

function tilesFor(M: number): string[] {
  if (forcedTiles) return forcedTiles.filter((t) => !(t === 'stream' && M > 64) && !(t === 'fast' && M > 8));
  return M <= 64 ? ['stream', 'par64', ...(M > 32 ? ['par128'] : [])] : ['par64', 'par128', 'block'];
}
// PROBE_EMULATE=1: the emulated tensor-core kernels (a smoke test of the probe on a device without them).
const emulate: LinearOptions = process.env.PROBE_EMULATE === '1' ? { variant: 'subgroup-matrix-emulated' } : {};
function optsOf(tile: string): LinearOptions {
  if (tile === 'auto') return { ...emulate };
  if (tile === 'fast') return { mode: 'fast' };
  return { ...emulate, tile };
}

const gpu = await Gpu.create();
console.log(`device: ${gpu.describe()}`);

let warmed = false;
for (const s of SHAPES) {
  if (!pick.test(s.name)) continue;
  const { K, N } = s;
  const rng = new Rng(K * 31 + N);
  // PROBE_X=same: every row of x equal to row 0 (is a kernel's time data dependent?).
  const xHost = toF16(rng.floats(MAX_M * K, -1, 1));
  if (process.env.PROBE_X === 'same') for (let m = 1; m < MAX_M; m++) xHost.copyWithin(m * K, 0, K);
  const wPool = toF16(new Rng(K + N).floats(PERIOD, -2 / Math.sqrt(K), 2 / Math.sqrt(K)));
  const biasHost = s.bias ? toF16(rng.floats(N, -1, 1)) : null;
  const x = gpu.upload(xHost, [MAX_M, K], 'f16', 'x');
  const copies = Math.min(4, Math.max(1, Math.ceil(400e6 / (2 * N * K))));
  const ws: Tensor[] = [];
  for (let i = 0; i < copies; i++) {
    const w = gpu.tensor([N, K], 'f16', `w${i}`);
    fillTiled(gpu, w, wPool, N * K, 11);
    ws.push(w);
  }
  const bias = biasHost ? gpu.upload(biasHost, [N], 'f16', 'bias') : null;
  const out = gpu.tensor([MAX_M, N], s.f32 ? 'f32' : 'f16', 'out');
  await gpu.flush();
  const xf = fromF16(xHost);
  const wf = fromF16(wPool);
  const bf = biasHost ? fromF16(biasHost) : null;
  for (const M of MS) {
    const xm = { ...x, shape: [M, K] };
    const om = { ...out, shape: [M, N] };
    let ref: number[] | null = null;
    let refTile = '';
    const line: Record<string, unknown> = { shape: s.name, M, K, N, bytes: 2 * N * K };
    const cells: string[] = [];
    for (const tile of tilesFor(M)) {
      const opts = optsOf(tile);
      let next = 0;
      const run = (rec: Recorder) => linear(rec, xm, ws[next++ % ws.length], bias, om, opts);
      try {
        if (!warmed) {
          await busy(gpu, run, 1500);
          warmed = true;
        }
        await busy(gpu, run, Number(process.env.PROBE_WARM_MS ?? 20));
        const one = await sustained(gpu, 'tiles', run, 3);
        const reps = Math.max(3, Math.min(200, Math.round(2e6 / one)));
        const ns = await sustained(gpu, 'tiles', run, reps);
        // Bits of rows 0..3 and M-1 (the last weight copy run is irrelevant: all copies hold the same values).
        const views = [copyRows(om, 0, Math.min(4, M)), copyRows(om, M - 1, 1)];
        const got = (await gpu.readMany(views)).flatMap((a) => Array.from(s.f32 ? new Uint32Array((a as Float32Array).buffer) : (a as Uint16Array)));
        let status = 'ok';
        if (!ref) {
          ref = got;
          refTile = tile;
          const vals = await gpu.readMany(views);
          const flat = vals.flatMap((a) => Array.from(s.f32 ? (a as Float32Array) : fromF16(a as Uint16Array)));
          const rowsChecked = [...Array(Math.min(4, M)).keys(), M - 1];
          const r = new Rng(M);
          for (let q = 0; q < 16; q++) {
            const ri = r.int(0, rowsChecked.length - 1);
            const m = rowsChecked[ri];
            const n = r.int(0, N - 1);
            let v = bf ? bf[n] : 0;
            let a = bf ? Math.abs(bf[n]) : 0;
            for (let k = 0; k < K; k++) {
              const pr = xf[m * K + k] * wf[(n * K + k + 11) % PERIOD];
              v += pr;
              a += Math.abs(pr);
            }
            const want = s.f32 ? Math.fround(v) : fromF16(toF16([v]))[0];
            const gotV = flat[ri * N + n];
            if (!(Math.abs(gotV - want) <= linearTolerance(want, a, K, s.f32 ? 'f32' : 'f16'))) status = `WRONG [${m},${n}] ${gotV} vs ${want}`;
          }
        } else if (got.some((v, i) => v !== ref![i]) && tile !== 'fast') {
          status = `BITS differ from ${refTile}`;
        }
        const gbps = (2 * N * K) / ns;
        line[tile] = { us: ns / 1e3, gbps, status, variant: linearVariant(gpu, M, N, K, opts) };
        cells.push(`${tile} ${(ns / 1e3).toFixed(1)}us ${gbps.toFixed(0)}GB/s${status === 'ok' ? '' : ` ${status}`}`);
      } catch (e) {
        line[tile] = { error: (e as Error).message };
        cells.push(`${tile} ERROR ${(e as Error).message.slice(0, 80)}`);
      }
    }
    console.log(`${s.name.padEnd(16)} M${String(M).padEnd(4)} ${cells.join(' | ')}`);
    if (jsonPath) appendFileSync(jsonPath, JSON.stringify(line) + '\n');
  }
  for (const t of [x, bias, out, ...ws]) t?.buffer.destroy();
}
gpu.destroy();
