// tools/quality_table.py (issue 17's quality table, stage quant-quality of tools/gpu_host_run.sh) on
// reports shaped like `tknp bench perplexity --json`'s: Δ perplexity against f16 by hand, targets
// met or missed, and a format without a report showing its log's error line. Python's standard
// library only.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const noPython = python.status === 0 ? '' : `python3 not found (${python.error?.message ?? python.stderr})`;
if (noPython) console.warn(`[tknp tests] quality table tests skipped: ${noPython}`);
const work = mkdtempSync(join(tmpdir(), 'tknp-quality-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const report = (meanNll: number) => ({ source: 'bench/data/heldout_default.u16', model: 'models/default', windows: 86, window: 512, tokens: 44032, meanNll, perplexity: Math.exp(meanNll) });

function runTable(dir: string, formats: string, meta?: string) {
  return spawnSync('python3', ['tools/quality_table.py', '--dir', dir, '--formats', formats, ...(meta ? ['--meta', meta] : [])], { encoding: 'utf8' });
}

describe.skipIf(!!noPython)(`tools/quality_table.py ${noPython ? `(skipped: ${noPython})` : ''}`, () => {
  it('rows per format with Δ perplexity vs f16, targets and the error line of a format that did not run', () => {
    // f16 perplexity e^4.2 = 66.686; int8 e^4.205 = 67.021 (+0.501 %: met, ≤ 1 %); int4 e^4.26 = 70.810 (+6.184 %: missed, > 5 %).
    writeFileSync(join(work, 'ppl_none.json'), JSON.stringify(report(4.2)));
    writeFileSync(join(work, 'ppl_int8.json'), JSON.stringify(report(4.205)));
    writeFileSync(join(work, 'ppl_int4.json'), JSON.stringify(report(4.26)));
    writeFileSync(join(work, 'ppl_w8a8.log'), 'loading weights\nEngineConfigError: quantization: must be none, int8 or int4, got "w8a8"\n');
    writeFileSync(join(work, 'meta.json'), JSON.stringify({ referenceLoss: 4.2153 }));
    const r = runTable(work, 'none int8 int4 w8a8', join(work, 'meta.json'));
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| format'));
    expect(rows).toEqual([
      '| transformers float32 (reference, all windows) | 4.2153 | 67.714 | | | |',
      '| f16 (none) | 4.2000 | 66.686 |  |  | reference |',
      '| int8 | 4.2050 | 67.021 | +0.50 % | ≤ +1 % | met |',
      '| int4 | 4.2600 | 70.810 | +6.18 % | ≤ +5 % | MISSED |',
      '| w8a8 | EngineConfigError: quantization: must be none, int8 or int4, got "w8a8" | | |  | not run |',
    ]);
    expect(r.stdout).toContain('86 windows × 512 = 44032 predicted tokens');
  });

  it('a run over the first N windows is compared with the float32 loss of those N windows', () => {
    // windowLosses 4, 5, 6, 7: the first 2 average 4.5 (perplexity e^4.5 = 90.017), not referenceLoss.
    const dir = mkdtempSync(join(work, 'firstn-'));
    writeFileSync(join(dir, 'ppl_none.json'), JSON.stringify({ ...report(4.5), windows: 2, tokens: 1024 }));
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ referenceLoss: 5.5, windowLosses: [4, 5, 6, 7] }));
    const r = runTable(dir, 'none', join(dir, 'meta.json'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('| transformers float32 (reference, first 2 windows) | 4.5000 | 90.017 | | | |');
  });

  it('without an f16 report there is nothing to compare with; a format without log says so', () => {
    const dir = mkdtempSync(join(work, 'nof16-'));
    writeFileSync(join(dir, 'ppl_int8.json'), JSON.stringify(report(4.3)));
    writeFileSync(join(dir, 'ppl_none.log'), 'Unknown argument: quantization\n');
    const r = runTable(dir, 'none int8 int4');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('| f16 (none) | Unknown argument: quantization | | |  | not run |');
    expect(r.stdout).toContain('| int8 | 4.3000 | 73.700 |  | ≤ +1 % | no f16 run to compare |');
    expect(r.stdout).toContain('| int4 | no report and no log (ppl_int4.log) | | | ≤ +5 % | not run |');
  });
});
