import { describe, expect, it } from 'vitest';
import { splitQkv } from '../../src/kernels/split_qkv.js';
import { splitQkvRef } from '../../src/kernels/ref/split_qkv.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, run, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

describe.skipIf(!gpu)(`splitQkv ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  // (tokens, qDim, kvDim): Llama-3-8B / Llama-2 (MHA) widths, tiny and odd word counts, a grid past 65535 workgroups.
  it.each([
    [1, 4096, 1024],
    [3, 4096, 4096],
    [7, 6, 2],
    [33, 256, 128],
    [17, 2, 0],
    [5000, 4096, 1024],
  ])('T=%i qDim=%i kvDim=%i: every element lands in its place', async (T, qDim, kvDim) => {
    const g = gpu!;
    const rng = new Rng(T * 7 + qDim + kvDim);
    const bits = Uint16Array.from({ length: T * (qDim + 2 * kvDim) }, () => rng.int(0, 0xffff));
    const qkv = g.upload(bits, [T, qDim + 2 * kvDim], 'f16', 'qkv');
    const [q, k, v] = [qDim, kvDim, kvDim].map((d) => g.tensor([T, d], 'f16'));
    await run(g, (rec) => splitQkv(rec, qkv, q, k, v));
    const want = splitQkvRef(bits, T, qDim, kvDim, (n) => new Uint16Array(n));
    for (const [name, t, w] of [['q', q, want.q], ['k', k, want.k], ['v', v, want.v]] as const) {
      const got = (await g.read(t)) as Uint16Array;
      const bad = w.findIndex((x, i) => got[i] !== x);
      expect(bad, `${name}: first wrong element`).toBe(-1);
    }
    for (const t of [qkv, q, k, v]) t.buffer.destroy();
  });

  it('rejects mismatched shapes, odd widths and overlapping outputs', async () => {
    const g = gpu!;
    await run(g, (rec) => {
      const q = g.tensor([2, 8], 'f16');
      const k = g.tensor([2, 4], 'f16');
      const v = g.tensor([2, 4], 'f16');
      expect(() => splitQkv(rec, g.tensor([2, 15], 'f16'), q, k, v)).toThrow(ShapeError);
      expect(() => splitQkv(rec, g.tensor([3, 16], 'f16'), q, k, v)).toThrow(ShapeError);
      expect(() => splitQkv(rec, g.tensor([2, 13], 'f16'), g.tensor([2, 7], 'f16'), g.tensor([2, 3], 'f16'), g.tensor([2, 3], 'f16'))).toThrow(/even/);
      expect(() => splitQkv(rec, g.tensor([2, 16], 'f16'), q, k, k)).toThrow(/overlap/);
    });
  });
});
