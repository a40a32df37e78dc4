// CPU reference for kernels/sampling: the same keys, thresholds, fixed-point masses and RNG as
// shaders/sample.wgsl, with Math.exp/Math.log in f64 where the GPU uses its own f32 exp/log.
// Token ids therefore agree exactly unless a decision sits within rounding of a tie; such rows
// are reported as not `robust` (tests then only check the token lies in a relaxed kept set).
import type { SamplingRow } from '../sampling.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fround = Math.fround;
const TWO32 = 4294967296;

/** Order-preserving u32 key of an f32 value: NaN -> 0 (below -inf), -0 -> +0. */
export function orderedKey(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7fffffff) >>> 0 > 0x7f800000) return 0;
  if (b === 0x80000000) return 0x80000000;
  return (b & 0x80000000 ? ~b : b | 0x80000000) >>> 0;
}

/** The f32 value of a key (inverse of orderedKey for non-NaN values). */
export function keyValue(k: number): number {
  u32[0] = k & 0x80000000 ? k & 0x7fffffff : ~k >>> 0;
  return f32[0];
}

/** PCG-RXS-M-XS 32-bit hash. */
export function pcg(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** Per-request RNG keys for (seed, step). */
export function rngKeys(seed: number, step: number): [number, number] {
  const rk1 = pcg(seed >>> 0);
  return [rk1, pcg(((step >>> 0) ^ rk1) >>> 0)];
}

/** Gumbel noise of token idx: g = -log(-log(u)), u = (k + 0.5) / 2^23 from 23 hash bits. */
export function gumbelNoise(keys: readonly [number, number], idx: number): number {
  const h = pcg((pcg(((idx ^ keys[0]) >>> 0)) + keys[1]) >>> 0);
  const k = h >>> 9;
  const e = k >= 0x400000 ? -Math.log1p(-(0x7fffff - k + 0.5) / 8388608) : -Math.log((k + 0.5) / 8388608);
  return -Math.log(e);
}

// logits: [numSeqs, V] values (f16 inputs already widened); returns [numSeqs] argmax ids
export function argmaxRef(logits: Float32Array, numSeqs: number, V: number): Uint32Array {
  const out = new Uint32Array(numSeqs);
  for (let r = 0; r < numSeqs; r++) {
    let best = 0;
    let bestKey = -1;
    for (let i = 0; i < V; i++) {
      const k = orderedKey(logits[r * V + i]);
      if (k > bestKey) {
        bestKey = k;
        best = i;
      }
    }
    out[r] = best;
  }
  return out;
}

export interface SampleRefResult {
  token: number;
  /** False when a top-p cut or the Gumbel winner is within rounding of a tie. */
  robust: boolean;
  /** Tokens kept after top-k and top-p (ascending ids). */
  kept: number[];
  /** Kept set with the top-p cut one key group lower (what a fragile row may also pick from). */
  keptRelaxed: number[];
}

const P_MARGIN = 1e-6; // of Z (GPU exp differs from Math.exp by a few ulp per weight)
const G_MARGIN = 1e-4; // absolute, in score units

function invTemperature(t: number): number {
  return fround(1 / fround(t));
}

/** Indices with a non-NaN key, largest key first (ties by index). */
function sortedByKey(keys: Uint32Array): number[] {
  const idx: number[] = [];
  for (let i = 0; i < keys.length; i++) if (keys[i] !== 0) idx.push(i);
  return idx.sort((a, b) => keys[b] - keys[a] || a - b);
}

/** Top-k threshold key: the k-th largest key (1 = keep all non-NaN). */
function topKThreshold(keys: Uint32Array, sorted: number[], topK: number): number {
  if (topK === 0 || topK >= keys.length || topK > sorted.length) return 1;
  return keys[sorted[topK - 1]];
}

// row: [V] logit values; r: one request's parameters → the sampled token and diagnostics
export function sampleRowRef(row: Float32Array, r: SamplingRow): SampleRefResult {
  const V = row.length;
  const keys = new Uint32Array(V);
  for (let i = 0; i < V; i++) keys[i] = orderedKey(row[i]);
  const sorted = sortedByKey(keys);
  const invT = invTemperature(r.temperature);
  if (!Number.isFinite(invT)) {
    const token = argmaxRef(row, 1, V)[0];
    return { token, robust: true, kept: [token], keptRelaxed: [token] };
  }
  const kK = topKThreshold(keys, sorted, r.topK);
  let cut = kK;
  let cutRelaxed = kK;
  let robust = true;
  if (fround(r.topP) < 1 && sorted.length > 0) {
    const mKey = keys[sorted[0]];
    const m = keyValue(mKey);
    const q = (i: number) => {
      const x = keys[i] === mKey ? 0 : fround(fround(keyValue(keys[i]) - m) * invT);
      return Math.trunc(fround(fround(Math.exp(x)) * 2147483648 + 0.5));
    };
    const kept = sorted.filter((i) => keys[i] >= kK);
    const qs = kept.map(q);
    const Z = qs.reduce((a, b) => a + b, 0);
    const hi = Math.floor(Z / TWO32);
    const lo = Z - hi * TWO32;
    const zf = fround(fround(hi) * TWO32 + fround(Math.floor(lo / 256) * 256));
    const tf = fround(fround(r.topP) * zf);
    const thi = Math.floor(tf / TWO32);
    const target = Math.max(1, thi * TWO32 + Math.ceil(tf - thi * TWO32));
    let acc = 0;
    for (let j = 0; j < kept.length; ) {
      const key = keys[kept[j]];
      const before = acc;
      while (j < kept.length && keys[kept[j]] === key) acc += qs[j++];
      if (acc >= target) {
        cut = key;
        cutRelaxed = j < kept.length ? keys[kept[j]] : key;
        // Fragile when a slightly different Z (or target) would move the cut by one key group.
        robust = (before === 0 || (target - before) / Z > P_MARGIN) && (acc - target) / Z > P_MARGIN;
        break;
      }
    }
  }
  const rk = rngKeys(r.seed, r.step);
  let best = -1;
  let bestScore = -Infinity;
  let bestKey = -1;
  let second = -Infinity;
  const kept: number[] = [];
  const keptRelaxed: number[] = [];
  for (let i = 0; i < V; i++) {
    if (keys[i] === 0) continue;
    if (keys[i] >= cutRelaxed) keptRelaxed.push(i);
    if (keys[i] < cut) continue;
    kept.push(i);
    const s = fround(fround(keyValue(keys[i]) * invT) + fround(gumbelNoise(rk, i)));
    const sk = orderedKey(s);
    if (sk > bestKey) {
      second = bestScore;
      bestKey = sk;
      bestScore = s;
      best = i;
    } else if (s > second) {
      second = s;
    }
  }
  if (bestScore - second < G_MARGIN) robust = false;
  return { token: best < 0 ? 0 : best, robust, kept, keptRelaxed };
}

// logits: [numSeqs, V]; rows: [numSeqs] → one result per row
export function sampleRef(logits: Float32Array, V: number, rows: readonly SamplingRow[]): SampleRefResult[] {
  return rows.map((r, s) => sampleRowRef(logits.subarray(s * V, (s + 1) * V), r));
}

/**
 * The distribution a row is drawn from, in f64 (no fixed point): top-k on keys, softmax of
 * logit * invT, top-p by sorted mass (ties at the cut kept), renormalised. For statistical tests.
 */
export function filteredProbs(row: Float32Array, r: SamplingRow): Float64Array {
  const V = row.length;
  const keys = new Uint32Array(V);
  for (let i = 0; i < V; i++) keys[i] = orderedKey(row[i]);
  const sorted = sortedByKey(keys);
  const invT = invTemperature(r.temperature);
  const probs = new Float64Array(V);
  if (!Number.isFinite(invT)) {
    probs[argmaxRef(row, 1, V)[0]] = 1;
    return probs;
  }
  const kK = topKThreshold(keys, sorted, r.topK);
  const kept = sorted.filter((i) => keys[i] >= kK);
  const m = keyValue(keys[kept[0]]);
  const w = kept.map((i) => Math.exp((keyValue(keys[i]) - m) * invT));
  const Z = w.reduce((a, b) => a + b, 0);
  let n = kept.length;
  if (fround(r.topP) < 1) {
    let acc = 0;
    for (let j = 0; j < kept.length; ) {
      const key = keys[kept[j]];
      while (j < kept.length && keys[kept[j]] === key) acc += w[j++];
      if (acc >= fround(r.topP) * Z) {
        n = j;
        break;
      }
    }
  }
  let total = 0;
  for (let j = 0; j < n; j++) total += w[j];
  for (let j = 0; j < n; j++) probs[kept[j]] = w[j] / total;
  return probs;
}
