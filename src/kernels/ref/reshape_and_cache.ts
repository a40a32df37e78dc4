// CPU reference for kernels/reshape_and_cache: a bit-exact copy of f16 rows into the paged
// cache layout [numBlocks, numKvHeads, 16, headDim].
const BLOCK_SIZE = 16;

// k, v: [T, numKvHeads, headDim] f16 bits; kCache, vCache: [numBlocks, numKvHeads, 16, headDim]
// f16 bits, updated in place; slotMapping: [T] (0xFFFFFFFF or >= numBlocks * 16: skipped)
export function reshapeAndCacheRef(
  k: Uint16Array,
  v: Uint16Array,
  kCache: Uint16Array,
  vCache: Uint16Array,
  slotMapping: Uint32Array,
  numKvHeads: number,
  headDim: number,
): void {
  const numSlots = (kCache.length / (numKvHeads * headDim * BLOCK_SIZE)) * BLOCK_SIZE;
  for (let t = 0; t < slotMapping.length; t++) {
    const slot = slotMapping[t];
    if (slot >= numSlots) continue;
    const block = Math.floor(slot / BLOCK_SIZE);
    const offset = slot % BLOCK_SIZE;
    for (let h = 0; h < numKvHeads; h++) {
      const src = (t * numKvHeads + h) * headDim;
      const dst = ((block * numKvHeads + h) * BLOCK_SIZE + offset) * headDim;
      kCache.set(k.subarray(src, src + headDim), dst);
      vCache.set(v.subarray(src, src + headDim), dst);
    }
  }
}
