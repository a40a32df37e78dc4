// `tknp bench kernels --sweep linear-m` without timing anything: the declared cases, the issue's
// rules judged on hand-made reports (step up between neighbouring M, ratio to PyTorch, fast vs
// default within 3%), the charts and the list of misses; and the arena's fill-once on a GPU.
import { describe, expect, it } from 'vitest';
import { BenchArena } from '../../src/bench/arena.js';
import type { BenchReport, CaseResult } from '../../src/bench/harness.js';
import { FAST_TOLERANCE, linearSweepCharts, linearSweepMisses, linearSweepTargets, MAX_STEP_RATIO, sweepLines } from '../../src/bench/linear_sweep.js';
import { renderHtml, renderMarkdown } from '../../src/bench/report.js';
import { SWEEP_M, linearSuite } from '../../src/bench/suites/linear.js';
import { suitesFor } from '../../src/bench/suites/registry.js';
import { evaluateTargets } from '../../src/bench/targets.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

function sweepCase(model: string, K: number, N: number, M: number, us: number, fast = false): CaseResult {
  const shape = `M${M} K${K} N${N}${fast ? ' fast' : ''}`;
  return { kernel: 'linear', shape, model, params: { M, N, K, tokens: M, linearSweep: 1 }, variant: fast ? 'gemv' : 'tc', status: 'ok', bytes: 1, flops: 1, medianUs: us, gbps: 1, tflops: 1, pctPeakBandwidth: 1 };
}

function report(results: CaseResult[], baseline: { shape: string; medianUs: number }[] = []): BenchReport {
  return { date: 'd', device: 'test', command: '', sweep: 'linear-m', peaks: { copyGBps: 3000, f32TFlops: 50, f16TFlops: 100 }, results, baseline: { source: 'PyTorch', results: baseline.map((b) => ({ ...b, kernel: 'linear', impl: 'F.linear' })) } };
}

describe('linear-m sweep cases', () => {
  it('every projection of Llama-3-8B and Qwen2.5-7B over the 18 M values, both modes, only the linear suite', () => {
    expect(suitesFor('linear-m')).toEqual([linearSuite]);
    expect(SWEEP_M).toEqual([1, 2, 4, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 160, 192, 256, 384, 512]);
    const cases = linearSuite.cases('linear-m');
    expect(cases).toHaveLength(10 * 18 * 2);
    const projections = [...new Set(cases.map((c) => `${c.model} ${c.params.K}→${c.params.N}${c.params.bias ? ' +bias' : ''}${c.params.f32Out ? ' f32' : ''}`))];
    expect(projections).toEqual([
      'Llama-3-8B qkv 4096→6144',
      'Llama-3-8B o 4096→4096',
      'Llama-3-8B gate_up 4096→28672',
      'Llama-3-8B down 14336→4096',
      'Llama-3-8B lm_head 4096→128256 f32',
      'Qwen2.5-7B qkv 3584→4608 +bias',
      'Qwen2.5-7B o 3584→3584',
      'Qwen2.5-7B gate_up 3584→37888',
      'Qwen2.5-7B down 18944→3584',
      'Qwen2.5-7B lm_head 3584→152064 f32',
    ]);
    for (const c of cases) expect(c.params.linearSweep).toBe(1);
    expect(cases.filter((c) => c.shape.endsWith(' fast'))).toHaveLength(180);
    expect(new Set(cases.map((c) => c.shape)).size).toBe(360);
    // f32 logits: 4 bytes an output.
    const lm = cases.find((c) => c.shape === 'M512 K4096 N128256')!;
    expect(lm.bytes).toBe(2 * 128256 * 4096 + 2 * 512 * 4096 + 4 * 512 * 128256);
  });
});

