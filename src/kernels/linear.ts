// Linear layer: out = x Wᵀ (+ bias), weights in Hugging Face layout. The decode GEMV and the prefill GEMM.
//
// Batch invariance ('invariant' mode, the default): a row's result never depends on M. The kernel and its
// reduction order are chosen from the device, N and K only:
//   * devices with f16→f32 16×16×16 subgroup matrices (NVIDIA): 'subgroup-matrix' for every M. K is cut into
//     numSeg segments (from N and K: enough independent weight streams for decode), each one chain of
//     tensor-core multiply-accumulates, folded in segment order. M only picks the tile shape and whether the
//     segments run side by side (PAR: decode) or one after another (SEQ: prefill); rows never interact and
//     every schedule performs the same operations on the same values, so the bits are the same. Two kernels
//     implement it: linear_subgroup_matrix_direct (matrix loads straight from storage; N, K % 16 == 0, i.e.
//     every real model) and linear_subgroup_matrix (small tiles staged; any K); for K % 64 == 0 (every real
//     model) the two that stage wide loads through workgroup memory run instead: linear_subgroup_matrix_stream
//     (M ≤ 32 by default, N % 16 == 0: one weight slice × one segment per workgroup, segments folded by
//     linear_fold) and linear_subgroup_matrix_block (more rows: 64×128 or 128×128 blocks, one segment per
//     workgroup folded by linear_fold (PAR, decode batches) or all segments in one workgroup (SEQ, prefill);
//     autoTile picks by M and the tile count).
//   * other devices: 'plain' for every M (one f32 fma chain over k per output; M picks only the tile shape).
// 'fast' mode may also use 'gemv' (lane-split K, subgroup reduction) for M = 1 and for M = 2 where N ≥ K (M ≤ 8 without tensor cores), whose order depends on the
// lane count: fastest for decode, not invariant against larger batches.
import type { Gpu } from '../gpu/gpu.js';
import { grid, type Param, type Recorder } from '../gpu/recorder.js';
import { byteSize, expect, expectShape, fail, type DType, type Tensor } from '../gpu/tensor.js';
import { isQuantized, type LinearWeight } from './quantized_weight.js';
import { quantLinear, quantLinearDeferred } from './quant_linear.js';

export type LinearMode = 'invariant' | 'fast';
export type LinearVariantName = 'plain' | 'subgroup-matrix' | 'gemv' | 'subgroup-matrix-emulated';

export interface LinearOptions {
  /** 'invariant' (default): bitwise batch-invariant rows; 'fast': may pick a GEMV for small M. */
  readonly mode?: LinearMode;
  /**
   * Forces a kernel (tests, benchmarks). 'subgroup-matrix' needs the device feature; 'gemv' needs M ≤ 8;
   * 'subgroup-matrix-emulated' runs the tensor-core kernel's tiling and schedules with emulated matrix ops
   * on any device (slow; it proves the index logic where no tensor cores exist).
   */
  readonly variant?: LinearVariantName;
  /**
   * Forces the tensor-core schedule: 'D1'/'D2'[m<SGM>n<SGN>] (direct kernel), 'stream' (M ≤ 64),
   * 'par64'/'par128' (block tiles, segments side by side), 'block' (block tiles, segments in turn),
   * or S1…S8, M1…M8, B (staged kernel).
   * Tuning and tests only; never changes the order, hence the bits.
   */
  readonly tile?: string;
}

export interface LinearPlan {
  readonly variant: LinearVariantName;
  /** What fixes the reduction order: the same for every M of one (device, N, K) in invariant mode. */
  readonly order: string;
  /** Tile shape and schedule (free to depend on M). */
  readonly schedule: string;
  readonly shader: string;
  readonly defines: string[];
  readonly constants: Record<string, number>;
  readonly params: Param[];
  readonly workgroups: [number, number, number];
  /**
   * A second dispatch (shaders/linear_fold.wgsl) that adds up per-segment partials: the first one then
   * writes [numSeg, rows, N] f32 into a scratch tensor instead of out.
   */
  readonly fold?: {
    readonly numSeg: number;
    /** Rows per segment in the partials (the kernel's tile rows, ≥ M). */
    readonly rows: number;
    readonly defines: string[];
    readonly params: Param[];
    readonly workgroups: [number, number, number];
  };
}

