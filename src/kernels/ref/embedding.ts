// CPU reference for kernels/embedding: copies rows of f16 bit patterns; ids >= vocab give zeros.
// With a scale (Gemma), each value is f16(value · f32(scale)), the f32 product rounded once.
import { f16BitsToF32, f32ToF16Bits } from '../../util/f16.js';

// ids: [numTokens], table: [vocab, hidden] f16 bits → [numTokens, hidden] f16 bits
export function embeddingRef(ids: Uint32Array, table: Uint16Array, hidden: number, scale = 1): Uint16Array {
  const vocab = table.length / hidden;
  const out = new Uint16Array(ids.length * hidden);
  const s = Math.fround(scale);
  ids.forEach((id, t) => {
    if (id >= vocab) return;
    const row = table.subarray(id * hidden, (id + 1) * hidden);
    out.set(scale === 1 ? row : row.map((b) => f32ToF16Bits(Math.fround(f16BitsToF32(b) * s))), t * hidden);
  });
  return out;
}
