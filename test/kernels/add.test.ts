import { describe, expect, it } from 'vitest';
import { add } from '../../src/kernels/add.js';
import { addRef } from '../../src/kernels/ref/add.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { roundF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, noGpuReason, readF32, run, testGpu, uploadF16 } from '../helpers/gpu.js';

const gpu = await testGpu();

describe.skipIf(!gpu)(`add ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it.each([1, 3, 255, 256, 257, 4097, 70000 * 4 + 3])('n=%i matches the reference', async (n) => {
    const rng = new Rng(n);
    const a = rng.floats(n, -4, 4).map(roundF16);
    const b = rng.floats(n, -4, 4).map(roundF16);
    const ta = uploadF16(gpu!, a, [n]);
    const tb = uploadF16(gpu!, b, [n]);
    const out = gpu!.tensor([n], 'f16');
    await run(gpu!, (rec) => add(rec, ta, tb, out));
    // f16 + f16 computed in f32 and rounded once is exact against the reference.
    expectClose(await readF32(gpu!, out), addRef(a, b), { atol: 0, rtol: 0 }, `add n=${n}`);
  });

  it('rejects mismatched shapes with a ShapeError', async () => {
    await run(gpu!, (rec) => {
      expect(() => add(rec, gpu!.tensor([4], 'f16'), gpu!.tensor([5], 'f16'), gpu!.tensor([4], 'f16'))).toThrow(ShapeError);
    });
  });
});

