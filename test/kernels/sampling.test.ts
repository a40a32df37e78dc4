import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { argmaxRef, filteredProbs, sampleRef, sampleRowRef, type SampleRefResult } from '../../src/kernels/ref/sampling.js';
import { argmax, packSamplingParams, sample, sampleWith, type SampleOptions, type SamplingRow } from '../../src/kernels/sampling.js';
import { fromF16, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, run, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

type DT = 'f32' | 'f16';

/** Logits as the GPU will see them (f16 inputs rounded) and the tensor holding them. */
function upload(g: Gpu, values: Float32Array, numSeqs: number, V: number, dtype: DT): { t: Tensor; seen: Float32Array } {
  if (dtype === 'f32') return { t: g.upload(values, [numSeqs, V], 'f32', 'logits'), seen: values };
  const bits = toF16(values);
  return { t: g.upload(bits, [numSeqs, V], 'f16', 'logits'), seen: fromF16(bits) };
}

/** LLM-like rows: a normal bulk plus a few strong tokens (so top-k/top-p cuts are not all trivial). */
function llmLogits(rng: Rng, numSeqs: number, V: number): Float32Array {
  const out = new Float32Array(numSeqs * V);
  for (let s = 0; s < numSeqs; s++) {
    const scale = rng.uniform(1, 3);
    for (let i = 0; i < V; i++) out[s * V + i] = rng.normal() * scale;
    const peaks = rng.int(0, Math.min(12, V));
    for (let j = 0; j < peaks; j++) out[s * V + rng.int(0, V - 1)] += rng.uniform(2, 10);
  }
  return out;
}

async function runArgmax(g: Gpu, t: Tensor, numSeqs: number): Promise<Uint32Array> {
  const out = g.tensor([numSeqs], 'u32', 'ids');
  await run(g, (rec) => argmax(rec, t, out));
  return (await g.read(out)) as Uint32Array;
}

async function runSample(g: Gpu, t: Tensor, rows: SamplingRow[], opts: SampleOptions = {}): Promise<Uint32Array> {
  const params = g.upload(packSamplingParams(rows), [rows.length, 8], 'u32', 'params');
  const out = g.tensor([rows.length], 'u32', 'ids');
  await run(g, (rec) => sampleWith(rec, t, params, out, opts));
  return (await g.read(out)) as Uint32Array;
}

const TEMPS = [0, 0.7, 1.5];
const TOPKS = [0, 1, 5, 50];
const TOPPS = [1, 0.9, 0.5];
const COMBOS: Omit<SamplingRow, 'seed' | 'step'>[] = TEMPS.flatMap((temperature) =>
  TOPKS.flatMap((topK) => TOPPS.map((topP) => ({ temperature, topK, topP }))),
);

/** Tokens must equal the reference on robust rows, and lie in the relaxed kept set on the others. */
function checkTokens(got: Uint32Array, want: SampleRefResult[], what: string): void {
  let robust = 0;
  want.forEach((w, i) => {
    if (w.robust) {
      robust++;
      expect(got[i], `${what} row ${i}`).toBe(w.token);
    } else {
      expect(w.keptRelaxed, `${what} row ${i} (near a tie)`).toContain(got[i]);
    }
  });
  // The exact comparison must carry the test.
  expect(robust, `${what}: robust rows`).toBeGreaterThanOrEqual(Math.ceil(0.8 * want.length));
}

describe.skipIf(!gpu)(`sampling ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const g = gpu!;

  describe('argmax', () => {
    it.each([
      [5, 1, 'f32'],
      [5, 7, 'f16'],
      [1000, 7, 'f32'],
      [1001, 7, 'f16'],
      [32000, 1, 'f32'],
      [32000, 7, 'f16'],
    ] as [number, number, DT][])('V=%i numSeqs=%i %s: ties -> lowest index, NaN never wins', async (V, numSeqs, dtype) => {
      const rng = new Rng(V * 31 + numSeqs);
      const values = rng.floats(numSeqs * V, -8, 8);
      for (let s = 0; s < numSeqs; s++) {
        const row = values.subarray(s * V, (s + 1) * V);
        const kind = (s + (numSeqs === 1 ? 1 : 0)) % 4;
        if (kind === 1) {
          // The max in a run (copies within one thread's elements), then at random later
          // places (copies in other threads): the first copy of the run must win.
          const hi = 9 + rng.next();
          const at = rng.int(0, Math.floor(V / 2));
          row.fill(hi, at, Math.min(V, at + 9));
          for (let j = 0; j < 3; j++) row[rng.int(at, V - 1)] = hi;
        } else if (kind === 0 && s > 0) {
          // Few distinct values: ties everywhere.
          for (let i = 0; i < V; i++) row[i] = rng.int(-3, 3);
        } else if (kind === 2) {
          // NaN at the front and above every value's position; -inf sprinkled.
          row[0] = NaN;
          row[rng.int(0, V - 1)] = NaN;
          row[rng.int(0, V - 1)] = -Infinity;
        } else if (kind === 3 && s === 3) {
          row.fill(NaN); // all NaN -> 0
        }
      }
      const { t, seen } = upload(g, values, numSeqs, V, dtype);
      const got = await runArgmax(g, t, numSeqs);
      expect(Array.from(got)).toEqual(Array.from(argmaxRef(seen, numSeqs, V)));
    });

    it('rejects bad shapes with a ShapeError', async () => {
      await run(g, (rec) => {
        expect(() => argmax(rec, g.tensor([2, 8], 'f32'), g.tensor([3], 'u32'))).toThrow(ShapeError);
        expect(() => argmax(rec, g.tensor([2, 8], 'u32'), g.tensor([2], 'u32'))).toThrow(ShapeError);
        expect(() => argmax(rec, g.tensor([16], 'f32'), g.tensor([2], 'u32'))).toThrow(ShapeError);
      });
    });
  });

  describe('sample', () => {
    // Every combination of temperature {0, 0.7, 1.5} x topK {0, 1, 5, 50} x topP {1, 0.9, 0.5}.
    it.each([
      [5, 'f32'],
      [1000, 'f32'],
      [1000, 'f16'],
      [1001, 'f32'],
      [32000, 'f32'],
      [32000, 'f16'],
    ] as [number, DT][])('V=%i %s matches the reference for all parameter combinations', async (V, dtype) => {
      const rng = new Rng(V + (dtype === 'f16' ? 7 : 0));
      const rows = COMBOS.map((c) => ({ ...c, seed: rng.int(0, 0xffffffff), step: rng.int(0, 5000) }));
      const values = V === 1001 ? rng.floats(rows.length * V, -4, 4) : llmLogits(rng, rows.length, V);
      const { t, seen } = upload(g, values, rows.length, V, dtype);
      const got = await runSample(g, t, rows);
      checkTokens(got, sampleRef(seen, V, rows), `V=${V} ${dtype}`);
      // Greedy rows are bitwise the argmax kernel.
      const am = await runArgmax(g, t, rows.length);
      rows.forEach((r, i) => {
        if (r.temperature === 0) expect(got[i], `greedy row ${i}`).toBe(am[i]);
      });
    });

    it('numSeqs=1 and numSeqs=7 batches; a row gives the same token alone or anywhere in a batch', async () => {
      const V = 1000;
      const rng = new Rng(77);
      const values = llmLogits(rng, 7, V);
      const { t, seen } = upload(g, values, 7, V, 'f32');
      const rows = Array.from({ length: 7 }, () => ({ ...rng.pick(COMBOS.filter((c) => c.temperature > 0)), seed: rng.int(0, 1e9), step: rng.int(0, 100) }));
      const batch = await runSample(g, t, rows);
      checkTokens(batch, sampleRef(seen, V, rows), 'batch');
      for (const i of [0, 3, 6]) {
        const alone = upload(g, seen.slice(i * V, (i + 1) * V), 1, V, 'f32');
        const single = await runSample(g, alone.t, [rows[i]]);
        expect(single[0], `row ${i} alone`).toBe(batch[i]);
        // The same row placed elsewhere in a batch of different rows.
        const other = llmLogits(rng, 7, V);
        other.set(seen.subarray(i * V, (i + 1) * V), 2 * V);
        const moved = upload(g, other, 7, V, 'f32');
        const otherRows = rows.map((r) => ({ ...r, seed: r.seed + 1 }));
        otherRows[2] = rows[i];
        expect((await runSample(g, moved.t, otherRows))[2], `row ${i} at position 2`).toBe(batch[i]);
      }
    });

    it('results do not depend on workgroup size, the candidate cache or the split over workgroups', async () => {
      const rng = new Rng(5);
      for (const V of [1000, 32000]) {
        const combos = COMBOS.filter((c) => c.temperature > 0);
        const rows = combos.map((c) => ({ ...c, seed: rng.int(0, 1e9), step: rng.int(0, 100) }));
        const values = llmLogits(rng, rows.length, V);
        const { t } = upload(g, values, rows.length, V, 'f32');
        const base = await runSample(g, t, rows);
        const variants: SampleOptions[] = [{ chunks: 1 }, { chunks: 3 }, { noCache: true, chunks: 1 }, { noCache: true, chunks: 5 }, { wg: 512, cache: 512, chunks: 1 }];
        for (const opts of variants) {
          expect(Array.from(await runSample(g, t, rows, opts)), `V=${V} ${JSON.stringify(opts)}`).toEqual(Array.from(base));
        }
      }
    });

    it('split over workgroups: every element is seen (a lone max at chunk edges always wins)', async () => {
      const V = 1000;
      const rng = new Rng(8);
      for (const chunks of [2, 3, 7]) {
        const edge = 4 * Math.ceil(V / 4 / chunks); // elements per chunk (the wrapper's split)
        const at = [0, V - 1, rng.int(0, V - 1)];
        for (let k = 1; k < chunks; k++) at.push(k * edge - 1, k * edge);
        // Greedy, top-k 1, and a temperature so low that Gumbel noise cannot beat a gap of 1.
        const modes = [
          { temperature: 0, topK: 0, topP: 1 },
          { temperature: 1, topK: 1, topP: 1 },
          { temperature: 0.01, topK: 0, topP: 1 },
          { temperature: 0.01, topK: 0, topP: 0.5 },
        ];
        const rows = at.flatMap((_, i) => modes.map((m, j) => ({ ...m, seed: i * 10 + j, step: chunks })));
        const values = new Float32Array(rows.length * V);
        rows.forEach((_, r) => {
          for (let i = 0; i < V; i++) values[r * V + i] = rng.uniform(-4, 4);
          values[r * V + at[Math.floor(r / modes.length)]] = 6;
        });
        const got = await runSample(g, g.upload(values, [rows.length, V], 'f32'), rows, { chunks });
        rows.forEach((_, r) => expect(got[r], `chunks ${chunks} row ${r}`).toBe(at[Math.floor(r / modes.length)]));
      }
    });

    it('ties: duplicated max values and ties at the top-k boundary are all kept', async () => {
      const V = 1000;
      const rng = new Rng(11);
      const values = rng.floats(8 * V, -4, 0);
      const rows: SamplingRow[] = [];
      const dup: number[][] = [];
      for (let s = 0; s < 8; s++) {
        const row = values.subarray(s * V, (s + 1) * V);
        // Row s: the max 6.0 at 3 places; 5.0 at 4 places (so the 4th..7th largest tie).
        const set = new Set<number>();
        while (set.size < 7) set.add(rng.int(0, V - 1));
        const at = [...set];
        at.slice(0, 3).forEach((i) => (row[i] = 6));
        at.slice(3).forEach((i) => (row[i] = 5));
        dup.push(at);
        rows.push({ temperature: s < 2 ? 0 : 1, topK: [0, 3, 1, 1, 5, 4, 0, 0][s], topP: [1, 1, 1, 1, 1, 0.9, 1e-6, 0.99][s], seed: s * 1000 + 1, step: s });
      }
      const { t, seen } = upload(g, values, 8, V, 'f32');
      const got = await runSample(g, t, rows);
      const want = sampleRef(seen, V, rows);
      checkTokens(got, want, 'ties');
      const maxAt = (s: number) => dup[s].slice(0, 3);
      expect(got[0]).toBe(Math.min(...maxAt(0))); // greedy: lowest index of the max
      expect(got[1]).toBe(Math.min(...maxAt(1)));
      expect(want[2].kept.sort((a, b) => a - b)).toEqual(maxAt(2).sort((a, b) => a - b)); // topK=1 keeps every copy of the max
      expect(want[4].kept.length).toBe(dup[4].length); // topK=5 keeps all 5.0s tied at the 5th place
      expect(want[6].kept.length).toBe(3); // tiny topP keeps the tied max group
      // Over many seeds, topK=1 with a tied max draws each copy.
      const many = Array.from({ length: 64 }, (_, i) => ({ temperature: 1, topK: 1, topP: 1, seed: i, step: 0 }));
      const rep = new Float32Array(64 * V);
      for (let i = 0; i < 64; i++) rep.set(seen.subarray(2 * V, 3 * V), i * V);
      const drawn = await runSample(g, upload(g, rep, 64, V, 'f32').t, many);
      expect(new Set(drawn)).toEqual(new Set(maxAt(2)));
    });

    it('top-p keeps exactly the tokens up to the cut (topP just above / just below a cumulative mass)', async () => {
      const V = 1000;
      const rng = new Rng(21);
      const row = new Float32Array(V);
      for (let i = 0; i < V; i++) row[i] = rng.normal() - 4;
      const top = Array.from({ length: 10 }, (_, j) => j * 97 + 13);
      top.forEach((i) => (row[i] = rng.uniform(1, 4)));
      // f64 softmax at T = 1, most probable first; C[j] = mass of the j+1 most probable tokens.
      const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a]);
      const m = row[order[0]];
      const Z = row.reduce((a, x) => a + Math.exp(x - m), 0);
      const pr = order.map((i) => Math.exp(row[i] - m) / Z);
      const C = pr.map(((acc) => (x: number) => (acc += x))(0));
      const N = 192;
      const cases = [
        { j: 1, topP: C[0] + 0.05 * pr[1] }, // a cut 5% into token 1's mass keeps it
        { j: 3, topP: C[3] - 0.05 * pr[3] }, // a cut 95% into token 3's mass keeps 3 but not 4
      ];
      const rows = cases.flatMap((c) => Array.from({ length: N }, (_, s) => ({ temperature: 1, topK: 0, topP: c.topP, seed: s, step: c.j })));
      const values = new Float32Array(rows.length * V);
      for (let r = 0; r < rows.length; r++) values.set(row, r * V);
      const got = await runSample(g, g.upload(values, [rows.length, V], 'f32'), rows);
      checkTokens(got, sampleRef(values, V, rows), 'top-p cut');
      cases.forEach((c, k) => {
        const drawn = got.slice(k * N, (k + 1) * N);
        const count = (tok: number) => drawn.filter((t) => t === tok).length;
        expect(count(order[c.j]), `token ranked ${c.j} is kept`).toBeGreaterThan(0);
        expect(drawn.every((t) => order.indexOf(t) <= c.j), `nothing ranked below ${c.j} is drawn`).toBe(true);
      });
    });

    it('NaN logits are never drawn', async () => {
      const V = 1000;
      const rng = new Rng(3);
      const values = llmLogits(rng, 6, V);
      for (let s = 0; s < 6; s++) for (let j = 0; j < 50; j++) values[s * V + rng.int(0, V - 1)] = NaN;
      const rows = [0, 1, 5, 50, 0, 0].map((topK, s) => ({ temperature: 1.5, topK, topP: s >= 4 ? 0.9 : 1, seed: s, step: 1 }));
      const { t, seen } = upload(g, values, 6, V, 'f16');
      const got = await runSample(g, t, rows);
      checkTokens(got, sampleRef(seen, V, rows), 'nan');
      got.forEach((tok) => expect(Number.isNaN(seen[tok % V])).toBe(false));
    });

    // Empirical frequencies over seeds vs the top-k/top-p filtered softmax (f64), chi-square.
    it.each([
      [{ temperature: 1, topK: 0, topP: 1 }, 'seed'],
      [{ temperature: 0.7, topK: 5, topP: 1 }, 'seed'],
      [{ temperature: 1.5, topK: 0, topP: 0.9 }, 'seed'],
      [{ temperature: 1, topK: 6, topP: 0.7 }, 'step'],
    ] as [Omit<SamplingRow, 'seed' | 'step'>, 'seed' | 'step'][])('%o: frequencies over %s match the filtered distribution', async (cfg, vary) => {
      const V = 8;
      const N = 2048;
      const row = Float32Array.from([1.2, 2.0, 0.3, 1.6, -0.4, 0.9, 1.9, -1.0]);
      const values = new Float32Array(N * V);
      for (let i = 0; i < N; i++) values.set(row, i * V);
      const rows = Array.from({ length: N }, (_, i) => ({ ...cfg, seed: vary === 'seed' ? i * 7919 + 1 : 12345, step: vary === 'step' ? i : 9 }));
      const got = await runSample(g, g.upload(values, [N, V], 'f32'), rows);
      const probs = filteredProbs(row, rows[0]);
      const counts = new Float64Array(V);
      got.forEach((tok) => counts[tok]++);
      let chi2 = 0;
      let df = -1;
      for (let i = 0; i < V; i++) {
        if (probs[i] === 0) {
          expect(counts[i], `token ${i} is filtered out`).toBe(0);
          continue;
        }
        df++;
        const e = N * probs[i];
        chi2 += (counts[i] - e) ** 2 / e;
      }
      // Upper 0.05% point of chi-square(df) (Wilson-Hilferty).
      const z = 3.29;
      const bound = df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
      expect(df).toBeGreaterThan(1);
      expect(chi2, `chi2 with ${df} dof`).toBeLessThan(bound);
      // And the GPU agrees with the reference draw by draw.
      let same = 0;
      rows.forEach((r, i) => (same += sampleRowRef(row, r).token === got[i] ? 1 : 0));
      expect(same).toBe(N);
    });

    it('rejects bad shapes and parameters', async () => {
      await run(g, (rec) => {
        const logits = g.tensor([2, 8], 'f32');
        expect(() => sample(rec, logits, g.tensor([2, 7], 'u32'), g.tensor([2], 'u32'))).toThrow(ShapeError);
        expect(() => sample(rec, logits, g.tensor([2, 8], 'u32'), g.tensor([2], 'f32'))).toThrow(ShapeError);
        expect(() => sample(rec, logits, g.tensor([3, 8], 'u32'), g.tensor([2], 'u32'))).toThrow(ShapeError);
      });
      expect(() => packSamplingParams([{ temperature: -1, topK: 0, topP: 1, seed: 0, step: 0 }])).toThrow(RangeError);
      expect(() => packSamplingParams([{ temperature: 1, topK: 0, topP: 0, seed: 0, step: 0 }])).toThrow(RangeError);
    });
  });
});
