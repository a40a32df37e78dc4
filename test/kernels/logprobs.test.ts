// kernels/logprobs against hand-worked values and the float64 reference on seeded random rows
// (awkward V, K from 0 to 20, ties, NaN and -inf logits); the top list for a smaller K is a
// prefix of the list for a larger one, and a row alone is bitwise the row in a batch.
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { logprobs, NO_TOKEN } from '../../src/kernels/logprobs.js';
import { logprobsRowRef } from '../../src/kernels/ref/logprobs.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, noGpuReason, run, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

async function runLogprobs(g: Gpu, values: Float32Array, V: number, sampled: number[], K: number): Promise<{ lp: Float32Array; ids: Uint32Array }> {
  const n = sampled.length;
  const t = g.upload(values, [n, V], 'f32', 'logits');
  const s = g.upload(Uint32Array.from(sampled), [n], 'u32', 'sampled');
  const lp = g.tensor([n, 1 + K], 'f32', 'lp');
  const ids = g.tensor([n, Math.max(K, 1)], 'u32', 'ids');
  await run(g, (rec) => logprobs(rec, t, s, lp, ids, K));
  const [a, b] = await g.readMany([lp, ids]);
  return { lp: a as Float32Array, ids: b as Uint32Array };
}

describe.skipIf(!gpu)(`logprobs ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const g = gpu!;

  it('hand-worked: logits [0, ln 3] give log(1/4) and log(3/4)', async () => {
    const { lp, ids } = await runLogprobs(g, Float32Array.of(0, Math.log(3)), 2, [0], 2);
    expectClose(lp, [Math.log(0.25), Math.log(0.75), Math.log(0.25)], { atol: 1e-6, rtol: 1e-6 });
    expect(Array.from(ids)).toEqual([1, 0]);
  });

  it.each([
    [1, 5, 20],
    [3, 1000, 5],
    [4, 1001, 20],
    [2, 32000, 1],
    [6, 4099, 0],
    [1, 128256, 20],
  ])('numSeqs=%i V=%i K=%i matches the float64 reference; ties go to the lower id; NaN never counts', async (numSeqs, V, K) => {
    const rng = new Rng(numSeqs * 7919 + V + K);
    const values = rng.floats(numSeqs * V, -12, 12);
    for (let s = 0; s < numSeqs; s++) {
      const row = values.subarray(s * V, (s + 1) * V);
      if (s % 3 === 1) for (let i = 0; i < V; i++) row[i] = rng.int(-4, 4); // ties everywhere
      if (s % 3 === 2) {
        row[rng.int(0, V - 1)] = NaN;
        row[rng.int(0, V - 1)] = -Infinity;
      }
    }
    const sampled = Array.from({ length: numSeqs }, () => rng.int(0, V - 1));
    for (let s = 0; s < numSeqs; s++) if (Number.isNaN(values[s * V + sampled[s]])) sampled[s] = (sampled[s] + 1) % V;
    const got = await runLogprobs(g, values, V, sampled, K);
    for (let s = 0; s < numSeqs; s++) {
      const want = logprobsRowRef(values.subarray(s * V, (s + 1) * V), sampled[s], K);
      const row = got.lp.subarray(s * (1 + K), (s + 1) * (1 + K));
      const ids = Array.from(got.ids.subarray(s * Math.max(K, 1), s * Math.max(K, 1) + K));
      expect(ids.filter((i) => i !== NO_TOKEN), `row ${s} top ids`).toEqual(want.topIds);
      // f32 exp/log over V terms against float64.
      expectClose(row, [want.sampled, ...want.topLogprobs, ...new Array<number>(K - want.topIds.length).fill(0)], { atol: 2e-5, rtol: 2e-6 }, `row ${s}`);
    }
    // K is a prefix property, and rows do not see each other.
    if (K > 1) {
      const fewer = await runLogprobs(g, values, V, sampled, K - 1);
      for (let s = 0; s < numSeqs; s++) expect(Array.from(fewer.ids.subarray(s * (K - 1), (s + 1) * (K - 1)))).toEqual(Array.from(got.ids.subarray(s * K, s * K + K - 1)));
    }
    const s = rng.int(0, numSeqs - 1);
    const alone = await runLogprobs(g, values.slice(s * V, (s + 1) * V), V, [sampled[s]], K);
    expect(Array.from(alone.lp)).toEqual(Array.from(got.lp.subarray(s * (1 + K), (s + 1) * (1 + K))));
  });

  it('a row with fewer non-NaN logits than K pads with NO_TOKEN', async () => {
    const { ids } = await runLogprobs(g, Float32Array.of(NaN, 1, NaN, 2), 4, [1], 3);
    expect(Array.from(ids)).toEqual([3, 1, NO_TOKEN]);
  });

  it('rejects bad shapes and K > 20 with a ShapeError', async () => {
    await run(g, (rec) => {
      const l = g.tensor([2, 8], 'f32');
      const s = g.tensor([2], 'u32');
      expect(() => logprobs(rec, l, s, g.tensor([2, 5], 'f32'), g.tensor([2, 3], 'u32'), 3)).toThrow(ShapeError);
      expect(() => logprobs(rec, l, s, g.tensor([2, 22], 'f32'), g.tensor([2, 21], 'u32'), 21)).toThrow(ShapeError);
      expect(() => logprobs(rec, g.tensor([2, 8], 'f16'), s, g.tensor([2, 2], 'f32'), g.tensor([2, 1], 'u32'), 1)).toThrow(ShapeError);
    });
  });
});
