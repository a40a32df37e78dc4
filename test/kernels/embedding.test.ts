import { describe, expect, it } from 'vitest';
import { embedding } from '../../src/kernels/embedding.js';
import { embeddingRef } from '../../src/kernels/ref/embedding.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, run, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

// Embedding copies bits: the result must equal the reference exactly (compared as u16 bit
// patterns, so -0, subnormals and NaN payloads count too).
function firstDifference(a: Uint16Array, b: Uint16Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  return a.findIndex((v, i) => v !== b[i]);
}

describe.skipIf(!gpu)(`embedding ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  // [numTokens, vocab, hidden]: 8-wide (H % 8 == 0) and scalar (odd H) paths.
  const cases: [number, number, number][] = [
    [1, 50, 64],
    [3, 1000, 1000],
    [17, 300, 4096],
    [64, 123, 72],
    [17, 77, 1001],
    [64, 31, 13],
  ];
  it.each(cases)('T=%i V=%i H=%i matches the reference exactly, out-of-range ids give zeros', async (T, V, H) => {
    const rng = new Rng(T * 7919 + V * 31 + H);
    // Random f16 bit patterns (any value incl. NaN/Inf/subnormal: the kernel must only move bits).
    const table = new Uint16Array(V * H);
    for (let i = 0; i < table.length; i++) table[i] = rng.int(0, 0xffff);
    const ids = new Uint32Array(T);
    for (let t = 0; t < T; t++) ids[t] = rng.int(0, V - 1);
    // Out of range: exactly V, far beyond, and the largest u32 (where the row offset would wrap);
    // the first and last rows of the table are always used.
    if (T >= 3) ids[T - 1] = V;
    if (T >= 5) {
      ids[Math.floor(T / 2)] = 0xffffffff;
      ids[1] = V + rng.int(1, 1000);
      ids[2] = V - 1;
    }
    ids[0] = T === 1 ? V - 1 : 0;
    const tIds = gpu!.upload(ids, [T], 'u32', 'ids');
    const tTable = gpu!.upload(table, [V, H], 'f16', 'table');
    const out = gpu!.tensor([T, H], 'f16', 'out');
    // Poison the output so "left unwritten" cannot pass as zeros.
    gpu!.write(out, new Uint16Array(T * H).fill(0x7e00));
    await run(gpu!, (rec) => embedding(rec, tIds, tTable, out));
    const got = (await gpu!.read(out)) as Uint16Array;
    const want = embeddingRef(ids, table, H);
    const i = firstDifference(got, want);
    expect(i, i >= 0 ? `first difference at [${Math.floor(i / H)}, ${i % H}]: got 0x${got[i].toString(16)}, expected 0x${want[i].toString(16)}` : '').toBe(-1);
    for (const t of [tIds, tTable, out]) t.buffer.destroy();
  });

  // Gemma scales its embeddings by sqrt(hidden): f16(f32(value) · scale), rounded once; both paths.
  it.each([
    [5, 40, 64, Math.sqrt(2304)],
    [5, 40, 13, 0.37],
  ])('T=%i V=%i H=%i scaled by %f: matches the reference exactly', async (T, V, H, scale) => {
    const rng = new Rng(H);
    const table = toF16(rng.floats(V * H, -3, 3));
    const ids = Uint32Array.from({ length: T }, (_, t) => (t === T - 1 ? V + 3 : rng.int(0, V - 1)));
    const tIds = gpu!.upload(ids, [T], 'u32', 'ids');
    const tTable = gpu!.upload(table, [V, H], 'f16', 'table');
    const out = gpu!.upload(new Uint16Array(T * H).fill(0x7e00), [T, H], 'f16', 'out');
    await run(gpu!, (rec) => embedding(rec, tIds, tTable, out, scale));
    const got = (await gpu!.read(out)) as Uint16Array;
    const want = embeddingRef(ids, table, H, scale);
    expect(firstDifference(got, want)).toBe(-1);
    expect(firstDifference(got, embeddingRef(ids, table, H))).not.toBe(-1); // really scaled
    for (const t of [tIds, tTable, out]) t.buffer.destroy();
  });

  it('writes zeros for every id when all are out of range', async () => {
    const V = 8;
    const H = 24;
    const ids = Uint32Array.from([8, 9, 1 << 31]);
    const tIds = gpu!.upload(ids, [3], 'u32', 'ids');
    const tTable = gpu!.upload(toF16(new Float32Array(V * H).fill(1)), [V, H], 'f16', 'table');
    const out = gpu!.upload(new Uint16Array(3 * H).fill(0x3c00), [3, H], 'f16', 'out');
    await run(gpu!, (rec) => embedding(rec, tIds, tTable, out));
    expect(Array.from((await gpu!.read(out)) as Uint16Array).every((v) => v === 0)).toBe(true);
  });

  it('rejects mismatched shapes and dtypes with a ShapeError', async () => {
    await run(gpu!, (rec) => {
      const ids = gpu!.tensor([4], 'u32');
      const table = gpu!.tensor([10, 8], 'f16');
      expect(() => embedding(rec, ids, table, gpu!.tensor([4, 16], 'f16'))).toThrow(ShapeError);
      expect(() => embedding(rec, ids, table, gpu!.tensor([5, 8], 'f16'))).toThrow(ShapeError);
      expect(() => embedding(rec, gpu!.tensor([4], 'f32'), table, gpu!.tensor([4, 8], 'f16'))).toThrow(ShapeError);
      expect(() => embedding(rec, ids, gpu!.tensor([10, 8], 'f32'), gpu!.tensor([4, 8], 'f16'))).toThrow(ShapeError);
    });
  });
});
