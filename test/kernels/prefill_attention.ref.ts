// CPU reference for kernels/prefill_attention, in f64: every query row of every prefill
// sequence attends causally to its sequence's keys in the paged cache,
//   out[row] = softmax(q[row] · K[0..pos]ᵀ · scale) · V[0..pos],
// where the chunk's rows are the sequence's last queryLen positions (pos = seqLen - queryLen + i).
// q rows are addressed by queryStartLoc (absolute rows), like the kernel. Rows outside every
// sequence's range stay NaN in the result. Not rounded: compare with a tolerance.
const BLOCK_SIZE = 16;

export interface PrefillRefParams {
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly scale: number;
  readonly numTokens: number;
  readonly maxBlocksPerSeq: number;
}

// q:            [numTokens, numHeads, headDim] (f16 values)
// kCache/vCache:[numBlocks, numKvHeads, 16, headDim]
// queryStartLoc:[numSeqs + 1]   seqLens: [numSeqs]   blockTables: [numSeqs, maxBlocksPerSeq]
// returns:      [numTokens, numHeads, headDim] f64, NaN outside the sequences' rows
export function prefillAttentionRef(
  q: ArrayLike<number>,
  kCache: ArrayLike<number>,
  vCache: ArrayLike<number>,
  queryStartLoc: ArrayLike<number>,
  seqLens: ArrayLike<number>,
  blockTables: ArrayLike<number>,
  prm: PrefillRefParams,
): Float64Array {
  const { numHeads, numKvHeads, headDim: D, scale, numTokens, maxBlocksPerSeq } = prm;
  const G = numHeads / numKvHeads;
  const out = new Float64Array(numTokens * numHeads * D).fill(NaN);
  for (let s = 0; s + 1 < queryStartLoc.length; s++) {
    const row0 = queryStartLoc[s];
    const qLen = queryStartLoc[s + 1] - row0;
    const seqLen = seqLens[s];
    const keyRow = (pos: number, kvHead: number): number =>
      ((blockTables[s * maxBlocksPerSeq + Math.floor(pos / BLOCK_SIZE)] * numKvHeads + kvHead) * BLOCK_SIZE + (pos % BLOCK_SIZE)) * D;
    const w = new Float64Array(seqLen);
    for (let i = 0; i < qLen; i++) {
      const pos = seqLen - qLen + i;
      for (let h = 0; h < numHeads; h++) {
        const kvHead = Math.floor(h / G);
        const qOff = ((row0 + i) * numHeads + h) * D;
        let max = -Infinity;
        for (let t = 0; t <= pos; t++) {
          const k = keyRow(t, kvHead);
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qOff + d] * kCache[k + d];
          w[t] = dot * scale;
          max = Math.max(max, w[t]);
        }
        let sum = 0;
        for (let t = 0; t <= pos; t++) sum += w[t] = Math.exp(w[t] - max);
        out.fill(0, qOff, qOff + D);
        for (let t = 0; t <= pos; t++) {
          const v = keyRow(t, kvHead);
          const wt = w[t] / sum;
          for (let d = 0; d < D; d++) out[qOff + d] += wt * vCache[v + d];
        }
      }
    }
  }
  return out;
}
