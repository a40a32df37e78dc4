// Probe (not part of `tknp bench`): decode weight streams over quantized weights (issue 17), the shipped
// quantized plan against wide-load variants (bench/probes/quant_stream_kernels.ts) and the f16 engine's
// kernel, at Llama-3-8B shapes for int4 (g128, asymmetric) and int8 (per channel, symmetric).
// Variants: f16 (kernels/linear on an f16 weight holding the dequantized values: the f16 engine), cur
//   (quantLinear, default plan: the BK-64 QUANT stream for few rows), cur-fast (quantLinear --fast), gemv
//   (quantLinear's GEMV at any M ≤ 8), sw128 /
//   sw128h / sw256 / sw256h (the wide stream, BK 128 or 256, f32 or f16 dequant; M ≤ 32; it shipped opt-in as
//   shaders/quant_linear_stream and was removed for measuring slower on the H100), gw<RS>x<U> (the wide
//   GEMV, RS rows per 32 lanes, U vec4 per row per lane per trip; M ≤ 8).
// Validated before timing: cur and every GEMV against a CPU reference on sampled outputs (ref/linear's
//   tolerance on x · f16((q − z)·s)); f16 and every stream variant bitwise against cur (all M×N outputs).
// Timed sustained (as bench/probes/linear_tiles.ts): R calls back to back in one timed pass, median of 3
// passes, weights rotated among copies (≥ PROBE_COPY_BYTES, 400 MB, in all, past the 50 MB L2); a 300 ms
// warm loop (PROBE_WARM_FIRST_MS) before each (shape, format)'s cells (the H100 idles at 345 MHz while the
// host uploads) and PROBE_WARM_MS (30) before each cell. GB/s: the bytes the variant reads (packed
// weights + scales + zeros; f16: 2·N·K).
// Usage: node dist/bench/probes/quant_probe.js [shape-regex] [M,…] [variant,…] [format,…] > log
//   Each line is also written as JSON to $QUANT_PROBE_JSON if set. PROBE_SHAPES='name:K:N,…' replaces the
//   shapes; PROBE_EMULATE=1: emulated tensor-core kernels (lavapipe smoke test; sw256* need 42 KB of
//   workgroup memory and fail there).
import { appendFileSync } from 'node:fs';
import { Gpu } from '../../src/gpu/gpu.js';
import { busy, sustained } from './probe_timing.js';
import { Recorder } from '../../src/gpu/recorder.js';
import { linear } from '../../src/kernels/linear.js';
import { linearTolerance } from '../../src/kernels/ref/linear.js';
import { uploadPacked, type QuantizedWeight } from '../../src/kernels/quantized_weight.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { fromF16, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { kPerVec4 } from './quant_stream_kernels.js';
import { makeProbeWeight, probeFormats } from './quant_probe_data.js';
import { runVariant, variantRows, type VariantName } from './quant_probe_variants.js';

interface Shape {
  name: string;
  K: number;
  N: number;
}
const SHAPES: Shape[] = (process.env.PROBE_SHAPES ?? 'llama3 qkv:4096:6144,llama3 o:4096:4096,llama3 gate_up:4096:28672,llama3 down:14336:4096').split(',').map((d) => {
  const [name, K, N] = d.split(':');
  return { name, K: Number(K), N: Number(N) };
});
const pick = new RegExp(process.argv[2] || '.');
const MS = (process.argv[3] || '1,2,4,8,16').split(',').map(Number);
const VARIANTS = (process.argv[4] || 'f16,cur,cur-fast,sw128,sw128h,sw256,sw256h,gw1x4,gw2x2,gw4x1,gw4x2').split(',') as VariantName[];
const FORMATS = probeFormats(process.argv[5] || undefined);
const jsonPath = process.env.QUANT_PROBE_JSON;
const emulate = process.env.PROBE_EMULATE === '1';
const copyBytes = Number(process.env.PROBE_COPY_BYTES ?? 400e6);
const MAX_M = Math.max(...MS);

const gpu = await Gpu.create();
console.log(`device: ${gpu.describe()}`);

