import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors.js';
import { logitSoftcap } from '../../src/kernels/logit_softcap.js';
import { logitSoftcapRef } from '../../src/kernels/ref/logit_softcap.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, noGpuReason, readF32, run, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

describe.skipIf(!gpu)(`logit_softcap ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  // Gemma 2's cap of 30 over logits from -200 to 200 (most bent, the largest saturated), incl. -inf.
  it.each([
    [1, 7],
    [3, 1000],
    [2, 65537],
  ])('[%i, %i] matches the reference; -inf stays -inf', async (S, V) => {
    const rng = new Rng(S * V);
    const x = Float32Array.from(rng.floats(S * V, -200, 200));
    x[0] = -Infinity;
    x[x.length - 1] = 0;
    if (x.length > 2) x[1] = 1e30;
    const t = gpu!.upload(x, [S, V], 'f32', 'logits');
    await run(gpu!, (rec) => logitSoftcap(rec, t, 30));
    const got = await readF32(gpu!, t);
    expect(got[0]).toBe(-Infinity);
    expect(got.slice(1).every(Number.isFinite)).toBe(true);
    expectClose(got.slice(1), logitSoftcapRef(x, 30).slice(1), { atol: 2e-5, rtol: 1e-5 }, `softcap [${S}, ${V}]`);
    t.buffer.destroy();
  });

  it('rejects f16 logits and a cap <= 0', async () => {
    await run(gpu!, (rec) => {
      expect(() => logitSoftcap(rec, gpu!.tensor([2, 8], 'f16'), 30)).toThrow(ShapeError);
      expect(() => logitSoftcap(rec, gpu!.tensor([2, 8], 'f32'), 0)).toThrow(ShapeError);
    });
  });
});
