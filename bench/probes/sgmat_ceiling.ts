// Probe (not part of `tknp bench`): where is the ceiling of f16 subgroup-matrix (tensor core) work
// through Dawn/Vulkan on this device? Times generated kernels, one variable at a time:
//   mma      operands loaded once, then chains of multiply-accumulates only (NACC independent
//            accumulators per subgroup): the MMA issue ceiling;
//   ld-st    the same with both operands re-loaded from a storage buffer (L1-resident) every step;
//   ld-wg    the same with operands re-loaded from workgroup memory every step;
//   gemm     full GEMMs on M=N=K=4096 (validated on sampled outputs against the CPU first):
//            'direct TMxTN' (matrix loads straight from storage, TM×TN tiles per subgroup) and
//            'vec4xN / sgmxN BMxBNxBK' (global loads → workgroup memory → matrix loads; register prefetch;
//            N workgroup buffers) and production-like 'block' switches.
// Run twice, with and without TKNP_ROBUSTNESS=1, to see what Dawn's bounds clamps cost.
// Usage: node dist/bench/probes/sgmat_ceiling.js [filter-regex]
import { Gpu } from '../../src/gpu/gpu.js';
import { f16BitsToF32, f32ToF16Bits } from '../../src/util/f16.js';
import { mmaKernel, gemmBlock, gemmDirect, gemmStaged2, type GemmKernel } from './sgmat_kernels.js';
import { gemvStream } from './stream_kernels.js';

const filter = new RegExp(process.argv[2] ?? '.');
const gpu = await Gpu.create();
console.log(`device: ${gpu.describe()}; robustness ${gpu.caps.robustness ? 'on' : 'OFF'}`);
const dev = gpu.device;

async function compile(code: string, label: string): Promise<GPUComputePipeline | undefined> {
  dev.pushErrorScope('validation');
  const module = dev.createShaderModule({ code, label });
  const p = dev.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label });
  const err = await dev.popErrorScope();
  if (err) {
    console.log(`${label}: COMPILE ERROR ${err.message.split('\n').slice(0, 6).join(' | ')}`);
    return undefined;
  }
  return p;
}

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
function buffer(bytes: number): GPUBuffer {
  return dev.createBuffer({ size: bytes, usage: STORAGE });
}