/** `n` tensors holding t's contents (t itself first), copied on the device. */
async function copiesOf<T extends Tensor>(t: T, n: number): Promise<T[]> {
  const out: T[] = [t];
  for (let i = 1; i < n; i++) {
    const c = gpu.tensor(t.shape, t.dtype, `${t.buffer.label}-${i}`) as T;
    const rec = new Recorder(gpu, 'copies');
    rec.copy(t, c);
    rec.submit();
    out.push(c);
  }
  await gpu.flush();
  return out;
}

interface Cell {
  us?: number;
  gbps?: number;
  status: string;
}

// Per (format, M, variant): µs summed over the shapes timed (the default shapes: one layer's projections).
const layerSums = new Map<string, { us: number; shapes: number }>();
const shapesRun = SHAPES.filter((s) => pick.test(s.name)).length;

for (const s of SHAPES) {
  if (!pick.test(s.name)) continue;
  const { K, N } = s;
  const rng = new Rng(K * 31 + N);
  const xBits = toF16(rng.floats(MAX_M * K, -1, 1));
  const xf = fromF16(xBits);
  const x = gpu.upload(xBits, [MAX_M, K], 'f16', 'x');
  const out = gpu.tensor([MAX_M, N], 'f16', 'out');
  for (const fmt of FORMATS) {
    const w = makeProbeWeight(N, K, fmt, K + N);
    if (K % kPerVec4(fmt.bits) !== 0 || w.packed.groupSize % kPerVec4(fmt.bits) !== 0) {
      console.log(`${s.name} ${fmt.name}: skipped (K ${K} or group ${w.packed.groupSize} not a multiple of ${kPerVec4(fmt.bits)})`);
      continue;
    }
    const q0 = uploadPacked(gpu, w.packed, 'w');
    const packedBytes = w.packed.qweight.byteLength + w.packed.scales.byteLength + (w.packed.zeros?.byteLength ?? 0);
    const nq = emulate ? 1 : Math.min(32, Math.max(1, Math.ceil(copyBytes / packedBytes)));
    const [qws, qss, qzs] = await Promise.all([copiesOf(q0.qweight, nq), copiesOf(q0.scales, nq), q0.zeros ? copiesOf(q0.zeros, nq) : Promise.resolve(null)]);
    const qs: QuantizedWeight[] = qws.map((qw, i) => ({ ...q0, qweight: qw, scales: qss[i], zeros: qzs ? qzs[i] : null }));
    const needF16 = VARIANTS.includes('f16');
    const w16s: Tensor[] = [];
    if (needF16) {
      const w16 = gpu.upload(w.f16Bits(), [N, K], 'f16', 'w16');
      w16s.push(...(await copiesOf(w16, emulate ? 1 : Math.min(4, Math.max(1, Math.ceil(copyBytes / (2 * N * K)))))));
    }
    await gpu.flush();
    const refAt = (m: number, n: number) => {
      let v = 0;
      let a = 0;
      const row = w.rowValues(n);
      for (let k = 0; k < K; k++) {
        const pr = xf[m * K + k] * row[k];
        v += pr;
        a += Math.abs(pr);
      }
      return { v, a };
    };
    // Validation of every (M, variant), then the timed cells of this (shape, format).
    const cells = new Map<string, Cell>();
    const runs = new Map<string, (rec: Recorder) => void>();
    for (const M of MS) {
      const xm = { ...x, shape: [M, K] };
      const om = { ...out, shape: [M, N] };
      let curBits: Uint16Array | null = null;
      // cur first: the bitwise checks compare with its output.
      for (const v of [...VARIANTS].sort((a, b) => Number(b === 'cur') - Number(a === 'cur'))) {
        const key = `${M} ${v}`;
        if (!variantRows(v, M)) continue;
        let next = 0;
        const run =
          v === 'f16'
            ? (rec: Recorder) => linear(rec, xm, w16s[next++ % w16s.length], null, om, emulate ? { variant: 'subgroup-matrix-emulated' } : {})
            : (rec: Recorder) => runVariant(gpu, rec, v, xm, qs[next++ % qs.length], om, emulate);
        try {
          gpu.write(om, new Uint16Array(M * N).fill(0x7e00));
          const rec = new Recorder(gpu, 'validate');
          run(rec);
          rec.submit();
          const got = (await gpu.read(om)) as Uint16Array;
          let status = 'ok';
          if (v === 'cur' || v === 'cur-fast' || v === 'gemv' || v.startsWith('gw')) {
            const r = new Rng(M * 7 + v.length);
            for (let q = 0; q < 48 && status === 'ok'; q++) {
              const m = q < 8 ? q % M : r.int(0, M - 1);
              const n = q < 8 ? N - 1 - q : r.int(0, N - 1);
              const { v: want, a } = refAt(m, n);
              const g = fromF16(got.subarray(m * N + n, m * N + n + 1))[0];
              if (!(Math.abs(g - want) <= linearTolerance(want, a, K, 'f16'))) status = `WRONG [${m},${n}] ${g} vs ${want}`;
            }
            if (v === 'cur') curBits = got.slice();
          } else if (!curBits) {
            status = 'UNCHECKED (no cur)';
          } else {
            const bad = got.findIndex((b, i) => b !== curBits![i]);
            if (bad >= 0) status = `BITS differ from cur at [${Math.floor(bad / N)},${bad % N}]`;
          }
          cells.set(key, { status });
          if (status === 'ok' || status.startsWith('UNCHECKED')) runs.set(key, run);
        } catch (e) {
          cells.set(key, { status: `ERROR ${(e as Error).message.split('\n')[0].slice(0, 100)}` });
        }
      }
    }
    let first = true;
    for (const [key, run] of runs) {
      await busy(gpu, run, first ? Number(process.env.PROBE_WARM_FIRST_MS ?? 300) : Number(process.env.PROBE_WARM_MS ?? 30));
      first = false;
      const one = await sustained(gpu, 'quant-probe', run, 3);
      const reps = Math.max(3, Math.min(200, Math.round(2e6 / one)));
      const ns = await sustained(gpu, 'quant-probe', run, reps);
      const bytes = key.endsWith(' f16') ? 2 * N * K : packedBytes;
      const c = cells.get(key)!;
      c.us = ns / 1e3;
      c.gbps = bytes / ns;
    }
    for (const M of MS) {
      const line: Record<string, unknown> = { shape: s.name, format: fmt.name, M, K, N, packedBytes, f16Bytes: 2 * N * K };
      const txt: string[] = [];
      for (const v of VARIANTS) {
        const c = cells.get(`${M} ${v}`);
        if (!c) continue;
        line[v] = c;
        txt.push(c.us === undefined ? `${v} ${c.status}` : `${v} ${c.us.toFixed(1)}us ${c.gbps!.toFixed(0)}GB/s${c.status === 'ok' ? '' : ` ${c.status}`}`);
      }
      console.log(`${s.name.padEnd(15)} ${fmt.name} M${String(M).padEnd(3)} ${txt.join(' | ')}`);
      for (const v of VARIANTS) {
        const c = cells.get(`${M} ${v}`);
        if (c?.us === undefined) continue;
        const k = `${fmt.name} M${M} ${v}`;
        const t = layerSums.get(k) ?? { us: 0, shapes: 0 };
        layerSums.set(k, { us: t.us + c.us, shapes: t.shapes + 1 });
      }
      if (jsonPath) appendFileSync(jsonPath, JSON.stringify(line) + '\n');
    }
    for (const t of [...qws, ...qss, ...(qzs ?? []), ...w16s]) t.buffer.destroy();
  }
  x.buffer.destroy();
  out.buffer.destroy();
}
// One line per (format, M): each variant's sum over every shape (variants timed on all of them), then its
// ratio to f16 and to cur: 'layer' lines, a decode step's linears per layer at the default shapes.
for (const fmt of FORMATS) {
  for (const M of MS) {
    const sums = VARIANTS.map((v) => [v, layerSums.get(`${fmt.name} M${M} ${v}`)] as const).filter(([, t]) => t && t.shapes === shapesRun);
    const f16 = sums.find(([v]) => v === 'f16')?.[1]?.us;
    const cur = sums.find(([v]) => v === 'cur')?.[1]?.us;
    const cellsTxt = sums.map(([v, t]) => `${v} ${t!.us.toFixed(0)}us${f16 ? ` ${(f16 / t!.us).toFixed(2)}x f16` : ''}${cur ? ` ${(cur / t!.us).toFixed(2)}x cur` : ''}`);
    if (sums.length) console.log(`layer ${fmt.name} M${M}: ${cellsTxt.join(' | ')}`);
  }
}
gpu.destroy();

