// kernels/penalties against a hand-worked row and against the f32 reference on seeded random
// rows (awkward V, empty rows, rows of many tokens); a row's result is bitwise the same alone
// and inside a batch (batch invariance).
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { applyPenalties, packPenaltyRows, PENALTY_PARAM_WORDS, PenaltyTokens, type PenaltyRow } from '../../src/kernels/penalties.js';
import { applyPenaltiesRef } from '../../src/kernels/ref/penalties.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, noGpuReason, run, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

async function runPenalties(g: Gpu, logits: Float32Array, V: number, rows: (PenaltyRow | undefined)[]): Promise<Float32Array> {
  const { rowParams, entries } = packPenaltyRows(rows, V);
  const t = g.upload(logits, [rows.length, V], 'f32', 'logits');
  const rp = g.upload(rowParams, [rows.length, PENALTY_PARAM_WORDS], 'u32', 'rowParams');
  const en = entries.length ? g.upload(entries, [entries.length / 2, 2], 'u32', 'entries') : g.tensor([0, 2], 'u32', 'entries');
  await run(g, (rec) => applyPenalties(rec, t, rp, en));
  return (await g.read(t)) as Float32Array;
}

function randomRow(rng: Rng, V: number): PenaltyRow | undefined {
  if (rng.next() < 0.2) return undefined;
  const prompt = Array.from({ length: rng.int(0, 300) }, () => rng.int(0, V - 1));
  const output = Array.from({ length: rng.int(0, 200) }, () => rng.int(0, Math.min(V - 1, 50)));
  return new PenaltyTokens(prompt, output).row({
    presencePenalty: rng.uniform(-2, 2),
    frequencyPenalty: rng.uniform(-2, 2),
    repetitionPenalty: rng.next() < 0.3 ? 1 : rng.uniform(0.5, 2),
  });
}

describe('penalties (CPU side)', () => {
  it('PenaltyTokens: distinct tokens, output counts, prompt flags, grown token by token', () => {
    const t = new PenaltyTokens([5, 7, 5], [7, 9]);
    t.add(9);
    t.add(9);
    const p = t.row({ presencePenalty: 0, frequencyPenalty: 0, repetitionPenalty: 1 });
    expect(Array.from(p.tokenIds)).toEqual([5, 7, 9]);
    expect(Array.from(p.outputCounts)).toEqual([0, 1, 3]);
    expect(Array.from(p.inPrompt)).toEqual([1, 1, 0]);
  });

  it('packPenaltyRows refuses ids >= V, repeated ids and a repetition penalty <= 0', () => {
    const row = (ids: number[], rep = 1.2): PenaltyRow => ({ presencePenalty: 0, frequencyPenalty: 0, repetitionPenalty: rep, tokenIds: Uint32Array.from(ids), outputCounts: new Uint32Array(ids.length), inPrompt: new Uint8Array(ids.length).fill(1) });
    expect(() => packPenaltyRows([row([3, 8])], 8)).toThrow(/token id 8 >= V 8/);
    expect(() => packPenaltyRows([row([3, 3])], 8)).toThrow(/listed twice/);
    expect(() => packPenaltyRows([row([3], 0)], 8)).toThrow(/repetition > 0/);
  });
});

describe.skipIf(!gpu)(`penalties ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const g = gpu!;

  it('a hand-worked row', async () => {
    // token 0 in the prompt; token 1 twice in the output; token 3 once in the output and in the prompt.
    const row: PenaltyRow = { presencePenalty: 1, frequencyPenalty: 0.5, repetitionPenalty: 2, tokenIds: Uint32Array.of(0, 1, 3), outputCounts: Uint32Array.of(0, 2, 1), inPrompt: Uint8Array.of(1, 0, 1) };
    const got = await runPenalties(g, Float32Array.of(2, -2, 0.5, 3, -1), 5, [row]);
    // 0: 2 / 2 = 1;  1: -2 * 2 - 0.5 * 2 - 1 = -6;  2: untouched;  3: 3 / 2 - 0.5 - 1 = 0;  4: untouched
    expect(Array.from(got)).toEqual([1, -6, 0.5, 0, -1]);
  });

  it.each([
    [1, 7],
    [3, 1000],
    [9, 32000],
    [5, 1],
  ])('matches the f32 reference: numSeqs=%i V=%i; a row alone is bitwise the row in the batch', async (numSeqs, V) => {
    const rng = new Rng(numSeqs * 1009 + V);
    const logits = rng.floats(numSeqs * V, -10, 10);
    const rows = Array.from({ length: numSeqs }, () => randomRow(rng, V));
    const got = await runPenalties(g, logits, V, rows);
    // GPU division may differ from a correctly rounded one by a few ulps.
    expectClose(got, applyPenaltiesRef(logits, V, rows), { atol: 1e-6, rtol: 2e-6 }, `numSeqs=${numSeqs} V=${V}`);
    const s = rng.int(0, numSeqs - 1);
    const alone = await runPenalties(g, logits.slice(s * V, (s + 1) * V), V, [rows[s]]);
    expect(Array.from(alone)).toEqual(Array.from(got.subarray(s * V, (s + 1) * V)));
  });

  it('rejects bad shapes with a ShapeError', async () => {
    await run(g, (rec) => {
      expect(() => applyPenalties(rec, g.tensor([2, 8], 'f16'), g.tensor([2, 8], 'u32'), g.tensor([1, 2], 'u32'))).toThrow(ShapeError);
      expect(() => applyPenalties(rec, g.tensor([2, 8], 'f32'), g.tensor([3, 8], 'u32'), g.tensor([1, 2], 'u32'))).toThrow(ShapeError);
      expect(() => applyPenalties(rec, g.tensor([2, 8], 'f32'), g.tensor([2, 8], 'u32'), g.tensor([1, 3], 'u32'))).toThrow(ShapeError);
    });
  });
});
