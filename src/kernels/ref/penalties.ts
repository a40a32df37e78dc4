// CPU reference for kernels/penalties: vLLM's apply_penalties on one row at a time, in f32
// (Math.fround after every operation, as the kernel computes).
import type { PenaltyRow } from '../penalties.js';

const fround = Math.fround;

// logits: [numSeqs, V] (a copy is returned); rows: [numSeqs] (undefined: untouched)
export function applyPenaltiesRef(logits: Float32Array, V: number, rows: readonly (PenaltyRow | undefined)[]): Float32Array {
  const out = Float32Array.from(logits);
  rows.forEach((r, s) => {
    if (!r) return;
    const rep = fround(r.repetitionPenalty);
    const freq = fround(r.frequencyPenalty);
    const pres = fround(r.presencePenalty);
    r.tokenIds.forEach((t, j) => {
      const c = r.outputCounts[j];
      const i = s * V + t;
      let l = out[i];
      if ((c > 0 || r.inPrompt[j]) && rep !== 1) l = l > 0 ? fround(l / rep) : fround(l * rep);
      l = fround(l - fround(freq * c));
      if (c > 0) l = fround(l - pres);
      out[i] = l;
    });
  });
  return out;
}
