// On-GPU token selection from logits: greedy argmax, and temperature / top-k / top-p sampling
// with a counter-based RNG per request (Gumbel-max). Logits stay on the GPU; only the chosen
// ids ([numSeqs] u32) need to come back. Semantics and RNG: src/kernels/ref/sampling.ts.
import type { Recorder } from '../gpu/recorder.js';
import { grid } from '../gpu/recorder.js';
import { expect, expectShape, type Tensor } from '../gpu/tensor.js';

/** One request's sampling parameters for one step. */
export interface SamplingRow {
  /** 0 = greedy (bitwise the same as argmax). */
  temperature: number;
  /** Keep the topK largest logits (all ties with the k-th kept); 0 or >= V = off. */
  topK: number;
  /** Keep the smallest most-probable set with mass >= topP (ties at the cut kept); 1 = off. */
  topP: number;
  /** u32 seed of the request. */
  seed: number;
  /** u32 index of the token being generated for that request. */
  step: number;
}

/** u32 words per sequence in the params tensor. */
export const SAMPLING_PARAM_WORDS = 8;

const f32Bits = (() => {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  return (v: number) => {
    f[0] = v;
    return u[0];
  };
})();

/**
 * Packs rows into the [numSeqs, 8] u32 params tensor:
 * [temperature f32, topK, topP f32, seed, step, invT = f32(1 / temperature), 0, 0].
 */
export function packSamplingParams(list: readonly SamplingRow[]): Uint32Array {
  const out = new Uint32Array(list.length * SAMPLING_PARAM_WORDS);
  list.forEach((r, i) => {
    if (!(r.temperature >= 0) || !Number.isFinite(r.temperature)) throw new RangeError(`sampling row ${i}: temperature ${r.temperature} must be finite and >= 0`);
    if (!Number.isInteger(r.topK) || r.topK < 0) throw new RangeError(`sampling row ${i}: topK ${r.topK} must be an integer >= 0`);
    if (!(r.topP > 0 && r.topP <= 1)) throw new RangeError(`sampling row ${i}: topP ${r.topP} must be in (0, 1]`);
    const o = i * SAMPLING_PARAM_WORDS;
    // A temperature so small that 1 / temperature overflows f32 is greedy too.
    const greedy = !Number.isFinite(Math.fround(1 / Math.fround(r.temperature)));
    out[o] = greedy ? 0 : f32Bits(r.temperature);
    out[o + 1] = Math.min(r.topK, 0xffffffff);
    out[o + 2] = f32Bits(r.topP);
    out[o + 3] = r.seed >>> 0;
    out[o + 4] = r.step >>> 0;
    out[o + 5] = greedy ? 0 : f32Bits(1 / Math.fround(r.temperature));
  });
  return out;
}

function checkLogits(what: string, logits: Tensor, out: Tensor): { numSeqs: number; V: number } {
  expect(logits.shape.length === 2, `${what}: logits must be [numSeqs, V], got [${logits.shape}]`);
  expectShape(`${what} logits`, logits, [-1, -1], ['f32', 'f16']);
  const [numSeqs, V] = logits.shape;
  expect(V >= 1, `${what}: V must be >= 1`);
  expectShape(`${what} out`, out, [numSeqs], 'u32');
  return { numSeqs, V };
}

const ARGMAX_WG = 256;
/** Workgroups argmax aims for (a few per SM of a large GPU); rows are split into chunks to get there. */
const ARGMAX_TARGET_WGS = 256;
const ARGMAX_MIN_CHUNK = 4096;

// logits: [numSeqs, V] f32|f16; out: [numSeqs] u32 — index of each row's max (ties: lowest; NaN never wins)
export function argmax(rec: Recorder, logits: Tensor, out: Tensor): void {
  const { numSeqs, V } = checkLogits('argmax', logits, out);
  if (numSeqs === 0) return;
  const defines = [...(logits.dtype === 'f16' ? ['F16'] : []), ...(V % 4 === 0 ? ['VEC'] : [])];
  // Exact result whatever the split: chunk count only trades parallelism for a second dispatch.
  const wanted = Math.max(1, Math.ceil(ARGMAX_TARGET_WGS / numSeqs));
  const chunks0 = Math.min(wanted, Math.max(1, Math.floor(V / ARGMAX_MIN_CHUNK)));
  const chunkLen = Math.ceil(V / chunks0 / 4) * 4;
  const chunks = Math.ceil(V / chunkLen);
  const constants = { WG: ARGMAX_WG };
  if (chunks === 1) {
    const pipeline = rec.gpu.pipeline('argmax', { defines, constants });
    rec.dispatch(pipeline, [logits, out], [V, numSeqs, 1, chunkLen], grid(numSeqs));
    return;
  }
  const part = rec.scratch([numSeqs, chunks, 2], 'u32', 'argmax partials');
  const split = rec.gpu.pipeline('argmax', { defines: [...defines, 'SPLIT'], constants });
  rec.dispatch(split, [logits, part], [V, numSeqs, chunks, chunkLen], grid(numSeqs * chunks));
  const finalize = rec.gpu.pipeline('argmax', { defines: ['FINALIZE'], constants: { WG: 64 } });
  rec.dispatch(finalize, [part, out], [V, numSeqs, chunks, chunkLen], grid(numSeqs));
}