/** Largest M the GEMV handles (rows held in registers). */
export const GEMV_MAX_ROWS = 8;
/** The stream kernel (linear_subgroup_matrix_stream) takes up to this M... */
export const STREAM_MAX_ROWS = 64;
/** ...and runs by default up to this M (a weight stream of one or two 16-row tiles)... */
export const STREAM_AUTO_ROWS = 32;
/** ...then 64-row block tiles with the K segments side by side (PAR) up to this M... */
export const PAR64_MAX_ROWS = 64;
/**
 * ...then 128-row block tiles, PAR where the tiles alone are too few to fill the GPU, else SEQ; from this M
 * on always 128×128 blocks that run all segments (SEQ; linear_subgroup_matrix_block): PAR's partial sums
 * (numSeg · M · N f32, written and read again) outweigh its parallelism there (H100, calls 1 and 3).
 */
export const BLOCK_MIN_ROWS = 384;
/** Tiles (×128 rows × 128 columns) from which SEQ blocks fill the H100 without splitting K. */
const SEQ_MIN_TILES = 200;

/**
 * The default tensor-core schedule of an M (K % 64 == 0, N % 16 == 0), from the H100 sweep of every
 * Llama-3-8B and Qwen2.5-7B projection over M = 1..512 (bench/RESULTS.md, session 7,
 * bench/probes/linear_tiles.ts). Never changes the bits, only the speed.
 */
function autoTile(t: TensorCoreSizes): string {
  const { M, N } = t;
  if (M <= STREAM_AUTO_ROWS) return 'stream';
  if (M <= PAR64_MAX_ROWS) return 'par64';
  const tiles = Math.ceil(M / 128) * Math.ceil(N / 128);
  if (M >= BLOCK_MIN_ROWS || tiles >= SEQ_MIN_TILES) return 'block';
  return 'par128';
}
/**
 * In 'fast' mode, M up to this uses the GEMV where the device has the tensor-core path (else up to
 * GEMV_MAX_ROWS), at 2 rows only where N ≥ K: from 3 rows on the weight stream is faster (H100 without
 * Dawn's robustness, bench/RESULTS.md session 6: M4 14336→4096 61 µs against the GEMV's 95, 4096→28672
 * 105 against 112), and at 2 rows where N < K (session 7: 14336→4096 50 against 60 µs, 18944→3584 59 against 74).
 */
export const FAST_GEMV_ROWS = 2;

/** Whether the device has the tensor-core path: f16→f32 16×16×16 subgroup matrices on 32-wide subgroups. */
export function hasLinearTensorCores(gpu: Gpu): boolean {
  return gpu.hasSubgroupMatrix(16, 16, 16) && gpu.caps.subgroupMinSize === 32 && gpu.caps.subgroupMaxSize === 32;
}

/**
 * The K partition of the tensor-core kernel, from N and K only: segments of a multiple of 128 elements.
 * Small N gets more segments so that decode has ≥ ~32k/16 independent weight streams; at most 8, each ≥ 1024
 * (the block kernel folds its tiles at every segment end: 512-long segments cost it ~30%, bench/RESULTS.md).
 */
export function linearSegments(N: number, K: number): { numSeg: number; segLen: number } {
  let ks = 1;
  while (ks < 8 && N * ks < 32768) ks *= 2;
  ks = Math.max(1, Math.min(ks, Math.floor(K / 1024)));
  const segLen = 128 * Math.ceil(K / (128 * ks));
  return { numSeg: Math.ceil(K / segLen), segLen };
}

// Tile configurations of shaders/linear_subgroup_matrix.wgsl (CFG_*): keep in step with the shader.
const SGM_CFG: Record<string, { KG: number; SG_M: number; SG_N: number; TM: number; TN: number }> = {
  S1: { KG: 1, SG_M: 1, SG_N: 4, TM: 1, TN: 1 },
  S2: { KG: 2, SG_M: 1, SG_N: 2, TM: 1, TN: 1 },
  S4: { KG: 4, SG_M: 1, SG_N: 1, TM: 1, TN: 1 },
  S8: { KG: 8, SG_M: 1, SG_N: 1, TM: 1, TN: 1 },
  M1: { KG: 1, SG_M: 1, SG_N: 4, TM: 4, TN: 1 },
  M2: { KG: 2, SG_M: 1, SG_N: 2, TM: 4, TN: 1 },
  M4: { KG: 4, SG_M: 1, SG_N: 1, TM: 4, TN: 1 },
  M8: { KG: 8, SG_M: 1, SG_N: 1, TM: 2, TN: 1 },
  B: { KG: 1, SG_M: 2, SG_N: 4, TM: 4, TN: 2 },
};

