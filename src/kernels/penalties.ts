// vLLM's repetition, frequency and presence penalties on the GPU, in place on f32 logits before
// sampling. Each row carries the distinct tokens its request has seen (output counts and whether
// the prompt holds them); the kernel touches only those, one workgroup per row, so a row's
// result never depends on the rest of the batch. Semantics: shaders/penalties.wgsl and
// src/kernels/ref/penalties.ts.
import type { Recorder } from '../gpu/recorder.js';
import { grid } from '../gpu/recorder.js';
import { expect, expectShape, type Tensor } from '../gpu/tensor.js';

/** One request's penalties and the tokens they apply to. */
export interface PenaltyRow {
  /** Subtracted once from every token generated so far (OpenAI presence_penalty). */
  readonly presencePenalty: number;
  /** Subtracted per occurrence in the output so far (OpenAI frequency_penalty). */
  readonly frequencyPenalty: number;
  /** Divides positive / multiplies negative logits of tokens in the prompt or output (vLLM); 1 = off. */
  readonly repetitionPenalty: number;
  /** Distinct token ids of the prompt and the output. */
  readonly tokenIds: Uint32Array;
  /** [tokenIds.length] occurrences of each in the output. */
  readonly outputCounts: Uint32Array;
  /** [tokenIds.length] 1 where the prompt holds it. */
  readonly inPrompt: Uint8Array;
}

/**
 * A request's distinct tokens with their output counts and prompt flags, built once from the
 * prompt and grown one generated token at a time, so a step packs O(distinct tokens), not
 * O(prompt + output).
 */
export class PenaltyTokens {
  private readonly index = new Map<number, number>();
  private readonly ids: number[] = [];
  private readonly counts: number[] = [];
  private readonly prompt: number[] = [];

  constructor(promptTokenIds: readonly number[], outputTokenIds: readonly number[] = []) {
    for (const t of promptTokenIds) this.prompt[this.slot(t)] = 1;
    for (const t of outputTokenIds) this.add(t);
  }

  private slot(t: number): number {
    let j = this.index.get(t);
    if (j === undefined) {
      j = this.ids.length;
      this.index.set(t, j);
      this.ids.push(t);
      this.counts.push(0);
      this.prompt.push(0);
    }
    return j;
  }

  /** Counts a generated token. */
  add(tokenId: number): void {
    this.counts[this.slot(tokenId)]++;
  }

  row(penalties: Pick<PenaltyRow, 'presencePenalty' | 'frequencyPenalty' | 'repetitionPenalty'>): PenaltyRow {
    const { presencePenalty, frequencyPenalty, repetitionPenalty } = penalties;
    return { presencePenalty, frequencyPenalty, repetitionPenalty, tokenIds: Uint32Array.from(this.ids), outputCounts: Uint32Array.from(this.counts), inPrompt: Uint8Array.from(this.prompt) };
  }
}

/** u32 words per row in the row-parameter tensor. */
export const PENALTY_PARAM_WORDS = 8;

const f32Bits = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0];

/**
 * Packs rows (undefined: no penalty) into the [numSeqs, 8] u32 row parameters
 * [firstEntry, endEntry, presence f32, frequency f32, repetition f32, 0, 0, 0] and the
 * [numEntries, 2] u32 entries (token id, outputCount << 1 | inPrompt). Throws RangeError on a
 * token id >= V, a repeated token id, a count over 2^31 or a non-finite or non-positive penalty.
 */
export function packPenaltyRows(rows: readonly (PenaltyRow | undefined)[], V: number): { rowParams: Uint32Array; entries: Uint32Array } {
  const rowParams = new Uint32Array(rows.length * PENALTY_PARAM_WORDS);
  const n = rows.reduce((a, r) => a + (r ? r.tokenIds.length : 0), 0);
  const entries = new Uint32Array(2 * n);
  let e = 0;
  rows.forEach((r, i) => {
    const o = i * PENALTY_PARAM_WORDS;
    rowParams[o] = rowParams[o + 1] = e;
    rowParams[o + 4] = f32Bits(1);
    if (!r) return;
    const { presencePenalty: pp, frequencyPenalty: fp, repetitionPenalty: rp } = r;
    if (![pp, fp, rp].every(Number.isFinite) || !(rp > 0)) throw new RangeError(`penalty row ${i}: penalties must be finite and repetition > 0 (got ${pp}, ${fp}, ${rp})`);
    if (r.outputCounts.length !== r.tokenIds.length || r.inPrompt.length !== r.tokenIds.length) throw new RangeError(`penalty row ${i}: tokenIds, outputCounts and inPrompt differ in length`);
    const seen = new Set<number>();
    r.tokenIds.forEach((t, j) => {
      if (t >= V) throw new RangeError(`penalty row ${i}: token id ${t} >= V ${V}`);
      if (seen.has(t)) throw new RangeError(`penalty row ${i}: token id ${t} listed twice`);
      if (r.outputCounts[j] >= 2 ** 31) throw new RangeError(`penalty row ${i}: count ${r.outputCounts[j]} too large`);
      seen.add(t);
      entries[2 * e] = t;
      entries[2 * e + 1] = (r.outputCounts[j] << 1) | (r.inPrompt[j] ? 1 : 0);
      e++;
    });
    rowParams[o + 1] = e;
    rowParams[o + 2] = f32Bits(pp);
    rowParams[o + 3] = f32Bits(fp);
    rowParams[o + 4] = f32Bits(rp);
  });
  return { rowParams, entries };
}

const WG = 64;

// logits: [numSeqs, V] f32 (updated in place); rowParams: [numSeqs, 8] u32; entries: [numEntries, 2] u32 (packPenaltyRows)
export function applyPenalties(rec: Recorder, logits: Tensor, rowParams: Tensor, entries: Tensor): void {
  expect(logits.shape.length === 2, `applyPenalties: logits must be [numSeqs, V], got [${logits.shape}]`);
  expectShape('applyPenalties logits', logits, [-1, -1], 'f32');
  const [numSeqs, V] = logits.shape;
  expectShape('applyPenalties rowParams', rowParams, [numSeqs, PENALTY_PARAM_WORDS], 'u32');
  expectShape('applyPenalties entries', entries, [-1, 2], 'u32');
  if (numSeqs === 0 || entries.shape[0] === 0) return;
  const pipeline = rec.gpu.pipeline('penalties', { constants: { WG } });
  rec.dispatch(pipeline, [logits, rowParams, entries], [V, numSeqs], grid(numSeqs));
}
