// Smoke test of `tknp bench kernels` on the software adapter: the harness validates before
// timing (a wrong kernel is reported invalid and never timed), and the report renders.
import { describe, expect, it } from 'vitest';
import { runBench } from '../../src/bench/harness.js';
import { renderHtml, renderMarkdown } from '../../src/bench/report.js';
import type { BenchSuite } from '../../src/bench/types.js';
import { addSuite } from '../../src/bench/suites/add.js';
import { embeddingSuite } from '../../src/bench/suites/embedding.js';
import { suites } from '../../src/bench/suites/registry.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

const wrongSuite: BenchSuite = {
  name: 'wrong',
  cases: () => [
    {
      kernel: 'wrong',
      shape: 'n=4',
      model: '',
      params: { n: 4 },
      bytes: 16,
      flops: 4,
      async setup() {
        return {
          variant: 'broken',
          run: () => {},
          validate: async () => {
            throw new Error('output differs from the reference');
          },
          destroy: () => {},
        };
      },
    },
  ],
};

describe.skipIf(!gpu)(`bench harness ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it('validates, times and reports; a wrong kernel is never timed', async () => {
    const report = await runBench(gpu!, [addSuite, embeddingSuite, wrongSuite], { sweep: 'small' });
    const ok = report.results.filter((r) => r.status === 'ok');
    expect(ok.map((r) => r.kernel).sort()).toEqual(['add', 'embedding']);
    for (const r of ok) {
      expect(r.medianUs).toBeGreaterThan(0);
      expect(r.gbps).toBeCloseTo(r.bytes / (r.medianUs! * 1e3), 6);
    }
    const wrong = report.results.find((r) => r.kernel === 'wrong')!;
    expect(wrong.status).toBe('invalid');
    expect(wrong.medianUs).toBeUndefined();
    expect(report.peaks.copyGBps).toBeGreaterThan(0);
    const html = renderHtml(report);
    expect(html).toContain('<svg');
    expect(html).toContain('wrong');
    expect(renderMarkdown(report)).toMatch(/\| add \| n=65536 \| flat \|/);
  });

  it('the whole small sweep of every registered kernel validates and times (tknp bench kernels --sweep small)', async () => {
    const report = await runBench(gpu!, suites, { sweep: 'small' });
    const bad = report.results.filter((r) => r.status !== 'ok').map((r) => `${r.kernel} ${r.shape}: ${r.status} ${r.error ?? ''}`);
    expect(bad).toEqual([]);
    expect(new Set(report.results.map((r) => r.kernel)).size).toBeGreaterThanOrEqual(suites.length);
  }, 600_000);

  it('every registered suite declares small-sweep cases with positive bytes', () => {
    for (const s of suites) {
      const cases = s.cases('small');
      expect(cases.length, s.name).toBeGreaterThan(0);
      for (const c of cases) expect(c.bytes, `${s.name} ${c.shape}`).toBeGreaterThan(0);
    }
  });
});