function pow2ceil(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function chooseVariant(gpu: Gpu, M: number, N: number, K: number, opts: LinearOptions): LinearVariantName {
  const tc = hasLinearTensorCores(gpu);
  if (opts.variant) {
    if (opts.variant === 'subgroup-matrix' && !tc) throw new Error('linear: this device has no f16 16x16x16 subgroup matrices');
    if (opts.variant === 'gemv' && M > GEMV_MAX_ROWS) throw new Error(`linear: the gemv variant takes M <= ${GEMV_MAX_ROWS}, got ${M}`);
    return opts.variant;
  }
  // With tensor cores the GEMV's second row pays only where N ≥ K: at M2 on 14336→4096 and 18944→3584 the
  // stream was 1.2-1.26× faster (H100, sessions 6 and 7).
  if ((opts.mode ?? 'invariant') === 'fast' && (tc ? M === 1 || (M <= FAST_GEMV_ROWS && N >= K) : M <= GEMV_MAX_ROWS)) return 'gemv';
  return tc ? 'subgroup-matrix' : 'plain';
}

/** Everything `linear` dispatches for these sizes: the variant, its order, tiles, defines and grid. */
export function planLinear(
  gpu: Gpu,
  M: number,
  N: number,
  K: number,
  opts: LinearOptions & { bias?: boolean; outDtype?: DType } = {},
): LinearPlan {
  const variant = chooseVariant(gpu, M, N, K, opts);
  const defines: string[] = [];
  if (opts.bias) defines.push('BIAS');
  if (opts.outDtype === 'f32') defines.push('OUT_F32');
  if (variant === 'gemv') {
    const tpr = Math.max(32, gpu.caps.subgroupMaxSize);
    const rpw = 4;
    const mr = pow2ceil(M);
    if (K % 8 === 0) defines.push('VEC');
    if (gpu.caps.subgroups && gpu.caps.subgroupMinSize === tpr && gpu.caps.subgroupMaxSize === tpr) defines.push('SG_REDUCE');
    return {
      variant,
      order: `lanes${tpr}`,
      schedule: `rows${rpw} mr${mr}`,
      shader: 'linear_gemv',
      defines,
      constants: { TPR: tpr, RPW: rpw, MR: mr },
      params: [M, N, K, 0],
      workgroups: grid(Math.ceil(N / rpw)),
    };
  }
  if (variant === 'plain') {
    const [tx, ty, tm, tn, bk] = M <= 2 ? [64, 1, 2, 2, 32] : M <= 16 ? [32, 4, 4, 2, 32] : [16, 16, 4, 4, 16];
    const tilesM = Math.ceil(M / (ty * tm));
    const tilesN = Math.ceil(N / (tx * tn));
    return {
      variant,
      order: 'k-chain',
      schedule: `${ty * tm}x${tx * tn}`,
      shader: 'linear_tiled',
      defines,
      constants: { TX: tx, TY: ty, TM: tm, TN: tn, BK: bk },
      params: [M, N, K, tilesM],
      workgroups: grid(tilesM * tilesN),
    };
  }
  const t: TensorCoreSizes = { M, N, K, ...linearSegments(N, K), variant };
  const { numSeg } = t;
  if (variant === 'subgroup-matrix-emulated') defines.push('EMULATE');
  const tile = opts.tile ?? (K % 64 === 0 && N % 16 === 0 ? autoTile(t) : undefined);
  if (K % 64 === 0 && N % 16 === 0 && tile === 'stream') {
    expect(M <= STREAM_MAX_ROWS, `linear: tile stream takes M <= ${STREAM_MAX_ROWS}, got ${M}`);
    return planStream(t, defines);
  }
  if (K % 64 === 0 && N % 16 === 0 && (tile === 'par64' || tile === 'par128')) return planBlock(t, defines, tile === 'par64' ? 64 : 128, true);
  if (K % 64 === 0 && (tile === 'block' || (tile === undefined && M >= BLOCK_MIN_ROWS))) return planBlock(t, defines, 128, false);
  // The direct kernel's 16×16 loads of w must not cross w's end: N and K multiples of 16 (every real model).
  if (K % 16 === 0 && N % 16 === 0 && (opts.tile === undefined || opts.tile.startsWith('D'))) {
    return planDirect(t, defines, opts.tile);
  }
  const kg = pow2ceil(numSeg);
  const cfg = opts.tile ?? (M <= 16 ? `S${kg}` : M <= 64 ? `M${kg}` : 'B');
  const c = SGM_CFG[cfg];
  expect(c !== undefined && (cfg === 'B' || c.KG >= numSeg), `linear: tile ${cfg} cannot run ${numSeg} segments`);
  const par = cfg !== 'B';
  defines.push(`CFG_${cfg}`, par ? 'PAR' : 'SEQ');
  if (!par && numSeg > 1) defines.push('SEQ_SPLIT');
  if (K % 2 === 0) defines.push('PAIRED');
  const bm = 16 * c.SG_M * c.TM;
  const bn = 16 * c.SG_N * c.TN;
  return tiledPlan(t, bm, bn, 'linear_subgroup_matrix', `${cfg} ${par ? 'par' : 'seq'} ${bm}x${bn}`, defines);
}

/** Sizes and K order of a tensor-core linear; every tensor-core schedule of them gives the same bits. */
interface TensorCoreSizes {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly numSeg: number;
  readonly segLen: number;
  readonly variant: LinearVariantName;
}

const segOrder = (t: TensorCoreSizes) => `seg${t.numSeg}x${t.segLen}`;

/** A plan over ceil(M / bm) × ceil(N / bn) workgroups, with the params every tensor-core shader reads. */
function tiledPlan(t: TensorCoreSizes, bm: number, bn: number, shader: string, schedule: string, defines: string[], constants: Record<string, number> = {}): LinearPlan {
  const tilesM = Math.ceil(t.M / bm);
  const tilesN = Math.ceil(t.N / bn);
  return {
    variant: t.variant,
    order: segOrder(t),
    schedule,
    shader,
    defines,
    constants,
    params: [t.M, t.N, t.K, t.segLen, t.numSeg, tilesM, tilesN, 0],
    workgroups: grid(tilesM * tilesN),
  };
}

/**
 * The direct tensor-core schedule (shaders/linear_subgroup_matrix_direct.wgsl, K % 16 == 0): KG = numSeg
 * k-groups; per subgroup one 16×16 tile ('D1', M ≤ 64) or a 2×2 block ('D2'); SGM × SGN subgroups per
 * k-group, at most 16 subgroups in all. `tile` 'D<1|2>[m<SGM>n<SGN>]' forces a shape (tuning).
 */
function planDirect(t: TensorCoreSizes, defines: string[], tile?: string): LinearPlan {
  const { M, N, numSeg } = t;
  const forced = tile ? /^D([12])(?:m(\d+)n(\d+))?$/.exec(tile) : null;
  expect(tile === undefined || forced !== null, `linear: unknown tile '${tile}'`);
  const tt = forced ? Number(forced[1]) : M <= 64 ? 1 : 2;
  const perGroup = Math.max(1, Math.floor(16 / numSeg));
  let sgm = tt === 1 ? Math.min(Math.ceil(M / 16), 4, perGroup) : Math.min(2, perGroup);
  let sgn = Math.max(1, Math.min(Math.floor(perGroup / sgm), Math.ceil(N / (16 * tt))));
  if (forced?.[2]) [sgm, sgn] = [Number(forced[2]), Number(forced[3])];
  expect(numSeg * sgm * sgn <= 16, `linear: tile ${tile} needs ${numSeg * sgm * sgn} subgroups, at most 16`);
  if (tt === 2) defines.push('T2');
  const bm = 16 * tt * sgm;
  const bn = 16 * tt * sgn;
  return tiledPlan(t, bm, bn, 'linear_subgroup_matrix_direct', `D${tt}m${sgm}n${sgn} direct ${bm}x${bn}`, defines, { KG: numSeg, SGM: sgm, SGN: sgn });
}

/**
 * The stream tensor-core schedule (shaders/linear_subgroup_matrix_stream.wgsl, K % 64 == 0, N % 16 == 0,
 * M ≤ 64): one workgroup per 64-column slice (128 for M > 32) and K segment writes the segment's partial
 * sums of all 16·tm rows to a scratch tensor; linear_fold adds them up in segment order, with the bias.
 */
function planStream(t: TensorCoreSizes, defines: string[]): LinearPlan {
  const { M, N, K, numSeg, segLen, variant } = t;
  const tm = M <= 16 ? 1 : M <= 32 ? 2 : 4;
  const bn = tm === 4 ? 128 : 64;
  const tilesN = Math.ceil(N / bn);
  const rows = 16 * tm;
  return {
    variant,
    order: segOrder(t),
    schedule: `stream tm${tm} ${bn}`,
    shader: 'linear_subgroup_matrix_stream',
    constants: {},
    defines: [...defines.filter((d) => d === 'EMULATE'), ...(tm >= 2 ? ['TM2'] : []), ...(tm === 4 ? ['TM4'] : [])],
    params: [M, N, K, segLen, numSeg, 1, tilesN, 0],
    workgroups: grid(tilesN * numSeg),
    fold: foldPlan(t, rows, defines),
  };
}

/** linear_fold's dispatch over a kernel's per-segment partial sums of `rows` (≥ M) rows; bias and f32 out go there. */
function foldPlan(t: TensorCoreSizes, rows: number, defines: readonly string[]): NonNullable<LinearPlan['fold']> {
  const { M, N, numSeg } = t;
  return {
    numSeg,
    rows,
    defines: defines.filter((d) => d === 'BIAS' || d === 'OUT_F32'),
    params: [M * N, N, numSeg, rows * N],
    workgroups: grid(Math.ceil((M * N) / 256)),
  };
}

/**
 * The block tensor-core schedules (shaders/linear_subgroup_matrix_block.wgsl, K % 64 == 0): bm×128 per
 * workgroup. SEQ (`par` false): every segment in one workgroup, out written directly (prefill). PAR (N % 16
 * == 0): one workgroup per (tile, segment) writes the segment's partials; linear_fold adds them up with the
 * bias (decode batches: tiles × segments workgroups fill the GPU where tiles alone would not).
 */
function planBlock(t: TensorCoreSizes, defines: string[], bm: 64 | 128, par: boolean): LinearPlan {
  const d = [...defines.filter((x) => x === 'EMULATE' || !par), ...(bm === 64 ? ['BM64'] : []), ...(par ? ['PAR'] : [])];
  // vec4 loads per invocation per k-step (BK 64, or 32 emulated; 256 invocations): x BM·BK/8/256, w 128·BK/8/256.
  // (A 128-invocation variant with 64×32 per subgroup, 0.75 matrix loads per multiply-accumulate instead of 1,
  // ran 4-6% slower than 'par64' on every decode shape: bench/RESULTS.md, session 7.)
  const c8 = t.variant === 'subgroup-matrix-emulated' ? 4 : 8;
  const xl = (bm * c8) / 256;
  d.push(...(xl === 1 ? ['X1'] : xl === 2 ? ['X2'] : []), ...(c8 === 4 ? ['W2'] : []));
  if (bm === 64) d.push('R2'); // subgroups of 32 rows: 2 row tiles each
  const schedule = `${par ? 'par' : 'block'} ${bm}x128`;
  const plan = tiledPlan(t, bm, 128, 'linear_subgroup_matrix_block', schedule, d);
  if (!par) return plan;
  const [tilesM, tilesN] = [plan.params[5] as number, plan.params[6] as number];
  return { ...plan, workgroups: grid(tilesM * tilesN * t.numSeg), fold: foldPlan(t, tilesM * bm, defines) };
}

/** The variant `linear` picks for these sizes, with its reduction order and schedule (for benchmarks). */
export function linearVariant(gpu: Gpu, M: number, N: number, K: number, opts: LinearOptions = {}): string {
  const p = planLinear(gpu, M, N, K, opts);
  return `${p.variant} ${p.order} / ${p.schedule}`;
}

/** What `linear` dispatches for one (sizes, options): the plan and its compiled pipelines. */
export interface LinearKernels {
  readonly plan: LinearPlan;
  readonly pipeline: GPUComputePipeline;
  /** linear_fold's pipeline where the plan folds partials, else null. */
  readonly fold: GPUComputePipeline | null;
}

/**
 * What `linear` runs for x [M, K] f16, weight [N, K] f16 and out [M, N] `outDtype`: null where M or N
 * is 0, else planLinear's plan (frozen) and its pipelines. Throws where a tensor exceeds the device's
 * binding size. Made once per Gpu for each (M, N, K, bias, outDtype, mode, variant, tile) and then
 * looked up (Gpu.memo): a decode step calls `linear` ~4 times per layer.
 */
export function linearKernels(gpu: Gpu, M: number, N: number, K: number, opts: LinearOptions & { bias?: boolean; outDtype?: DType } = {}): LinearKernels | null {
  const key = `linear ${M} ${N} ${K} ${opts.bias ? 1 : 0} ${opts.outDtype} ${opts.mode} ${opts.variant} ${opts.tile}`;
  return gpu.memo(key, () => {
    const limit = gpu.limits.maxStorageBufferBindingSize;
    const tensors = [['x', [M, K], 'f16'], ['weight', [N, K], 'f16'], ['out', [M, N], opts.outDtype ?? 'f16']] as const;
    for (const [name, shape, dtype] of tensors) {
      const bytes = byteSize({ shape, dtype });
      expect(bytes <= limit, `linear: ${name} [${shape}] is ${bytes} bytes, over the device's ${limit}-byte binding limit`);
    }
    if (M === 0 || N === 0) return null;
    const plan = freezePlan(planLinear(gpu, M, N, K, opts));
    return {
      plan,
      pipeline: gpu.pipeline(plan.shader, { defines: plan.defines, constants: plan.constants }),
      fold: plan.fold ? gpu.pipeline('linear_fold', { defines: plan.fold.defines }) : null,
    };
  });
}

function freezePlan(p: LinearPlan): LinearPlan {
  for (const v of [p.defines, p.constants, p.params, p.workgroups]) Object.freeze(v);
  if (p.fold) for (const v of [p.fold.defines, p.fold.params, p.fold.workgroups, p.fold]) Object.freeze(v);
  return Object.freeze(p);
}

/**
 * A linear's f16 output [M, N] left as the tensor-core kernel's per-segment partial sums, for an
 * elementwise epilogue to fold as it reads them (shaders/lib/fold_in.wgsl: rms_norm's fused add,
 * silu_and_mul) instead of a linear_fold dispatch: the same bits, one dispatch and one round trip of the
 * output fewer.
 */
export interface PartialSums {
  readonly kind: 'partials';
  /** [numSeg, rows ≥ M, N] f32: segment s's partial sums of every output element. */
  readonly part: Tensor;
  readonly bias: Tensor | null;
  /** The linear's output shape [M, N]. */
  readonly shape: readonly [number, number];
}

export function isPartialSums(x: Tensor | PartialSums): x is PartialSums {
  return (x as PartialSums).kind === 'partials';
}

// x: [M, K] f16; weight: [N, K] f16; bias: [N] f16 or null; out: [M, N] f16
/**
 * `linear` whose fold, where its plan has one, is left to the consumer: returns the partial sums (out is
 * not written), else runs `linear` into out and returns out. Consumers take either (rms_norm's fused add,
 * silu_and_mul), so the bits never depend on which one the plan (hence M) gave.
 */
export function linearDeferred(rec: Recorder, x: Tensor, weight: LinearWeight, bias: Tensor | null, out: Tensor, opts: LinearOptions = {}): Tensor | PartialSums {
  if (isQuantized(weight)) return quantLinearDeferred(rec, x, weight, bias, out, opts);
  const kernels = checkedKernels(rec, x, weight, bias, out, opts);
  return kernels ? runLinearDeferred(rec, kernels, x, [weight], bias, out) : out;
}

/**
 * linearDeferred's dispatches once its kernels are chosen: the partial sums where the plan folds them (f16 out),
 * else the whole linear into out. `weights`: the weight's bindings (an f16 [N, K], or a quantized one's qweight,
 * scales[, zeros]).
 */
export function runLinearDeferred(rec: Recorder, kernels: LinearKernels, x: Tensor, weights: readonly Tensor[], bias: Tensor | null, out: Tensor): Tensor | PartialSums {
  if (!kernels.plan.fold || out.dtype !== 'f16') {
    runLinear(rec, kernels, x, weights, bias, out);
    return out;
  }
  return { kind: 'partials', part: dispatchPartials(rec, kernels, x, weights, out.shape[1]), bias, shape: [out.shape[0], out.shape[1]] };
}

/** Runs a folding plan's kernel into a scratch tensor of its per-segment partial sums ([numSeg, rows, N] f32). */
function dispatchPartials(rec: Recorder, kernels: LinearKernels, x: Tensor, weights: readonly Tensor[], N: number): Tensor {
  const { plan, pipeline } = kernels;
  const part = rec.scratch([plan.fold!.numSeg, plan.fold!.rows, N], 'f32', 'linear.partials');
  rec.dispatch(pipeline, [x, ...weights, part], plan.params, plan.workgroups);
  return part;
}

/** The shape checks of `linear`, then its kernels (null where M or N is 0). */
function checkedKernels(rec: Recorder, x: Tensor, weight: Tensor, bias: Tensor | null, out: Tensor, opts: LinearOptions): LinearKernels | null {
  // A decode step calls this ~4 times per layer: messages are formatted only when a check fails.
  if (x.shape.length !== 2) fail(`linear: x must be [M, K], got [${x.shape}]`);
  const [M, K] = x.shape;
  expectShape('linear x', x, [M, K], 'f16');
  if (weight.shape.length !== 2) fail(`linear: weight must be [N, K], got [${weight.shape}]`);
  const N = weight.shape[0];
  expectShape('linear weight', weight, [N, K], 'f16');
  if (bias) expectShape('linear bias', bias, [N], 'f16');
  expectShape('linear out', out, [M, N], ['f16', 'f32']);
  expect(K > 0, 'linear: K must be positive');
  return linearKernels(rec.gpu, M, N, K, { mode: opts.mode, variant: opts.variant, tile: opts.tile, bias: bias !== null, outDtype: out.dtype });
}

// x: [M, K] f16; weight: [N, K] f16 (or quantized: kernels/quant_linear); bias: [N] f16 or null; out: [M, N] f16 or f32
export function linear(rec: Recorder, x: Tensor, weight: LinearWeight, bias: Tensor | null, out: Tensor, opts: LinearOptions = {}): void {
  if (isQuantized(weight)) return quantLinear(rec, x, weight, bias, out, opts);
  const kernels = checkedKernels(rec, x, weight, bias, out, opts);
  if (kernels) runLinear(rec, kernels, x, [weight], bias, out);
}

/** Records a linear's chosen kernels into out. `weights`: as runLinearDeferred's. */
export function runLinear(rec: Recorder, kernels: LinearKernels, x: Tensor, weights: readonly Tensor[], bias: Tensor | null, out: Tensor): void {
  const { plan, pipeline } = kernels;
  const xs = plan.shader === 'linear_subgroup_matrix_direct' ? paddedRows(rec, x) : x;
  if (plan.fold && kernels.fold) {
    const part = dispatchPartials(rec, kernels, xs, weights, out.shape[1]);
    rec.dispatch(kernels.fold, bias ? [part, bias, out] : [part, out], plan.fold.params, plan.fold.workgroups);
    return;
  }
  rec.dispatch(pipeline, [xs, ...weights, ...(bias ? [bias] : []), out], plan.params, plan.workgroups);
}

/**
 * x with its rows rounded up to a multiple of 16 for the direct tensor-core kernel, whose 16-row
 * matrix loads must stay inside the binding (Dawn moves a load that crosses the binding's end,
 * which corrupts the valid rows too; seen on the H100). The extra rows hold whatever follows x in
 * its buffer (they only feed output rows that are never stored), or x is copied into a larger
 * scratch buffer where its own buffer ends too soon.
 */
function paddedRows(rec: Recorder, x: Tensor): Tensor {
  const [M, K] = x.shape;
  const rows = Math.ceil(M / 16) * 16;
  if (rows === M) return x;
  if (x.buffer.size >= x.offset + rows * K * 2) return { ...x, shape: [rows, K] };
  const padded = rec.scratch([rows, K], 'f16', 'linear.paddedX');
  rec.copy(x, padded, M * K * 2);
  return padded;
}
