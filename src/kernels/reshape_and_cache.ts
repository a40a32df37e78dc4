// Writes this step's keys and values into the paged KV cache (vLLM's reshape_and_cache):
// token t's row of each kv head goes to slot slotMapping[t] of kCache / vCache.
import type { Recorder } from '../gpu/recorder.js';
import { grid } from '../gpu/recorder.js';
import { expectShape, fail, type Tensor } from '../gpu/tensor.js';

export const BLOCK_SIZE = 16;
/** slotMapping value meaning "do not write this token" (padding rows). */
export const SKIP_SLOT = 0xffffffff;

const WG = 256;

// k, v:        [T, numKvHeads, headDim] f16
// kCache, vCache: [numBlocks, numKvHeads, 16, headDim] f16
// slotMapping: [T] u32 (block * 16 + offsetInBlock; 0xFFFFFFFF = skip)
export function reshapeAndCache(rec: Recorder, k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, slotMapping: Tensor): void {
  // Every layer calls this once per step: messages are formatted only when a check fails.
  if (kCache.shape.length !== 4) fail(`reshapeAndCache: kCache must be [numBlocks, numKvHeads, 16, headDim], got [${kCache.shape}]`);
  const [numBlocks, numKvHeads, blockSize, headDim] = kCache.shape;
  if (blockSize !== BLOCK_SIZE) fail(`reshapeAndCache: block size must be ${BLOCK_SIZE}, got ${blockSize}`);
  if (headDim % 8 !== 0) fail(`reshapeAndCache: headDim must be a multiple of 8 (16-byte rows), got ${headDim}`);
  if (k.shape.length !== 3) fail(`reshapeAndCache: k must be [T, numKvHeads, headDim], got [${k.shape}]`);
  const T = k.shape[0];
  expectShape('reshapeAndCache k', k, [T, numKvHeads, headDim], 'f16');
  expectShape('reshapeAndCache v', v, [T, numKvHeads, headDim], 'f16');
  expectShape('reshapeAndCache kCache', kCache, [numBlocks, numKvHeads, BLOCK_SIZE, headDim], 'f16');
  expectShape('reshapeAndCache vCache', vCache, [numBlocks, numKvHeads, BLOCK_SIZE, headDim], 'f16');
  expectShape('reshapeAndCache slotMapping', slotMapping, [T], 'u32');
  if (T === 0 || numBlocks === 0) return;
  const chunksPerHead = headDim / 8;
  const chunksPerToken = numKvHeads * chunksPerHead;
  const numChunks = T * chunksPerToken;
  const pipeline = rec.gpu.pipeline('reshape_and_cache', { constants: { WG } });
  rec.dispatch(pipeline, [k, v, slotMapping, kCache, vCache], [numChunks, chunksPerToken, chunksPerHead, numBlocks * BLOCK_SIZE], grid(Math.ceil(numChunks / WG)));
}
