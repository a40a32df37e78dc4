// CPU reference for kernels/embedding: copies rows of f16 bit patterns; ids >= vocab give zeros.

// ids: [numTokens], table: [vocab, hidden] f16 bits → [numTokens, hidden] f16 bits
export function embeddingRef(ids: Uint32Array, table: Uint16Array, hidden: number): Uint16Array {
  const vocab = table.length / hidden;
  const out = new Uint16Array(ids.length * hidden);
  ids.forEach((id, t) => {
    if (id < vocab) out.set(table.subarray(id * hidden, (id + 1) * hidden), t * hidden);
  });
  return out;
}
