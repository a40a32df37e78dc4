// CPU reference for paged attention (decode and prefill kernels): for every query row,
//   out = softmax(q · K[0..limit)ᵀ · scale) · V[0..limit)
// in f64 over a sequence's keys and values read from the paged cache, with a causal limit:
// the queries of a sequence are its last queryLen tokens, so query i (0-based) of a sequence
// with contextLen cached tokens sits at position contextLen - queryLen + i and sees keys
// [0, contextLen - queryLen + i]. Decode is queryLen = 1 (sees all contextLen keys).
// Grouped-query attention: q head h reads kv head floor(h / (numHeads / numKvHeads)).
// Options as transformers applies them: a sliding window W (a query at position i sees keys j with
// i - W < j <= i: masking_utils' sliding window) and soft-capping (scores s -> tanh(s / c) · c after
// the scale, before the mask: Gemma 2's attn_logit_softcapping).
// The result is not rounded: compare f16 kernel outputs with a tolerance.
const BLOCK_SIZE = 16;

export interface AttentionRefParams {
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly scale: number;
  /** Query rows per sequence; q holds the sequences' rows back to back, in this order. */
  readonly queryLens: readonly number[];
  /** Tokens in the cache per sequence, including this step's queries (seqLens). */
  readonly contextLens: readonly number[];
  /** Row length of blockTables (blocks per sequence). */
  readonly maxBlocksPerSeq: number;
  readonly slidingWindow?: number;
  readonly softcap?: number;
}

// q:           [Σ queryLens, numHeads, headDim] (values of the f16 inputs)
// kCache, vCache: [numBlocks, numKvHeads, 16, headDim]
// blockTables: [numSeqs, maxBlocksPerSeq]
// returns:     [Σ queryLens, numHeads, headDim] f64
export function attentionRef(
  q: ArrayLike<number>,
  kCache: ArrayLike<number>,
  vCache: ArrayLike<number>,
  blockTables: ArrayLike<number>,
  params: AttentionRefParams,
): Float64Array {
  const { numHeads, numKvHeads, headDim: D, scale, queryLens, contextLens, maxBlocksPerSeq, slidingWindow, softcap } = params;
  if (queryLens.length !== contextLens.length) throw new Error('attentionRef: queryLens and contextLens differ in length');
  if (numHeads % numKvHeads !== 0) throw new Error(`attentionRef: numHeads ${numHeads} not a multiple of numKvHeads ${numKvHeads}`);
  const G = numHeads / numKvHeads;
  const totalQ = queryLens.reduce((a, b) => a + b, 0);
  const out = new Float64Array(totalQ * numHeads * D);
  // Offset of (position, kv head) row in the cache, for one sequence.
  const rowOf = (seq: number, pos: number, kvHead: number): number => {
    const block = blockTables[seq * maxBlocksPerSeq + Math.floor(pos / BLOCK_SIZE)];
    return ((block * numKvHeads + kvHead) * BLOCK_SIZE + (pos % BLOCK_SIZE)) * D;
  };
  let row0 = 0;
  for (let s = 0; s < queryLens.length; s++) {
    const qLen = queryLens[s];
    const ctx = contextLens[s];
    if (qLen > ctx) throw new Error(`attentionRef: seq ${s} has ${qLen} queries but only ${ctx} cached tokens`);
    if (ctx > maxBlocksPerSeq * BLOCK_SIZE) throw new Error(`attentionRef: seq ${s} context ${ctx} exceeds its block table`);
    const scores = new Float64Array(ctx);
    for (let i = 0; i < qLen; i++) {
      const limit = ctx - qLen + i + 1;
      const first = slidingWindow === undefined ? 0 : Math.max(0, limit - slidingWindow);
      for (let h = 0; h < numHeads; h++) {
        const kvHead = Math.floor(h / G);
        const qOff = ((row0 + i) * numHeads + h) * D;
        let max = -Infinity;
        for (let t = first; t < limit; t++) {
          const kOff = rowOf(s, t, kvHead);
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qOff + d] * kCache[kOff + d];
          scores[t] = softcap === undefined ? dot * scale : Math.tanh((dot * scale) / softcap) * softcap;
          if (scores[t] > max) max = scores[t];
        }
        let sum = 0;
        for (let t = first; t < limit; t++) {
          scores[t] = Math.exp(scores[t] - max);
          sum += scores[t];
        }
        const oOff = qOff;
        for (let t = first; t < limit; t++) {
          const vOff = rowOf(s, t, kvHead);
          const w = scores[t] / sum;
          for (let d = 0; d < D; d++) out[oOff + d] += w * vCache[vOff + d];
        }
      }
    }
    row0 += qLen;
  }
  return out;
}