/** Median ns of `reps` timed passes of one dispatch (after warming the clocks for ~0.5 s). */
async function time(p: GPUComputePipeline, bufs: GPUBuffer[], params: number[], groups: [number, number]): Promise<number> {
  const ub = dev.createBuffer({ size: 32, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  dev.queue.writeBuffer(ub, 0, new Uint32Array([...params, 0, 0, 0, 0, 0, 0, 0, 0].slice(0, 8)));
  const entries = [...bufs.map((b, i) => ({ binding: i, resource: { buffer: b } })), { binding: bufs.length, resource: { buffer: ub } }];
  const bg = dev.createBindGroup({ layout: p.getBindGroupLayout(0), entries });
  const t0 = performance.now();
  const samples: number[] = [];
  while (performance.now() - t0 < 500 || samples.length < 20) {
    const qs = dev.createQuerySet({ type: 'timestamp', count: 2 * 10 });
    const enc = dev.createCommandEncoder();
    for (let i = 0; i < 10; i++) {
      const pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
      pass.setPipeline(p);
      pass.setBindGroup(0, bg);
      pass.dispatchWorkgroups(groups[0], groups[1]);
      pass.end();
    }
    const res = dev.createBuffer({ size: 160, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const rb = dev.createBuffer({ size: 160, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.resolveQuerySet(qs, 0, 20, res, 0);
    enc.copyBufferToBuffer(res, 0, rb, 0, 160);
    dev.queue.submit([enc.finish()]);
    await rb.mapAsync(GPUMapMode.READ);
    const ts = new BigUint64Array(rb.getMappedRange().slice(0));
    rb.unmap();
    rb.destroy();
    res.destroy();
    qs.destroy();
    if (performance.now() - t0 > 300) for (let i = 0; i < 10; i++) samples.push(Number(ts[2 * i + 1] - ts[2 * i]));
    if (samples.length >= 200) break;
  }
  ub.destroy();
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

// ---- MMA / load ceilings ----
const SM = 132;
const small = buffer(64 * 1024);
dev.queue.writeBuffer(small, 0, new Uint16Array(32 * 1024).fill(0x3c00)); // 1.0
const sink = buffer(64 * 1024 * 1024);
for (const kind of ['mma', 'ld-st', 'ld-wg'] as const) {
  for (const sgs of [4, 8]) {
    for (const nacc of [1, 2, 4, 8]) {
      const label = `${kind} sg${sgs} acc${nacc}`;
      if (!filter.test(label)) continue;
      const p = await compile(mmaKernel(kind, sgs, nacc), label);
      if (!p) continue;
      const groups = SM * 8;
      const iters = 2048;
      const ns = await time(p, [small, sink], [iters], [groups, 1]);
      const flops = groups * sgs * iters * nacc * 2 * 16 * 16 * 16;
      console.log(`${label.padEnd(24)} ${(ns / 1e3).toFixed(1).padStart(9)} us ${(flops / ns / 1e3).toFixed(1).padStart(7)} TFLOP/s`);
    }
  }
}

// ---- GEMM candidates: out[M,N] f32 = x[M,K] · w[N,K]ᵀ ----
const M = 4096, N = 4096, K = 4096;
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
// Values k/8, k in -8..8: exact in f16, so the CPU reference below is exact up to f32 sums.
const mk = (n: number) => {
  const h = new Uint16Array(n);
  const v = new Float32Array(n);
  const table = new Map<number, number>();
  for (let k = -8; k <= 8; k++) table.set(k, f32ToF16Bits(k / 8));
  for (let i = 0; i < n; i++) {
    const k = Math.floor(rnd() * 17) - 8;
    h[i] = table.get(k)!;
    v[i] = f16BitsToF32(h[i]);
  }
  return { h, v };
};
const X = mk(M * K), W = mk(N * K);
const xb = buffer(M * K * 2), wb = buffer(N * K * 2), ob = buffer(M * N * 4);
dev.queue.writeBuffer(xb, 0, X.h);
dev.queue.writeBuffer(wb, 0, W.h);
const samples = Array.from({ length: 256 }, () => [Math.floor(rnd() * M), Math.floor(rnd() * N)]);
const ref = samples.map(([r, c]) => {
  let s = 0;
  for (let k = 0; k < K; k++) s += X.v[r * K + k] * W.v[c * K + k];
  return s;
});

async function check(): Promise<string> {
  const rb = dev.createBuffer({ size: M * N * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = dev.createCommandEncoder();
  enc.copyBufferToBuffer(ob, 0, rb, 0, M * N * 4);
  dev.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const o = new Float32Array(rb.getMappedRange().slice(0));
  rb.destroy();
  let bad = 0;
  let first = '';
  samples.forEach(([r, c], i) => {
    if (Math.abs(o[r * N + c] - ref[i]) > 1e-3 * (1 + Math.abs(ref[i]))) {
      if (!bad) first = `(${r},${c}) got ${o[r * N + c]} want ${ref[i]}`;
      bad++;
    }
  });
  return bad ? `INVALID ${bad}/256 ${first}` : 'valid';
}

const gemms: GemmKernel[] = [
  gemmDirect(2, 2, 2, 2),
  gemmDirect(4, 2, 2, 2),
  gemmDirect(4, 4, 2, 2),
  gemmStaged2({ BM: 64, BN: 128, BK: 32, SGM: 2, SGN: 2, stage: 'vec4', bufs: 1 }),
  gemmStaged2({ BM: 128, BN: 128, BK: 32, SGM: 4, SGN: 4, stage: 'vec4', bufs: 1 }),
  ...[
    { fold: false, guards: false, busy: false, loop: false },
    { fold: true, guards: false, busy: false, loop: false },
    { fold: false, guards: true, busy: false, loop: false },
    { fold: false, guards: false, busy: true, loop: false },
    { fold: false, guards: false, busy: false, loop: true },
    { fold: true, guards: true, busy: true, loop: true },
  ].map(gemmBlock),
  ...(['vec4', 'sgm'] as const).flatMap((stage) =>
    ([1, 2] as const).flatMap((bufs) => [
      gemmStaged2({ BM: 128, BN: 128, BK: 32, SGM: 2, SGN: 4, stage, bufs }),
      gemmStaged2({ BM: 128, BN: 128, BK: 64, SGM: 2, SGN: 4, stage, bufs }),
      gemmStaged2({ BM: 128, BN: 256, BK: 32, SGM: 2, SGN: 4, stage, bufs }),
      gemmStaged2({ BM: 256, BN: 128, BK: 32, SGM: 4, SGN: 2, stage, bufs }),
      gemmStaged2({ BM: 128, BN: 256, BK: 32, SGM: 2, SGN: 8, stage, bufs }),
      gemmStaged2({ BM: 256, BN: 128, BK: 32, SGM: 4, SGN: 4, stage, bufs }),
    ]),
  ),
];
for (const g of gemms) {
  if (!filter.test(g.label)) continue;
  const p = await compile(g.code, g.label);
  if (!p) continue;
  const enc = dev.createCommandEncoder();
  enc.clearBuffer(ob);
  dev.queue.submit([enc.finish()]);
  const ns = await time(p, [xb, wb, ob], [M, N, K], [N / g.BN, M / g.BM]);
  console.log(`${g.label.padEnd(36)} ${(ns / 1e3).toFixed(1).padStart(9)} us ${((2 * M * N * K) / ns / 1e3).toFixed(1).padStart(7)} TFLOP/s  ${await check()}`);
}

// ---- The production block kernel (shaders/linear_subgroup_matrix_block.wgsl), with one change each ----
/** Replaces `from` in `code` (throws if absent, so a stale transform cannot pass silently). */
function edit(code: string, from: string | RegExp, to: string): string {
  const out = code.replace(from, to);
  if (out === code) throw new Error(`probe transform found nothing to replace: ${String(from).slice(0, 60)}`);
  return out;
}
const noClamp = (c: string) => edit(edit(c, /min\(r, p\.M - 1u\)/g, 'r'), /min\(r, p\.N - 1u\)/g, 'r');
{
  // No totals: the chains of the whole K (one segment) stored straight from the matrices (f32 out).
  const noTotals = (c: string) => {
    const a = c.indexOf('    if (kn % p.segLen == 0u');
    const b = c.indexOf('  let m0 = mB + am;');
    if (a < 0 || b < 0) throw new Error('probe transform: block fold not found');
    const stores = ['00', '01', '10', '11', '20', '21', '30', '31']
      .map((t) => `subgroupMatrixStore<row_major>(&out, (mB + am + ${16 * Number(t[0])}u) * p.N + nB + bn + ${16 * Number(t[1])}u, c${t}, p.N);`)
      .join('\n  ');
    return `${c.slice(0, a)}  }\n  ${stores}\n}\n`;
  };
  const variants: { label: string; tf: (c: string) => string }[] = [
    { label: 'base', tf: (c) => c },
    { label: 'noclamp', tf: noClamp },
    { label: 'nototals', tf: noTotals },
    { label: 'noclamp+nototals', tf: (c) => noTotals(noClamp(c)) },
  ];
  for (const v of variants) {
    const label = `prod block ${v.label}`;
    if (!filter.test(label)) continue;
    let code: string;
    try {
      code = v.tf(gpu.shaders.code('linear_subgroup_matrix_block', new Set(['OUT_F32'])));
    } catch (e) {
      console.log(`${label}: ${(e as Error).message}`);
      continue;
    }
    const p = await compile(code, label);
    if (!p) continue;
    const ns = await time(p, [xb, wb, ob], [M, N, K, 1024, K / 1024, M / 128, N / 128, 0], [(M / 128) * (N / 128), 1]);
    console.log(`${label.padEnd(36)} ${(ns / 1e3).toFixed(1).padStart(9)} us ${((2 * M * N * K) / ns / 1e3).toFixed(1).padStart(7)} TFLOP/s  ${v.label.includes('nototals') ? await check() : ''}`);
  }
}

// ---- The production stream kernel (shaders/linear_subgroup_matrix_stream.wgsl, PARTIAL), one change each ----
{
  const N2 = 28672, K2 = 4096, segLen = 2048, numSeg = 2, tilesN = N2 / 64;
  const w2 = buffer(N2 * K2 * 2);
  const x2 = buffer(16 * K2 * 2);
  const o2 = buffer(numSeg * 16 * N2 * 4);
  // Direct partial stores: 16 rows per segment straight from the matrix (no cs round trip).
  const directOut = (c: string) => {
    const a = c.indexOf('  subgroupMatrixStore<row_major>(&cs, sg * 256u, c0, 16u);');
    if (a < 0) throw new Error('probe transform: stream output not found');
    return `${c.slice(0, a)}  subgroupMatrixStore<row_major>(&out, seg * 16u * p.N + nB + bn, c0, p.N);\n}\n`;
  };
  const variants: { label: string; rows: number; tf: (c: string) => string }[] = [
    { label: 'base M1', rows: 1, tf: (c) => c },
    { label: 'base M16', rows: 16, tf: (c) => c },
    { label: 'noclamp M1', rows: 1, tf: noClamp },
    { label: 'directout M1', rows: 1, tf: directOut },
    { label: 'noclamp+directout M1', rows: 1, tf: (c) => directOut(noClamp(c)) },
  ];
  for (const v of variants) {
    const label = `prod stream ${v.label} N${N2} K${K2}`;
    if (!filter.test(label)) continue;
    let code: string;
    try {
      code = v.tf(gpu.shaders.code('linear_subgroup_matrix_stream', new Set(['OUT_F32', 'PARTIAL'])));
    } catch (e) {
      console.log(`${label}: ${(e as Error).message}`);
      continue;
    }
    const p = await compile(code, label);
    if (!p) continue;
    const ns = await time(p, [x2, w2, o2], [v.rows, N2, K2, segLen, numSeg, 1, tilesN, 0], [tilesN * numSeg, 1]);
    console.log(`${label.padEnd(44)} ${(ns / 1e3).toFixed(1).padStart(9)} us ${((N2 * K2 * 2) / ns).toFixed(0).padStart(6)} GB/s`);
  }
}

// ---- Decode weight streams: partials [numSeg, 16, N] of x[16, K] · w[N, K]ᵀ ----
for (const [N2, K2, segLen] of filter.test('gemv stream') ? [[6144, 4096, 512], [28672, 4096, 2048], [4096, 14336, 1792]] : []) {
  const numSeg = Math.ceil(K2 / segLen);
  const X2 = mk(16 * K2);
  const w2 = N2 * K2 <= N * K ? wb : buffer(N2 * K2 * 2);
  const W2 = N2 * K2 <= N * K ? W : mk(N2 * K2);
  if (w2 !== wb) dev.queue.writeBuffer(w2, 0, W2.h);
  const x2 = buffer(16 * K2 * 2);
  dev.queue.writeBuffer(x2, 0, X2.h);
  const o2 = buffer(numSeg * 16 * N2 * 4);
  for (const BN of [128, 64] as const) {
    for (const xFrom of ['stage', 'global'] as const) {
      for (const depth of [1, 2] as const) {
        const g = gemvStream({ BN, xFrom, depth });
        const label = `${g.label} N${N2} K${K2}`;
        if (!filter.test(label)) continue;
        const p = await compile(g.code, label);
        if (!p) continue;
        const tilesN = N2 / BN;
        const ns = await time(p, [x2, x2, w2, o2], [N2, K2, segLen, tilesN], [tilesN * numSeg, 1]);
        const rb = dev.createBuffer({ size: numSeg * 16 * N2 * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        const enc = dev.createCommandEncoder();
        enc.copyBufferToBuffer(o2, 0, rb, 0, numSeg * 16 * N2 * 4);
        dev.queue.submit([enc.finish()]);
        await rb.mapAsync(GPUMapMode.READ);
        const o = new Float32Array(rb.getMappedRange().slice(0));
        rb.destroy();
        let bad = 0;
        for (let t = 0; t < 64; t++) {
          const r = Math.floor(rnd() * 16), c = Math.floor(rnd() * N2);
          let want = 0;
          for (let k = 0; k < K2; k++) want += X2.v[r * K2 + k] * W2.v[c * K2 + k];
          let got = 0;
          for (let sgi = 0; sgi < numSeg; sgi++) got += o[(sgi * 16 + r) * N2 + c];
          if (Math.abs(got - want) > 1e-3 * (1 + Math.abs(want))) bad++;
        }
        console.log(`${label.padEnd(44)} ${(ns / 1e3).toFixed(1).padStart(9)} us ${((N2 * K2 * 2) / ns).toFixed(0).padStart(6)} GB/s  ${bad ? `INVALID ${bad}/64` : 'valid'}`);
      }
    }
  }
}
gpu.destroy();
process.exit(0);
