// CPU reference for kernels/logprobs, in float64: log_softmax of each row at the sampled token
// and the K largest logits (order-preserving keys, ties to the lower id; NaN never counts).
import { orderedKey } from './sampling.js';

export interface LogprobsRefRow {
  /** log_softmax at the sampled token. */
  sampled: number;
  /** The K most likely token ids, largest logit first (fewer where the row has fewer non-NaN logits). */
  topIds: number[];
  topLogprobs: number[];
}

// row: [V] logits; sampled: a token id; K: top tokens to return
export function logprobsRowRef(row: Float32Array, sampled: number, K: number): LogprobsRefRow {
  let m = -Infinity;
  for (const x of row) if (!Number.isNaN(x)) m = Math.max(m, x);
  let s = 0;
  for (const x of row) if (!Number.isNaN(x)) s += Math.exp(x - m);
  const lse = m + Math.log(s);
  const keys = Array.from(row, (x) => orderedKey(x));
  const idx = [...keys.keys()].filter((i) => keys[i] !== 0).sort((a, b) => keys[b] - keys[a] || a - b).slice(0, K);
  return { sampled: row[sampled] - lse, topIds: idx, topLogprobs: idx.map((i) => row[i] - lse) };
}
