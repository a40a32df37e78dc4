import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { reshape, type Tensor } from '../../src/gpu/tensor.js';
import { reshapeAndCache, SKIP_SLOT } from '../../src/kernels/reshape_and_cache.js';
import { rotary, type RotaryOptions } from '../../src/kernels/rotary.js';
import { splitQkv } from '../../src/kernels/split_qkv.js';
import { splitQkvRotary } from '../../src/kernels/split_qkv_rotary.js';
import { splitQkvRotaryRef } from '../../src/kernels/ref/split_qkv_rotary.js';
import { ropeCosSinTable, ropeInvFreq } from '../../src/model/rope.js';
import { roundF16, toF16, fromF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectRotated, noGpuReason, run, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();
const MAX_POS = 4096;

interface Case {
  T: number;
  Hq: number;
  Hk: number;
  D: number;
  rotaryDim: number;
  style: RotaryOptions['style'];
  /** Rows written into the cache (the first ones: token parallelism caches only this rank's), or null: no cache. */
  cacheRows: number | null;
  blocks: number;
}

const cases: Case[] = [
  { T: 1, Hq: 32, Hk: 8, D: 128, rotaryDim: 128, style: 'neox', cacheRows: 1, blocks: 4 }, // Llama-3-8B decode
  { T: 3, Hq: 4, Hk: 2, D: 64, rotaryDim: 64, style: 'gptj', cacheRows: 3, blocks: 2 },
  { T: 17, Hq: 4, Hk: 2, D: 128, rotaryDim: 64, style: 'neox', cacheRows: 9, blocks: 3 }, // partial rotary; rows 9.. for other ranks
  { T: 33, Hq: 3, Hk: 1, D: 128, rotaryDim: 128, style: 'gptj', cacheRows: null, blocks: 0 }, // MQA, no cache
  { T: 17, Hq: 2, Hk: 1, D: 64, rotaryDim: 10, style: 'neox', cacheRows: 17, blocks: 2 }, // f16 path, 54 copied dims
  { T: 64, Hq: 4, Hk: 4, D: 128, rotaryDim: 96, style: 'neox', cacheRows: 64, blocks: 5 }, // MHA, 3/4 rotary
  { T: 5, Hq: 2, Hk: 1, D: 64, rotaryDim: 10, style: 'gptj', cacheRows: 0, blocks: 1 }, // f16 gptj; no row cached
  { T: 36000, Hq: 2, Hk: 1, D: 64, rotaryDim: 10, style: 'gptj', cacheRows: null, blocks: 0 }, // grid past 65535 workgroups
];

/** Distinct random slots in [0, numSlots) (about 1 in 5 skipped), the last one out of range. */
function randomSlots(rng: Rng, n: number, numSlots: number): Uint32Array {
  const all = Array.from({ length: numSlots }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [all[i], all[j]] = [all[j], all[i]];
  }
  const slots = Uint32Array.from(all.slice(0, n), (s) => (rng.next() < 0.2 ? SKIP_SLOT : s));
  if (n > 1) slots[n - 1] = numSlots + 3;
  return slots;
}

interface Inputs {
  qkv: Uint16Array;
  positions: Uint32Array;
  cosSin: Float32Array;
  kCache: Uint16Array;
  vCache: Uint16Array;
  slots: Uint32Array;
}

function inputs(c: Case): Inputs {
  const rng = new Rng(c.T * 1009 + c.D * 7 + c.rotaryDim + c.Hq * 3 + (c.style === 'gptj' ? 1 : 0));
  const width = (c.Hq + 2 * c.Hk) * c.D;
  const qkv = toF16(Float32Array.from({ length: c.T * width }, () => roundF16(2 * rng.normal())));
  // Positions up to the table's end, both ends included and, where T allows, one past it (left unrotated).
  const positions = Uint32Array.from({ length: c.T }, () => rng.int(0, MAX_POS - 1));
  positions[0] = MAX_POS - 1;
  if (c.T >= 3) positions[1] = 0;
  if (c.T >= 17) positions[c.T - 1] = MAX_POS;
  const cosSin = ropeCosSinTable(ropeInvFreq({ theta: 500000, rotaryDim: c.rotaryDim }), MAX_POS);
  const cacheLen = c.blocks * c.Hk * 16 * c.D;
  const kCache = Uint16Array.from({ length: cacheLen }, () => rng.int(0, 0x7bff));
  const vCache = Uint16Array.from({ length: cacheLen }, () => rng.int(0, 0x7bff));
  return { qkv, positions, cosSin, kCache, vCache, slots: randomSlots(rng, c.cacheRows ?? 0, c.blocks * 16) };
}

interface Outputs {
  q: Uint16Array;
  k: Uint16Array;
  v: Uint16Array;
  kCache: Uint16Array;
  vCache: Uint16Array;
}

/** Runs the fused kernel, or split_qkv → rotary → reshape_and_cache, on fresh tensors. */
async function runGpu(g: Gpu, c: Case, x: Inputs, fused: boolean): Promise<Outputs> {
  const t = (shape: number[], data?: Uint16Array): Tensor => (data ? g.upload(data, shape, 'f16', 'x') : g.tensor(shape, 'f16'));
  const qkv = t([c.T, (c.Hq + 2 * c.Hk) * c.D], x.qkv);
  const [q, k, v] = [c.Hq, c.Hk, c.Hk].map((h) => t([c.T, h, c.D]));
  const cacheShape = [Math.max(c.blocks, 1), c.Hk, 16, c.D];
  const kCache = c.blocks ? t(cacheShape, x.kCache) : t(cacheShape);
  const vCache = c.blocks ? t(cacheShape, x.vCache) : t(cacheShape);
  const slotMapping = g.upload(x.slots, [x.slots.length], 'u32', 'slots');
  const positions = g.upload(x.positions, [c.T], 'u32', 'positions');
  const cosSin = g.upload(x.cosSin, [MAX_POS, c.rotaryDim], 'f32', 'cosSin');
  const opts = { style: c.style, rotaryDim: c.rotaryDim };
  const cache = c.cacheRows === null ? null : { kCache, vCache, slotMapping };
  await run(g, (rec) => {
    if (fused) return splitQkvRotary(rec, qkv, q, k, v, positions, cosSin, opts, cache);
    splitQkv(rec, qkv, reshape(q, [c.T, c.Hq * c.D]), reshape(k, [c.T, c.Hk * c.D]), reshape(v, [c.T, c.Hk * c.D]));
    rotary(rec, q, k, positions, cosSin, opts);
    const n = c.cacheRows ?? 0;
    if (cache) reshapeAndCache(rec, { ...k, shape: [n, c.Hk, c.D] }, { ...v, shape: [n, c.Hk, c.D] }, kCache, vCache, slotMapping);
  });
  const [gq, gk, gv, gkc, gvc] = (await g.readMany([q, k, v, kCache, vCache])) as Uint16Array[];
  for (const x of [qkv, q, k, v, kCache, vCache, slotMapping, positions, cosSin]) x.buffer.destroy();
  return { q: gq, k: gk, v: gv, kCache: c.blocks ? gkc : new Uint16Array(0), vCache: c.blocks ? gvc : new Uint16Array(0) };
}

function firstDiff(a: Uint16Array, b: Uint16Array): string {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `[${i}]: 0x${a[i].toString(16)} vs 0x${b[i].toString(16)}`;
  return 'none';
}

describe.skipIf(!gpu)(`splitQkvRotary ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const g = gpu!;

  it.each(cases)('T=$T Hq=$Hq Hk=$Hk D=$D rotaryDim=$rotaryDim $style cacheRows=$cacheRows', async (c) => {
    const x = inputs(c);
    const fused = await runGpu(g, c, x, true);
    // Bit for bit what the three kernels produce in turn.
    const parts = await runGpu(g, c, x, false);
    for (const name of ['q', 'k', 'v', 'kCache', 'vCache'] as const) expect(firstDiff(fused[name], parts[name]), `${name} against split_qkv → rotary → reshape_and_cache`).toBe('none');
    // And the references: rotated values as in rotary's test (1 f16 ulp, 99% exact); copies exact.
    const kCache = x.kCache.slice();
    const vCache = x.vCache.slice();
    const cache = c.cacheRows === null ? null : { kCache, vCache, slotMapping: x.slots };
    const want = splitQkvRotaryRef(x.qkv, c.T, c.Hq, c.Hk, c.D, x.positions, x.cosSin, { style: c.style, rotaryDim: c.rotaryDim }, cache);
    expectRotated(fromF16(fused.q), fromF16(want.q), 'q');
    expectRotated(fromF16(fused.k), fromF16(want.k), 'k');
    expect(firstDiff(fused.v, want.v), 'v').toBe('none');
    if (c.blocks) {
      expectRotated(fromF16(fused.kCache), fromF16(kCache), 'kCache');
      expect(firstDiff(fused.vCache, vCache), 'vCache').toBe('none');
      // The rows that were not to be cached left every slot as it was.
      if (c.cacheRows === 0) expect(firstDiff(fused.kCache, x.kCache), 'kCache untouched').toBe('none');
    }
  });

  it('on a device that binds fewer than 9 storage buffers, reshape_and_cache writes the cache (same bits)', async () => {
    const c = cases[2];
    const x = inputs(c);
    const fused = await runGpu(g, c, x, true);
    const limits = { ...g.limits, maxStorageBuffersPerShaderStage: 8 } as GPUSupportedLimits;
    Object.defineProperty(g, 'limits', { value: limits, configurable: true });
    try {
      const fallback = await runGpu(g, c, x, true);
      for (const name of ['q', 'k', 'v', 'kCache', 'vCache'] as const) expect(firstDiff(fallback[name], fused[name]), name).toBe('none');
    } finally {
      delete (g as unknown as { limits?: unknown }).limits;
    }
    expect(g.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(9);
  });

  it('rejects bad shapes, options, overlaps and caches with a ShapeError', async () => {
    await run(g, (rec) => {
      const qkv = g.tensor([4, 12 * 64], 'f16');
      const q = g.tensor([4, 8, 64], 'f16');
      const k = g.tensor([4, 2, 64], 'f16');
      const v = g.tensor([4, 2, 64], 'f16');
      const pos = g.tensor([4], 'u32');
      const cs = g.tensor([16, 64], 'f32');
      const neox = { style: 'neox', rotaryDim: 64 } as const;
      const cache = { kCache: g.tensor([3, 2, 16, 64], 'f16'), vCache: g.tensor([3, 2, 16, 64], 'f16'), slotMapping: g.tensor([4], 'u32') };
      expect(() => splitQkvRotary(rec, qkv, q, k, v, pos, cs, neox, cache)).not.toThrow();
      expect(() => splitQkvRotary(rec, g.tensor([4, 11 * 64], 'f16'), q, k, v, pos, cs, neox, null)).toThrow(ShapeError);
      expect(() => splitQkvRotary(rec, qkv, q, k, g.tensor([4, 2, 32], 'f16'), pos, cs, neox, null)).toThrow(ShapeError);
      expect(() => splitQkvRotary(rec, qkv, q, k, v, g.tensor([3], 'u32'), cs, neox, null)).toThrow(ShapeError);
      expect(() => splitQkvRotary(rec, qkv, q, k, v, pos, g.tensor([16, 32], 'f32'), neox, null)).toThrow(ShapeError);
      expect(() => splitQkvRotary(rec, qkv, q, k, v, pos, cs, { style: 'neox', rotaryDim: 66 }, null)).toThrow(/rotaryDim/);
      expect(() => splitQkvRotary(rec, qkv, q, k, k, pos, cs, neox, null)).toThrow(/overlap/);
      expect(() => splitQkvRotary(rec, qkv, q, k, v, pos, cs, neox, { ...cache, slotMapping: g.tensor([5], 'u32') })).toThrow(/more than the 4 tokens/);
      expect(() => splitQkvRotary(rec, qkv, q, k, v, pos, cs, neox, { ...cache, vCache: g.tensor([3, 2, 8, 64], 'f16') })).toThrow(ShapeError);
      expect(() => splitQkvRotary(rec, qkv, q, k, v, pos, cs, neox, { ...cache, vCache: cache.kCache })).toThrow(/overlap/);
      expect(() => splitQkvRotary(rec, qkv, q, k, v, pos, cs, neox, { ...cache, vCache: { ...qkv, shape: [3, 2, 16, 64] } })).toThrow(/overlap/);
    });
  });
});
