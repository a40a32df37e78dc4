// CPU reference for kernels/rotary: f64 rotation of f16 values with the same cos/sin table,
// rounded to f16 once per output.
import { roundF16 } from '../../util/f16.js';

export interface RotaryRefOptions {
  readonly style: 'neox' | 'gptj';
  readonly rotaryDim: number;
}

// x: [numTokens, numHeads, headDim] f16 values (q or k), positions: [numTokens],
// cosSin: [maxPositions, rotaryDim] → rotated copy of x
export function rotaryRef(
  x: Float32Array,
  numHeads: number,
  headDim: number,
  positions: Uint32Array,
  cosSin: Float32Array,
  opts: RotaryRefOptions,
): Float32Array {
  const { rotaryDim, style } = opts;
  const half = rotaryDim / 2;
  const maxPositions = cosSin.length / rotaryDim;
  const out = Float32Array.from(x);
  positions.forEach((pos, t) => {
    if (pos >= maxPositions) return;
    for (let h = 0; h < numHeads; h++) {
      const base = (t * numHeads + h) * headDim;
      for (let f = 0; f < half; f++) {
        const i0 = base + (style === 'neox' ? f : 2 * f);
        const i1 = style === 'neox' ? i0 + half : i0 + 1;
        const c = cosSin[pos * rotaryDim + f];
        const s = cosSin[pos * rotaryDim + half + f];
        out[i0] = roundF16(x[i0] * c - x[i1] * s);
        out[i1] = roundF16(x[i1] * c + x[i0] * s);
      }
    }
  });
  return out;
}