/** Internal knobs of `sample` (tests use them to show results do not depend on them). */
export interface SampleOptions {
  /** Threads per workgroup: 256, 512 or 1024. */
  readonly wg?: number;
  /** Candidate-cache entries in workgroup memory (>= wg). */
  readonly cache?: number;
  /** Disable the candidate cache (every pass reads the row). */
  readonly noCache?: boolean;
  /** Workgroups per row for the first passes (1 = one workgroup does the whole row). */
  readonly chunks?: number;
}

const HIST_BYTES = 3 * 2048 * 4;
/** Workgroup memory besides the histogram and the cache: subgroup totals (2 bytes per thread) and scalars. */
const otherBytes = (wg: number) => 2 * wg + 256;
/** Below this many rows, the first passes (max, top-k bound and cache fill, or the whole Gumbel-max
 * of rows without top-k/top-p) are split over several workgroups per row. */
const SPLIT_BELOW_SEQS = 128;
const SPLIT_TARGET_WGS = 256;
const SPLIT_MIN_CHUNK = 4096;

/** The default workgroup size and cache for this device: big ones where workgroup memory allows. */
export function sampleConfig(limits: GPUSupportedLimits): { wg: number; cache: number } {
  const room = (wg: number) => limits.maxComputeWorkgroupStorageSize - HIST_BYTES - otherBytes(wg);
  if (limits.maxComputeInvocationsPerWorkgroup >= 1024 && room(1024) >= 8 * 2048) return { wg: 1024, cache: 2048 };
  return { wg: 256, cache: Math.min(2048, 2 ** Math.floor(Math.log2(Math.max(room(256), 8) / 8))) };
}

// logits: [numSeqs, V] f32|f16; params: [numSeqs, 8] u32 (packSamplingParams); out: [numSeqs] u32
export function sample(rec: Recorder, logits: Tensor, params: Tensor, out: Tensor): void {
  sampleWith(rec, logits, params, out, {});
}

export function sampleWith(rec: Recorder, logits: Tensor, params: Tensor, out: Tensor, opts: SampleOptions): void {
  const { numSeqs, V } = checkLogits('sample', logits, out);
  expectShape('sample params', params, [numSeqs, SAMPLING_PARAM_WORDS], 'u32');
  if (numSeqs === 0) return;
  const def = sampleConfig(rec.gpu.limits);
  const wg = opts.wg ?? def.wg;
  const cache = opts.cache ?? def.cache;
  expect([256, 512, 1024].includes(wg), `sample: wg ${wg} must be 256, 512 or 1024`);
  expect(cache >= wg, `sample: cache ${cache} must be >= wg ${wg}`);
  expect(
    HIST_BYTES + 8 * cache + otherBytes(wg) <= rec.gpu.limits.maxComputeWorkgroupStorageSize,
    `sample: cache ${cache} does not fit the device's workgroup memory`,
  );
  const defines = [...(logits.dtype === 'f16' ? ['F16'] : []), ...(V % 4 === 0 ? ['VEC'] : [])];
  const constants = { WG: wg, CACHE: cache };
  const cacheOn = opts.noCache ? 0 : 1;
  // Rows are read in units of one load: 4 logits (VEC) or 1.
  const units = V % 4 === 0 ? V / 4 : V;
  const wanted = opts.chunks ?? (numSeqs < SPLIT_BELOW_SEQS ? Math.min(Math.ceil(SPLIT_TARGET_WGS / numSeqs), Math.floor(V / SPLIT_MIN_CHUNK)) : 1);
  const chunkUnits = Math.ceil(units / Math.max(1, Math.min(wanted, units)));
  const chunks = Math.ceil(units / chunkUnits);
  const pipeline = rec.gpu.pipeline('sample', { defines, constants });
  // Split (chunks > 1): chunk workgroups summarise their part of the row (phase 0) and fill the
  // candidate cache of top-k rows (phase 1); then one workgroup per row finishes (phase 2).
  const part = rec.scratch([numSeqs, chunks, 4], 'u32', 'sample chunk summaries');
  const cand = rec.scratch(chunks > 1 ? [numSeqs, cache, 2] : [2], 'u32', 'sample candidates');
  const candN = rec.scratch([numSeqs], 'u32', 'sample candidate counts');
  const bound = [logits, params, out, part, cand, candN];
  if (chunks > 1) {
    for (const phase of [0, 1]) rec.dispatch(pipeline, bound, [V, numSeqs, cacheOn, chunks, chunkUnits, phase], grid(numSeqs * chunks));
  }
  rec.dispatch(pipeline, bound, [V, numSeqs, cacheOn, chunks, chunkUnits, 2], grid(numSeqs));
}
