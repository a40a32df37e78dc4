// Token embedding lookup (a row gather). Pure bandwidth: each token moves one H-row of f16.
import type { Recorder } from '../gpu/recorder.js';
import { f32, grid } from '../gpu/recorder.js';
import { expectShape, fail, overlaps, type Tensor } from '../gpu/tensor.js';

const WG = 128;

// ids: [numTokens] u32, table: [vocabSize, hidden] f16, out: [numTokens, hidden] f16 (times `scale`,
// rounded to f16 once, where scale is not 1: Gemma). An id >= vocabSize yields a zero row (the engine
// validates ids on the CPU).
export function embedding(rec: Recorder, ids: Tensor, table: Tensor, out: Tensor, scale = 1): void {
  // Called 3 times per step (the input tokens, then twice for the rows whose logits are computed).
  expectShape('embedding ids', ids, [-1], 'u32');
  expectShape('embedding table', table, [-1, -1], 'f16');
  const [numTokens] = ids.shape;
  const [vocab, hidden] = table.shape;
  expectShape('embedding out', out, [numTokens, hidden], 'f16');
  if (overlaps(out, table) || overlaps(out, ids)) fail('embedding: out overlaps ids or table');
  if (!Number.isFinite(scale)) fail(`embedding: scale must be finite, got ${scale}`);
  if (numTokens === 0 || hidden === 0) return;
  const vec8 = embeddingVariant(hidden) === 'vec8';
  const rowWords = vec8 ? hidden / 8 : hidden;
  const scaled = scale !== 1;
  const defines = [vec8 && 'VEC8', scaled && 'SCALE'].filter((d): d is string => !!d);
  const pipeline = rec.gpu.pipeline('embedding', { defines, constants: { WG } });
  const params = scaled ? [numTokens, vocab, rowWords, f32(scale)] : [numTokens, vocab, rowWords];
  rec.dispatch(pipeline, [ids, table, out], params, grid(Math.ceil((numTokens * rowWords) / WG)));
}

/** 'vec8' (16-byte moves, hidden % 8 == 0) or 'f16' (one half per thread). */
export function embeddingVariant(hidden: number): 'vec8' | 'f16' {
  return hidden % 8 === 0 ? 'vec8' : 'f16';
}
