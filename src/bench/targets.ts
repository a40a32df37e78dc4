// The H100 performance targets of the kernel benchmark (issue "Kernel benchmarking harness"),
// evaluated on a report: each is met, missed (by how much, on which case) or not measured.
import { ratio, type BenchReport, type CaseResult } from './harness.js';
import { judge, type Measured, type TargetResult } from './judge.js';
import { linearSweepTargets } from './linear_sweep.js';

export type { TargetResult };


interface Target {
  readonly name: string;
  readonly requirement: string;
  readonly cases: (r: CaseResult) => boolean;
  /** The case's value and the bound it must reach (higher is better). */
  readonly value: (report: BenchReport, r: CaseResult) => number | undefined;
  readonly bound: number;
  readonly unit: string;
}

/**
 * Timed, and not a tuning case shown beside the default: a forced tile, heads per workgroup, partition
 * size or decode-attention epilogue.
 */
const ok = (r: CaseResult) => r.status === 'ok' && !/ tile | GW\d| P\d+ | per-head | all-heads /.test(`${r.shape} `);
const LLAMA3_DECODE_SHAPES = new Set(['4096x14336', '14336x4096', '4096x128256']);

const TARGETS: readonly Target[] = [
  {
    name: 'decode attention vs PyTorch',
    requirement: 'B64, 32 q / 8 kv heads, D128, ctx 4096: ≥ 0.95× PyTorch SDPA KV bytes/s',
    cases: (r) => r.kernel === 'decode_attention' && r.params.batch === 64 && r.params.context === 4096 && r.params.numKvHeads === 8 && r.params.numHeads === 32,
    value: (rep, r) => ratio(rep, r),
    bound: 0.95,
    unit: '× PyTorch',
  },
  {
    name: 'decode attention vs copy peak',
    requirement: 'context 1k–32k, batch 1–256: ≥ 85% of measured copy bandwidth',
    cases: (r) => r.kernel === 'decode_attention' && r.params.context >= 1024 && r.params.context <= 32768 && r.params.batch <= 256,
    value: (_rep, r) => r.pctPeakBandwidth,
    bound: 85,
    unit: '% of copy peak',
  },
  {
    name: 'decode GEMV vs PyTorch',
    requirement: '4096→14336, 14336→4096, 4096→128256, 1–16 tokens (default, batch-invariant mode): ≥ 1.0× PyTorch bandwidth',
    cases: (r) => r.kernel === 'linear' && r.params.M <= 16 && LLAMA3_DECODE_SHAPES.has(`${r.params.K}x${r.params.N}`) && !r.shape.endsWith('fast'),
    value: (rep, r) => ratio(rep, r),
    bound: 1.0,
    unit: '× PyTorch',
  },
  {
    name: 'decode GEMV vs PyTorch, --fast',
    requirement: 'the same shapes and tokens with batchInvariant: false (GEMV up to 2 rows with tensor cores): ≥ 1.0× PyTorch bandwidth',
    cases: (r) => r.kernel === 'linear' && r.params.M <= 16 && LLAMA3_DECODE_SHAPES.has(`${r.params.K}x${r.params.N}`) && r.shape.endsWith('fast'),
    value: (rep, r) => ratio(rep, r),
    bound: 1.0,
    unit: '× PyTorch',
  },
  {
    name: 'prefill GEMM throughput',
    requirement: 'Llama-3-8B projections, 512–8192 tokens, f16 subgroup-matrix path: ≥ 300 TFLOP/s',
    cases: (r) => r.kernel === 'linear' && r.params.M >= 512 && r.params.M <= 8192 && r.model.startsWith('Llama-3-8B') && !r.shape.endsWith('fast'),
    value: (_rep, r) => r.tflops,
    bound: 300,
    unit: 'TFLOP/s',
  },
  {
    name: 'prefill attention vs PyTorch',
    requirement: 'causal, 8k tokens: ≥ 0.5× PyTorch FlashAttention TFLOP/s',
    cases: (r) => r.kernel === 'prefill_attention' && r.params.tokens === 8192 && (r.params.numSeqs ?? 1) === 1,
    value: (rep, r) => ratio(rep, r),
    bound: 0.5,
    unit: '× PyTorch',
  },
];

export function evaluateTargets(report: BenchReport): TargetResult[] {
  const fixed = TARGETS.map((t) => {
    const measured = report.results
      .filter((r) => ok(r) && t.cases(r))
      .map((r) => ({ label: `${r.shape} [${r.variant}]`, v: t.value(report, r) }))
      .filter((x): x is Measured => x.v !== undefined && Number.isFinite(x.v));
    return judge(t.name, t.requirement, measured, t.bound, t.unit);
  });
  return [...fixed, ...linearSweepTargets(report)];
}
