import { describe, expect, it } from 'vitest';
import { reshapeAndCache, SKIP_SLOT } from '../../src/kernels/reshape_and_cache.js';
import { reshapeAndCacheRef } from '../../src/kernels/ref/reshape_and_cache.js';
import { ShapeError } from '../../src/gpu/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, run, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

function randomBits(rng: Rng, n: number): Uint16Array {
  const a = new Uint16Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.int(0, 0xffff);
  return a;
}

/** Distinct random slots in [0, numSlots), with about `skipRate` of them replaced by SKIP_SLOT. */
function randomSlots(rng: Rng, T: number, numSlots: number, skipRate: number): Uint32Array {
  const all = Array.from({ length: numSlots }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return Uint32Array.from(all.slice(0, T), (s) => (rng.next() < skipRate ? SKIP_SLOT : s));
}

function firstDiff(a: Uint16Array, b: Uint16Array): string {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `[${i}]: got 0x${a[i].toString(16)}, expected 0x${b[i].toString(16)}`;
  return 'none';
}

async function check(g: Gpu, seed: number, T: number, numKvHeads: number, headDim: number, numBlocks: number, slots?: Uint32Array) {
  const rng = new Rng(seed);
  const rowLen = numKvHeads * headDim;
  const cacheLen = numBlocks * numKvHeads * 16 * headDim;
  const k = randomBits(rng, T * rowLen);
  const v = randomBits(rng, T * rowLen);
  // Both caches start with random contents: untouched slots must keep them bit for bit.
  const kCache = randomBits(rng, cacheLen);
  const vCache = randomBits(rng, cacheLen);
  const slotMapping = slots ?? randomSlots(rng, T, numBlocks * 16, 0.2);
  const tk = g.upload(k, [T, numKvHeads, headDim], 'f16', 'k');
  const tv = g.upload(v, [T, numKvHeads, headDim], 'f16', 'v');
  const tkc = g.upload(kCache, [numBlocks, numKvHeads, 16, headDim], 'f16', 'kCache');
  const tvc = g.upload(vCache, [numBlocks, numKvHeads, 16, headDim], 'f16', 'vCache');
  const ts = g.upload(slotMapping, [T], 'u32', 'slotMapping');
  await run(g, (rec) => reshapeAndCache(rec, tk, tv, tkc, tvc, ts));
  reshapeAndCacheRef(k, v, kCache, vCache, slotMapping, numKvHeads, headDim);
  const gotK = (await g.read(tkc)) as Uint16Array;
  const gotV = (await g.read(tvc)) as Uint16Array;
  for (const t of [tk, tv, tkc, tvc, ts]) t.buffer.destroy();
  const what = `T=${T} Hkv=${numKvHeads} D=${headDim} blocks=${numBlocks}`;
  expect(firstDiff(gotK, kCache), `kCache ${what}`).toBe('none');
  expect(firstDiff(gotV, vCache), `vCache ${what}`).toBe('none');
}

describe.skipIf(!gpu)(`reshapeAndCache ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  // [T, numKvHeads, headDim, numBlocks]
  it.each([
    [1, 1, 64, 1],
    [7, 2, 128, 3],
    [33, 8, 128, 5],
    [100, 4, 64, 9],
    [257, 8, 128, 40],
    [50, 3, 96, 4],
  ])('T=%i Hkv=%i D=%i blocks=%i: writes slots bit-exactly, skips 0xFFFFFFFF', async (T, numKvHeads, headDim, numBlocks) => {
    await check(gpu!, T * 31 + numKvHeads * 7 + headDim, T, numKvHeads, headDim, numBlocks);
  });

  it('contiguous decode-style slots (appending one token per sequence) and out-of-range slots', async () => {
    // Seq i appends at slot blocks[i] * 16 + pos: crossing into offset 0 and 15 of a block.
    const slots = Uint32Array.from([3 * 16 + 15, 0 * 16 + 0, 5 * 16 + 7, SKIP_SLOT, 6 * 16 + 15 + 1, 8 * 16 /* out of range */]);
    await check(gpu!, 99, slots.length, 2, 64, 8, slots);
  });

  it('rejects mismatched shapes and dtypes with a ShapeError', async () => {
    const g = gpu!;
    const k = g.tensor([4, 2, 64], 'f16');
    const cache = g.tensor([3, 2, 16, 64], 'f16');
    const slots = g.tensor([4], 'u32');
    await run(g, (rec) => {
      expect(() => reshapeAndCache(rec, k, g.tensor([4, 2, 32], 'f16'), cache, cache, slots)).toThrow(ShapeError);
      expect(() => reshapeAndCache(rec, k, k, cache, g.tensor([3, 2, 8, 64], 'f16'), slots)).toThrow(ShapeError);
      expect(() => reshapeAndCache(rec, k, k, cache, cache, g.tensor([3], 'u32'))).toThrow(ShapeError);
      expect(() => reshapeAndCache(rec, k, k, cache, cache, g.tensor([4], 'i32'))).toThrow(ShapeError);
      expect(() => reshapeAndCache(rec, k, k, g.tensor([3, 4, 16, 64], 'f16'), cache, slots)).toThrow(ShapeError);
    });
  });
});
