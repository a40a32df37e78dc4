import { describe, expect, it } from 'vitest';
import { add } from '../../src/kernels/add.js';
import { Recorder } from '../../src/gpu/recorder.js';
import { roundF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, readF32, testGpu, uploadF16 } from '../helpers/gpu.js';

const gpu = await testGpu();

describe.skipIf(!gpu)(`bind group cache ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it('reuses bind groups for repeated dispatches and keeps results right when views change', async () => {
    const g = gpu!;
    const rng = new Rng(5);
    const a = rng.floats(512).map(roundF16);
    const b = rng.floats(512).map(roundF16);
    const ta = uploadF16(g, a, [512]);
    const tb = uploadF16(g, b, [512]);
    const out = g.tensor([512], 'f16');
    const step = async (n: number) => {
      const rec = new Recorder(g, 'cache');
      for (let i = 0; i < 4; i++) add(rec, { ...ta, shape: [n] }, { ...tb, shape: [n] }, { ...out, shape: [n] });
      rec.submit();
      await g.flush();
    };
    await step(512);
    const before = g.bindGroups.hits;
    await step(512);
    expect(g.bindGroups.hits - before).toBe(4); // the same dispatches a step later: all cached
    // A view of another size is another binding: a miss, and a correct result.
    g.write(out, new Uint16Array(512));
    await step(100);
    const got = await readF32(g, out);
    for (let i = 0; i < 512; i++) expect(got[i]).toBe(i < 100 ? roundF16(a[i] + b[i]) : 0);
  });

  it('hits the cache in every dispatch of a repeated multi-submit step (pooled buffers come back in creation order)', async () => {
    const g = gpu!;
    const ta = uploadF16(g, new Float32Array(64).fill(1), [64]);
    const out = g.tensor([64], 'f16');
    // 3 submits of 200 dispatches: 3 uniform arenas (256 slots each) and 3 scratch buffers per step,
    // all back in the pool when the step's work is done, in whatever order the GPU finished it.
    const step = async () => {
      const rec = new Recorder(g, 'multi');
      for (let s = 0; s < 3; s++) {
        const tmp = rec.scratch([64], 'f16');
        for (let i = 0; i < 200; i++) add(rec, ta, i % 2 ? tmp : ta, i % 2 ? out : tmp);
        if (s < 2) rec.split();
      }
      rec.submit();
      await g.flush();
    };
    await step();
    for (let r = 0; r < 3; r++) {
      const misses = g.bindGroups.misses;
      await step();
      expect(g.bindGroups.misses - misses).toBe(0);
    }
    // The pool hands out the earliest-created free buffer, whatever the release order.
    const bufs = [0, 1, 2].map(() => g.pool.acquire(1000, 0x80, 'order'));
    for (const b of [bufs[1], bufs[2], bufs[0]]) g.pool.release(b);
    const again = [0, 1, 2].map(() => g.pool.acquire(1000, 0x80, 'order'));
    expect(again.map((b) => bufs.indexOf(b))).toEqual([0, 1, 2]);
  });
});
