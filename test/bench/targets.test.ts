import { describe, expect, it } from 'vitest';
import type { BenchReport, CaseResult } from '../../src/bench/harness.js';
import { renderMarkdown } from '../../src/bench/report.js';
import { evaluateTargets } from '../../src/bench/targets.js';

function result(kernel: string, shape: string, params: Record<string, number>, medianUs: number, extra: Partial<CaseResult> = {}): CaseResult {
  return { kernel, shape, model: '', params, variant: 'v', status: 'ok', bytes: 1e9, flops: 1e12, medianUs, gbps: 1e9 / (medianUs * 1e3), tflops: 1e12 / (medianUs * 1e6), pctPeakBandwidth: 90, ...extra };
}

function report(results: CaseResult[], baseline: { kernel: string; shape: string; medianUs: number }[]): BenchReport {
  return {
    date: '2026-11-25',
    device: 'test',
    command: '',
    sweep: 'full',
    peaks: { copyGBps: 3000, f32TFlops: 50, f16TFlops: 100 },
    results,
    baseline: { source: 'PyTorch', results: baseline.map((b) => ({ ...b, impl: 'x' })) },
  };
}

describe('bench targets', () => {
  const attn = { batch: 64, context: 4096, numHeads: 32, numKvHeads: 8, headDim: 128 };
  const attnShape = 'B64 Hq32 Hkv8 D128 ctx4096';

  it('reports met, missed (by how much, on the worst case) and not measured', () => {
    const r = report(
      [
        result('decode_attention', attnShape, attn, 500),
        result('decode_attention', 'B1 … ctx1024', { ...attn, batch: 1, context: 1024 }, 10, { pctPeakBandwidth: 40 }),
        result('linear', 'M1 K4096 N14336', { M: 1, K: 4096, N: 14336 }, 50),
        result('linear', 'M16 K14336 N4096', { M: 16, K: 14336, N: 4096 }, 60),
      ],
      [
        { kernel: 'decode_attention', shape: attnShape, medianUs: 100 },
        { kernel: 'linear', shape: 'M1 K4096 N14336', medianUs: 55 },
        { kernel: 'linear', shape: 'M16 K14336 N4096', medianUs: 57 },
      ],
    );
    const t = Object.fromEntries(evaluateTargets(r).map((x) => [x.name, x]));
    expect(t['decode attention vs PyTorch'].status).toBe('missed');
    expect(t['decode attention vs PyTorch'].detail).toContain('0.20 × PyTorch — short by 0.75 (21% of the target)');
    expect(t['decode attention vs copy peak'].status).toBe('missed');
    expect(t['decode attention vs copy peak'].detail).toContain('B1 … ctx1024');
    expect(t['decode GEMV vs PyTorch'].status).toBe('missed'); // worst: 57/60 = 0.95
    expect(t['decode GEMV vs PyTorch'].detail).toContain('M16 K14336 N4096');
    expect(t['prefill GEMM throughput'].status).toBe('not measured');
    expect(renderMarkdown(r)).toMatch(/\| decode attention vs PyTorch \(.*\) \| missed \|/);
  });

  it('leaves tuning cases (forced tiles, heads per workgroup, partition sizes, epilogues) out of the targets', () => {
    const gemm = { M: 4096, K: 4096, N: 6144 };
    const r = report(
      [
        result('linear', 'M4096 K4096 N6144', gemm, 100, { model: 'Llama-3-8B qkv', tflops: 310 }),
        result('linear', 'M4096 K4096 N6144 tile B', gemm, 900, { model: 'Llama-3-8B qkv', tflops: 10 }),
        result('decode_attention', attnShape, attn, 100),
        result('decode_attention', `${attnShape} GW2`, attn, 400),
        result('decode_attention', `${attnShape} P256`, attn, 400),
        result('decode_attention', `${attnShape} per-head`, attn, 400),
      ],
      // PyTorch times every case's shape, the tuning ones too.
      ['', ' GW2', ' P256', ' per-head'].map((v) => ({ kernel: 'decode_attention', shape: `${attnShape}${v}`, medianUs: 96 })),
    );
    const t = Object.fromEntries(evaluateTargets(r).map((x) => [x.name, x]));
    expect(t['prefill GEMM throughput'].status).toBe('met');
    expect(t['decode attention vs PyTorch'].status).toBe('met');
  });

  it('a case at or above its bound meets the target', () => {
    const r = report([result('decode_attention', attnShape, attn, 100)], [{ kernel: 'decode_attention', shape: attnShape, medianUs: 96 }]);
    expect(evaluateTargets(r).find((x) => x.name === 'decode attention vs PyTorch')!.status).toBe('met');
  });
});
