// Dummy quantized weights for bench/probes/quant_probe.ts: random packed words, scales and zeros in
// src/quant/packed_weight.ts's layout, made directly (quantizing a 28672×4096 f32 matrix on the host would
// take longer than the probe), with the f16 weight the kernels multiply by (f16((q − z)·s), per group a
// table of its 16 or 256 values) for the f16 engine's run and the CPU reference.
import { f16BitsToF32, f32ToF16Bits } from '../../src/util/f16.js';
import { quantValue, zeroPoint, type PackedWeight } from '../../src/quant/packed_weight.js';

export interface ProbeFormat {
  readonly name: string;
  readonly bits: 4 | 8;
  readonly symmetric: boolean;
  /** null: one group per output channel. */
  readonly groupSize: number | null;
}

/** The at-load formats (src/quant/weight_format.ts): int4 g128 asymmetric, int8 per channel symmetric. */
export const PROBE_FORMATS: readonly ProbeFormat[] = [
  { name: 'int4', bits: 4, symmetric: false, groupSize: 128 },
  { name: 'int8', bits: 8, symmetric: true, groupSize: null },
];

/** The formats named in `arg` ('int4,int8'; all where undefined); an unknown name throws. */
export function probeFormats(arg: string | undefined): ProbeFormat[] {
  if (!arg) return [...PROBE_FORMATS];
  return arg.split(',').map((n) => {
    const f = PROBE_FORMATS.find((p) => p.name === n);
    if (!f) throw new Error(`quant_probe: unknown format '${n}' (${PROBE_FORMATS.map((p) => p.name).join(', ')})`);
    return f;
  });
}

export interface ProbeWeight {
  readonly packed: PackedWeight;
  /** The f16 weight [N, K] the kernels multiply by (bits). */
  f16Bits(): Uint16Array;
  /** Row n of that weight as numbers. */
  rowValues(n: number): Float32Array;
}

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

// N: out features, K: in features
export function makeProbeWeight(N: number, K: number, f: ProbeFormat, seed: number): ProbeWeight {
  const next = xorshift(seed);
  const gs = f.groupSize ?? K;
  const groups = K / gs;
  const qweight = new Uint32Array((N * K * f.bits) / 32);
  for (let i = 0; i < qweight.length; i++) qweight[i] = next();
  const levels = f.bits === 4 ? 15 : 255;
  // s ≈ the range of a uniform ±2/sqrt(K) weight over the levels, ×[0.5, 1.5)
  const sBase = 4 / Math.sqrt(K) / levels;
  const scales = new Uint16Array(N * groups);
  for (let i = 0; i < scales.length; i++) scales[i] = f32ToF16Bits(sBase * (0.5 + next() / 2 ** 32));
  let zeros: Uint16Array | null = null;
  if (!f.symmetric) {
    zeros = new Uint16Array(N * groups);
    for (let i = 0; i < zeros.length; i++) zeros[i] = f32ToF16Bits(next() % (levels + 1));
  }
  const packed: PackedWeight = { bits: f.bits, symmetric: f.symmetric, groupSize: gs, shape: [N, K], qweight, scales, zeros };
  const perWord = 32 / f.bits;
  const mask = levels;
  // The f16 bits of (q − z)·s for every stored integer u (unsigned 0..levels) of group (n, g).
  const table = (n: number, g: number): Uint16Array => {
    const s = f16BitsToF32(scales[n * groups + g]);
    const z = zeroPoint(packed, n, g);
    const t = new Uint16Array(levels + 1);
    for (let u = 0; u <= levels; u++) {
      const q = f.bits === 8 && f.symmetric && u >= 128 ? u - 256 : u;
      t[u] = f32ToF16Bits(Math.fround((q - z) * s));
    }
    return t;
  };
  const rowBits = (n: number, dst: Uint16Array, off: number) => {
    for (let g = 0; g < groups; g++) {
      const t = table(n, g);
      for (let k = g * gs; k < (g + 1) * gs; k++) {
        const word = qweight[n * (K / perWord) + Math.floor(k / perWord)];
        dst[off + k] = t[(word >>> (f.bits * (k % perWord))) & mask];
      }
    }
  };
  return {
    packed,
    f16Bits() {
      const out = new Uint16Array(N * K);
      for (let n = 0; n < N; n++) rowBits(n, out, n * K);
      return out;
    },
    rowValues(n) {
      const bits = new Uint16Array(K);
      rowBits(n, bits, 0);
      const out = new Float32Array(K);
      for (let k = 0; k < K; k++) out[k] = f16BitsToF32(bits[k]);
      // Anchor: element 0 through the layout's own accessors (packed_weight's quantValue / zeroPoint).
      const want = Math.fround((quantValue(packed, n, 0) - zeroPoint(packed, n, 0)) * f16BitsToF32(scales[n * groups]));
      if (f16BitsToF32(f32ToF16Bits(want)) !== out[0]) throw new Error(`quant_probe_data: row ${n} element 0 is ${out[0]}, the layout says ${want}`);
      return out;
    },
  };
}
