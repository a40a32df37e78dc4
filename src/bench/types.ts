// The contract between kernel benchmark entries (src/bench/suites/<op>.ts) and the harness that
// runs them (`tknp bench kernels`). An entry declares shapes with napkin-math bytes and
// FLOPs; the harness validates each case against its CPU reference before timing it.
import type { Gpu } from '../gpu/gpu.js';
import type { Recorder } from '../gpu/recorder.js';
import type { BenchArena } from './arena.js';

/**
 * 'small': seconds on lavapipe; 'full': every suite's real-model shapes; 'linear-m': only the linear
 * suite, every projection of Llama-3-8B and Qwen2.5-7B over M = 1..512 in both modes (issue 15).
 */
export const SWEEPS = ['small', 'full', 'linear-m'] as const;
export type Sweep = (typeof SWEEPS)[number];

export interface BenchInstance {
  /** Records one call of the kernel under test. */
  run(rec: Recorder): void;
  /**
   * Checks the kernel's output against its CPU reference and throws if it is wrong (a wrong
   * kernel is never timed). Large shapes may check a seeded random sample of outputs.
   */
  validate(): Promise<void>;
  /** Frees the case's buffers. */
  destroy(): void;
  /** The variant the wrapper chose (e.g. 'subgroup-matrix', 'gemv', 'split-k=8'). */
  readonly variant: string;
}

export interface BenchCase {
  /** Kernel name, as in shaders/<op>.wgsl: 'decode_attention', 'linear', … */
  readonly kernel: string;
  /** Human-readable shape, e.g. 'B64 Hq32 Hkv8 D128 ctx4096' or 'M16 K4096 N14336'. */
  readonly shape: string;
  /** Model the shape comes from ('Llama-3-8B', …), or '' for synthetic. */
  readonly model: string;
  /** Numeric parameters for charts: e.g. { batch: 64, context: 4096 } or { tokens: 512 }. */
  readonly params: Readonly<Record<string, number>>;
  /** Bytes one call must move to/from memory at minimum (napkin math). */
  readonly bytes: number;
  /** Floating-point operations of one call (2 per multiply-add). */
  readonly flops: number;
  /**
   * Builds inputs on the GPU (seeded random) and returns the instance to validate and time. Big
   * inputs come from `arena` (buffers that outlive the case; destroy() must not free them).
   */
  setup(gpu: Gpu, arena: BenchArena): Promise<BenchInstance>;
}

export interface BenchSuite {
  /** Matches --filter. */
  readonly name: string;
  /** The cases of a sweep: 'small' must run in seconds on lavapipe; 'full' and 'linear-m' are for real GPUs. */
  cases(sweep: Sweep): BenchCase[];
}
