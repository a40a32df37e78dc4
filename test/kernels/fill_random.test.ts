import { describe, expect, it } from 'vitest';
import { fillRandom, fillRandomKey } from '../../src/kernels/fill_random.js';
import { fillRandomRef, fillRandomValueRef } from '../../src/kernels/ref/fill_random.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { fromF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, noGpuReason, run, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();
// The kernel and the reference compute the same integer hash, one exact i32 → f32 conversion,
// one correctly rounded f32 multiply and one round-to-nearest-even f16 conversion: results are
// compared bit for bit (as u16 patterns).
const EXACT = { atol: 0, rtol: 0 };

async function bits(t: Parameters<typeof fillRandom>[1]): Promise<Uint16Array> {
  return (await gpu!.read(t)) as Uint16Array;
}

describe.skipIf(!gpu)(`fill_random ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it.each([1, 3, 255, 256, 257, 4097, 70000 * 4 + 3])('n=%i matches the reference bit for bit', async (n) => {
    const rng = new Rng(n);
    const key = rng.int(0, 0xffffffff);
    const amplitude = rng.pick([0.125, 1 / 32, 0.7, 3, 1000]);
    const out = gpu!.tensor([n], 'f16');
    await run(gpu!, (rec) => fillRandom(rec, out, { key, amplitude }));
    expectClose(await bits(out), fillRandomRef(n, key, amplitude), EXACT, `fill n=${n} a=${amplitude}`);
  });

  it('more workgroups than one grid dimension holds (x*y dispatch): sampled elements and the tail', async () => {
    const n = 65535 * 256 + 301;
    const key = fillRandomKey(3, 'big');
    const out = gpu!.tensor([n], 'f16');
    await run(gpu!, (rec) => fillRandom(rec, out, { key, amplitude: 0.5 }));
    const got = await bits(out);
    const idx = [...Array.from({ length: 4000 }, (_, j) => j * 4201), ...Array.from({ length: 600 }, (_, j) => n - 600 + j)];
    expectClose(
      idx.map((i) => got[i]),
      idx.map((i) => fillRandomValueRef(i, key, 0.5)),
      EXACT,
      'fill n=16.8M',
    );
  });

  it('a window of a larger tensor takes the full tensor values (row- and column-split shards)', async () => {
    const rng = new Rng(11);
    for (let trial = 0; trial < 4; trial++) {
      const rows = rng.int(1, 40);
      const parts = rng.int(2, 4);
      const fullCols = parts * rng.int(1, 50);
      const key = rng.int(0, 0xffffffff);
      const full = fillRandomRef(rows * fullCols, key, 0.25);
      for (let p = 0; p < parts; p++) {
        // Column block p of every row (a row-parallel shard): [rows, fullCols / parts].
        const cols = fullCols / parts;
        const shard = gpu!.tensor([rows, cols], 'f16');
        await run(gpu!, (rec) => fillRandom(rec, shard, { key, amplitude: 0.25, window: { base: p * cols, cols, fullCols } }));
        const want = new Uint16Array(rows * cols);
        for (let r = 0; r < rows; r++) want.set(full.subarray(r * fullCols + p * cols, r * fullCols + (p + 1) * cols), r * cols);
        expectClose(await bits(shard), want, EXACT, `window rows=${rows} fullCols=${fullCols} part ${p}`);
      }
    }
  });

  it('start/count fill a sub-range and leave the rest alone', async () => {
    const n = 1000;
    const out = gpu!.upload(new Uint16Array(n).fill(0x7bff), [n], 'f16');
    const key = fillRandomKey(0, 'range');
    await run(gpu!, (rec) => fillRandom(rec, out, { key, amplitude: 2, start: 123, count: 517 }));
    const got = await bits(out);
    const want = new Uint16Array(n).fill(0x7bff);
    want.set(fillRandomRef(517, key, 2), 123);
    expectClose(got, want, EXACT, 'sub-range');
  });

  it('values are bounded, centred and spread over the range; other keys give other values', async () => {
    const n = 1 << 16;
    const a = gpu!.tensor([n], 'f16');
    const b = gpu!.tensor([n], 'f16');
    await run(gpu!, (rec) => {
      fillRandom(rec, a, { key: fillRandomKey(1, 'w'), amplitude: 0.125 });
      fillRandom(rec, b, { key: fillRandomKey(2, 'w'), amplitude: 0.125 });
    });
    const va = fromF16(await bits(a));
    const vb = fromF16(await bits(b));
    let sum = 0;
    let same = 0;
    const bins = new Array<number>(8).fill(0);
    for (let i = 0; i < n; i++) {
      expect(Math.abs(va[i])).toBeLessThanOrEqual(0.125);
      sum += va[i];
      if (va[i] === vb[i]) same++;
      bins[Math.min(7, Math.floor(((va[i] + 0.125) / 0.25) * 8))]++;
    }
    expect(Math.abs(sum / n)).toBeLessThan(2e-3);
    for (const c of bins) expect(Math.abs(c / n - 1 / 8)).toBeLessThan(0.01);
    expect(same / n).toBeLessThan(0.01);
    expect(fillRandomKey(0, 'model.norm.weight')).not.toBe(fillRandomKey(1, 'model.norm.weight'));
    expect(fillRandomKey(0, 'a')).not.toBe(fillRandomKey(0, 'b'));
  });

  it('rejects bad arguments with a ShapeError', async () => {
    await run(gpu!, (rec) => {
      expect(() => fillRandom(rec, gpu!.tensor([4], 'f32'), { key: 1, amplitude: 1 })).toThrow(ShapeError);
      expect(() => fillRandom(rec, gpu!.tensor([4], 'f16'), { key: 1, amplitude: 0 })).toThrow(ShapeError);
      expect(() => fillRandom(rec, gpu!.tensor([4], 'f16'), { key: 1, amplitude: 1, start: 2, count: 3 })).toThrow(ShapeError);
      expect(() => fillRandom(rec, gpu!.tensor([6], 'f16'), { key: 1, amplitude: 1, window: { base: 0, cols: 4, fullCols: 8 } })).toThrow(ShapeError);
    });
  });
});
