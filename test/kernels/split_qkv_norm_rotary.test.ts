// split_qkv_norm_rotary (Qwen3 / Gemma 3's prologue) against the references of its steps, and against
// the kernels it replaces (split_qkv → rms_norm → rotary → reshape_and_cache): the sum of squares is
// reduced in another order (and inverseSqrt is approximate), so a normed value can be an f16 ulp off,
// which the rotation of a pair can make 2; at least 98% of values exact.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { reshape, type Tensor } from '../../src/gpu/tensor.js';
import { reshapeAndCache, SKIP_SLOT } from '../../src/kernels/reshape_and_cache.js';
import { rmsNorm } from '../../src/kernels/rms_norm.js';
import { rotary } from '../../src/kernels/rotary.js';
import { splitQkv } from '../../src/kernels/split_qkv.js';
import { splitQkvNormRotary } from '../../src/kernels/split_qkv_norm_rotary.js';
import { splitQkvNormRotaryRef } from '../../src/kernels/ref/split_qkv_norm_rotary.js';
import { ropeCosSinTable, ropeInvFreq } from '../../src/model/rope.js';
import { fromF16, roundF16, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectUlps, noGpuReason, run, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();
const MAX_POS = 2048;
const EPS = 1e-6;

interface Case {
  T: number;
  Hq: number;
  Hk: number;
  D: number;
  rotaryDim: number;
  cacheRows: number | null;
  blocks: number;
}

const cases: Case[] = [
  { T: 1, Hq: 32, Hk: 8, D: 128, rotaryDim: 128, cacheRows: 1, blocks: 2 }, // Qwen3-8B decode
  { T: 19, Hq: 7, Hk: 1, D: 80, rotaryDim: 80, cacheRows: 11, blocks: 3 }, // Gemma-3-like GQA 7, D 80; rows 11.. for other ranks
  { T: 5, Hq: 2, Hk: 1, D: 256, rotaryDim: 192, cacheRows: null, blocks: 0 }, // D 256, partial rotary, no cache
  { T: 40, Hq: 3, Hk: 3, D: 96, rotaryDim: 96, cacheRows: 40, blocks: 4 },
];

interface Inputs {
  qkv: Uint16Array;
  qNorm: Uint16Array;
  kNorm: Uint16Array;
  positions: Uint32Array;
  cosSin: Float32Array;
  kCache: Uint16Array;
  vCache: Uint16Array;
  slots: Uint32Array;
}

function inputs(c: Case): Inputs {
  const rng = new Rng(c.T * 131 + c.D + c.Hq);
  const qkv = toF16(Float32Array.from({ length: c.T * (c.Hq + 2 * c.Hk) * c.D }, () => roundF16(2 * rng.normal())));
  const norm = () => toF16(Float32Array.from({ length: c.D }, () => 0.7 + 0.6 * rng.next()));
  const positions = Uint32Array.from({ length: c.T }, () => rng.int(0, MAX_POS - 1));
  if (c.T >= 5) positions[c.T - 1] = MAX_POS; // past the table: normed, not rotated
  const cacheLen = c.blocks * c.Hk * 16 * c.D;
  const numSlots = c.blocks * 16;
  const slots = Uint32Array.from({ length: c.cacheRows ?? 0 }, (_, i) => (i === 1 ? SKIP_SLOT : (i * 7) % numSlots));
  return {
    qkv,
    qNorm: norm(),
    kNorm: norm(),
    positions,
    cosSin: ropeCosSinTable(ropeInvFreq({ theta: 1e6, rotaryDim: c.rotaryDim }), MAX_POS),
    kCache: Uint16Array.from({ length: cacheLen }, () => rng.int(0, 0x7bff)),
    vCache: Uint16Array.from({ length: cacheLen }, () => rng.int(0, 0x7bff)),
    slots,
  };
}

/** The fused kernel, or the five it replaces, on fresh tensors: q, k, v, kCache, vCache bits. */
async function runGpu(g: Gpu, c: Case, x: Inputs, fused: boolean): Promise<Uint16Array[]> {
  const t = (shape: number[], data?: Uint16Array): Tensor => (data ? g.upload(data, shape, 'f16', 'x') : g.tensor(shape, 'f16'));
  const qkv = t([c.T, (c.Hq + 2 * c.Hk) * c.D], x.qkv);
  const [q, k, v] = [c.Hq, c.Hk, c.Hk].map((h) => t([c.T, h, c.D]));
  const [qNorm, kNorm] = [t([c.D], x.qNorm), t([c.D], x.kNorm)];
  const cacheShape = [Math.max(c.blocks, 1), c.Hk, 16, c.D];
  const kCache = c.blocks ? t(cacheShape, x.kCache) : t(cacheShape);
  const vCache = c.blocks ? t(cacheShape, x.vCache) : t(cacheShape);
  const slotMapping = g.upload(x.slots.length ? x.slots : new Uint32Array(1), [Math.max(x.slots.length, 1)], 'u32', 'slots');
  const positions = g.upload(x.positions, [c.T], 'u32', 'positions');
  const cosSin = g.upload(x.cosSin, [MAX_POS, c.rotaryDim], 'f32', 'cosSin');
  const cache = c.cacheRows === null ? null : { kCache, vCache, slotMapping: { ...slotMapping, shape: [x.slots.length] } };
  await run(g, (rec) => {
    if (fused) return splitQkvNormRotary(rec, qkv, qNorm, kNorm, q, k, v, positions, cosSin, { rotaryDim: c.rotaryDim, eps: EPS }, cache);
    splitQkv(rec, qkv, reshape(q, [c.T, c.Hq * c.D]), reshape(k, [c.T, c.Hk * c.D]), reshape(v, [c.T, c.Hk * c.D]));
    rmsNorm(rec, reshape(q, [c.T * c.Hq, c.D]), qNorm, reshape(q, [c.T * c.Hq, c.D]), EPS);
    rmsNorm(rec, reshape(k, [c.T * c.Hk, c.D]), kNorm, reshape(k, [c.T * c.Hk, c.D]), EPS);
    rotary(rec, q, k, positions, cosSin, { style: 'neox', rotaryDim: c.rotaryDim });
    const n = c.cacheRows ?? 0;
    if (cache) reshapeAndCache(rec, { ...k, shape: [n, c.Hk, c.D] }, { ...v, shape: [n, c.Hk, c.D] }, kCache, vCache, cache.slotMapping);
  });
  const out = (await g.readMany([q, k, v, kCache, vCache])) as Uint16Array[];
  for (const x of [qkv, q, k, v, qNorm, kNorm, kCache, vCache, slotMapping, positions, cosSin]) x.buffer.destroy();
  return out.map((a) => Uint16Array.from(a));
}

describe.skipIf(!gpu)(`splitQkvNormRotary ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const g = gpu!;

  it.each(cases)('T=$T Hq=$Hq Hk=$Hk D=$D rotaryDim=$rotaryDim cacheRows=$cacheRows', async (c) => {
    const x = inputs(c);
    const [q, k, v, kc, vc] = await runGpu(g, c, x, true);
    const kCache = x.kCache.slice();
    const vCache = x.vCache.slice();
    const cache = c.cacheRows === null ? null : { kCache, vCache, slotMapping: x.slots };
    const want = splitQkvNormRotaryRef(x.qkv, x.qNorm, x.kNorm, c.T, c.Hq, c.Hk, c.D, x.positions, x.cosSin, { rotaryDim: c.rotaryDim, eps: EPS }, cache);
    // Normed and rotated: within 2 f16 ulps of the f64 references of each step, nearly all exact; v copied exactly.
    expectUlps(q, fromF16(want.q), 2, 0.98, 'q');
    expectUlps(k, fromF16(want.k), 2, 0.98, 'k');
    expect(v).toEqual(want.v);
    if (c.blocks) {
      expectUlps(kc, fromF16(kCache), 2, 0.98, 'kCache');
      expect(vc).toEqual(vCache);
    }
    // And as close to the five kernels it replaces.
    const [pq, pk, pv] = await runGpu(g, c, x, false);
    expectUlps(q, fromF16(pq), 2, 0.98, 'q vs split_qkv → rms_norm → rotary');
    expectUlps(k, fromF16(pk), 2, 0.98, 'k vs split_qkv → rms_norm → rotary');
    expect(v).toEqual(pv);
  });

  it('rejects bad shapes and options with a ShapeError', async () => {
    const qkv = g.tensor([2, 4 * 64], 'f16');
    const q = g.tensor([2, 2, 64], 'f16');
    const k = g.tensor([2, 1, 64], 'f16');
    const v = g.tensor([2, 1, 64], 'f16');
    const w = g.tensor([64], 'f16');
    const pos = g.tensor([2], 'u32');
    const cs = g.tensor([8, 64], 'f32');
    const opts = { rotaryDim: 64, eps: 1e-6 };
    await run(g, (rec) => {
      expect(() => splitQkvNormRotary(rec, qkv, w, w, q, k, v, pos, cs, opts, null)).not.toThrow();
      expect(() => splitQkvNormRotary(rec, qkv, g.tensor([32], 'f16'), w, q, k, v, pos, cs, opts, null)).toThrow(ShapeError);
      expect(() => splitQkvNormRotary(rec, qkv, w, w, q, k, v, pos, cs, { ...opts, rotaryDim: 66 }, null)).toThrow(ShapeError);
      expect(() => splitQkvNormRotary(rec, qkv, w, w, q, k, v, pos, cs, { ...opts, eps: 0 }, null)).toThrow(ShapeError);
      expect(() => splitQkvNormRotary(rec, qkv, w, w, q, q, v, pos, cs, opts, null)).toThrow(ShapeError);
    });
  });
});