describe('linear-m sweep rules', () => {
  const L = 'Llama-3-8B gate_up';
  it('a time above 1.25× the next larger M is a step up; the targets name the worst pair and count the misses', () => {
    const rs = [sweepCase(L, 4096, 28672, 16, 100), sweepCase(L, 4096, 28672, 24, 130), sweepCase(L, 4096, 28672, 32, 100), sweepCase(L, 4096, 28672, 48, 120)];
    const t = Object.fromEntries(linearSweepTargets(report(rs)).map((x) => [x.name, x]));
    const step = t['linear M sweep: no step up'];
    expect(step.status).toBe('missed');
    expect(step.detail).toContain('M24 (130.0 µs) vs M32 (100.0 µs) 1.30 × the next M — over by 0.05; 1 of 3 miss');
    expect(t['linear M sweep vs PyTorch, M ≤ 64'].status).toBe('not measured');
    const ok = linearSweepTargets(report([sweepCase(L, 4096, 28672, 16, 125), sweepCase(L, 4096, 28672, 24, 100)]));
    expect(ok[0].status).toBe('met'); // exactly 1.25×
    expect(MAX_STEP_RATIO).toBe(1.25);
  });

  it('default mode against PyTorch: ≥ 0.9× up to M 64, ≥ 0.6× from 65 to 512; fast compared to default within 3%', () => {
    const rs = [
      sweepCase(L, 4096, 28672, 64, 100),
      sweepCase(L, 4096, 28672, 80, 100),
      sweepCase(L, 4096, 28672, 64, 103, true), // 1.03× default: within the tolerance
      sweepCase(L, 4096, 28672, 80, 104, true), // 1.04×: slower
    ];
    const base = [
      { shape: 'M64 K4096 N28672', medianUs: 90 }, // 0.90×: met
      { shape: 'M80 K4096 N28672', medianUs: 59 }, // 0.59×: missed
    ];
    const t = Object.fromEntries(linearSweepTargets(report(rs, base)).map((x) => [x.name, x]));
    expect(t['linear M sweep vs PyTorch, M ≤ 64'].status).toBe('met');
    expect(t['linear M sweep vs PyTorch, M 65–512'].status).toBe('missed');
    expect(t['linear M sweep vs PyTorch, M 65–512'].detail).toContain('M80 [tc] 0.59 × PyTorch');
    expect(t['linear M sweep: fast never slower'].status).toBe('missed');
    expect(t['linear M sweep: fast never slower'].detail).toContain('M80 (fast 104.0 µs [gemv], default 100.0 µs [tc]) 1.04 × default time');
    expect(FAST_TOLERANCE).toBe(0.03);
    const misses = linearSweepMisses(report(rs, base));
    expect(misses).toContain('- 0.59× PyTorch (needs 0.6): Llama-3-8B gate_up (K4096 N28672) M80 [tc]');
    expect(misses.some((l) => l.startsWith('- fast 1.04× the default time'))).toBe(true);
    expect(misses.some((l) => l.includes('M64 (fast'))).toBe(false);
    // The kernel report includes the sweep's targets and its charts.
    expect(evaluateTargets(report(rs, base)).map((x) => x.name)).toContain('linear M sweep: fast never slower');
    expect(renderMarkdown(report(rs, base))).toContain('Linear M sweep, every miss:');
  });

  it('lines per projection and mode sorted by M; one chart per projection with default, fast and PyTorch', () => {
    const Q = 'Qwen2.5-7B o';
    const rs = [sweepCase(L, 4096, 28672, 8, 50), sweepCase(L, 4096, 28672, 1, 40), sweepCase(L, 4096, 28672, 1, 30, true), sweepCase(Q, 3584, 3584, 1, 10)];
    const lines = sweepLines(report(rs));
    expect(lines.map((l) => `${l.projection} ${l.mode} ${l.points.map((p) => p.params.M).join(',')}`)).toEqual([
      'Llama-3-8B gate_up (K4096 N28672) default 1,8',
      'Llama-3-8B gate_up (K4096 N28672) fast 1',
      'Qwen2.5-7B o (K3584 N3584) default 1',
    ]);
    const charts = linearSweepCharts(report(rs, [{ shape: 'M1 K4096 N28672', medianUs: 35 }]));
    expect(charts).toHaveLength(2);
    expect(charts[0]).toContain('linear Llama-3-8B gate_up (K4096 N28672): time vs M');
    for (const name of ['tknp default', 'tknp fast', 'PyTorch (torch.matmul)']) expect(charts[0]).toContain(name);
    expect(charts[1]).not.toContain('PyTorch');
    expect(renderHtml(report(rs))).toContain('time vs M');
    // No sweep case: no sweep targets.
    expect(linearSweepTargets(report([]))).toEqual([]);
  });
});

describe.skipIf(!gpu)(`bench arena fillOnce ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it('fills a slot once per tag, again for another tag or after the slot grows', () => {
    const arena = new BenchArena(gpu!);
    const fills: string[] = [];
    arena.tensor('w', [8], 'f16');
    arena.fillOnce('w', 'a', () => fills.push('a'));
    arena.fillOnce('w', 'a', () => fills.push('a again'));
    arena.fillOnce('w', 'b', () => fills.push('b'));
    arena.tensor('w', [4096], 'f16'); // reallocated: contents gone
    arena.fillOnce('w', 'b', () => fills.push('b after growing'));
    arena.destroy();
    expect(fills).toEqual(['a', 'b', 'b after growing']);
  });
});
