// tools/bench_decode_pytorch.py without a GPU or torch: its pure half's unit tests
// (test/tools/decode_peer_plan_test.py), and the case file `tknp bench decode --list-cases`
// writes read back by its --dry-run, whose bytes must agree with tknp's own model arithmetic.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { presetModelDir } from '../../src/bench/presets.js';
import { parameterCount } from '../../src/loader/model_config.js';
import { readModelConfig } from '../../src/runner/model_runner.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const PEER = join(ROOT, 'tools', 'bench_decode_pytorch.py');
const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const noPython = python.status === 0 ? '' : `python3 not found (${python.error?.message ?? python.stderr})`;
if (noPython) console.warn(`[tknp tests] decode peer tests skipped: ${noPython}`);
const torch = noPython ? { status: 1, stderr: '' } : spawnSync('python3', ['-c', 'import torch'], { encoding: 'utf8' });
const noTorch = noPython || (torch.status === 0 ? '' : 'python3 has no torch (the GPU host has; run there: .bundle/run.sh test test/tools/decode_peer.test.ts)');
if (noTorch && !noPython) console.warn(`[tknp tests] decode peer model test skipped: ${noTorch}`);
const work = mkdtempSync(join(tmpdir(), 'tknp-peer-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const py = (...args: string[]) => spawnSync('python3', args, { cwd: ROOT, encoding: 'utf8' });

describe.skipIf(!!noPython)(`PyTorch decode peer, torch-free parts ${noPython ? `(skipped: ${noPython})` : ''}`, () => {
  it('passes its unit tests (dimensions, Llama 3 rope by hand, fit, warm-up, case-file errors)', () => {
    const r = py(join(ROOT, 'test', 'tools', 'decode_peer_plan_test.py'));
    expect(r.stderr).toMatch(/Ran 10 tests/);
    expect(r.status, r.stderr).toBe(0);
  });

  it('reads the case file of `bench decode --list-cases` and sizes weights and KV as tknp does', () => {
    const cases = join(work, 'cases.json');
    const list = spawnSync('node', [CLI, 'bench', 'decode', '--preset', 'llama-3-8b', '--cases', '1x4096,128x4096,256x1024', '--ttft', '4096', '--list-cases', cases], { encoding: 'utf8' });
    expect(list.status, list.stderr).toBe(0);
    const file = JSON.parse(readFileSync(cases, 'utf8'));
    expect(file.preset).toBe('llama-3-8b');
    expect(file.cases).toEqual([
      { batch: 1, context: 4096 },
      { batch: 128, context: 4096 },
      { batch: 256, context: 1024 },
    ]);
    expect(file.ttft).toBe(4096);
    const plan = py(PEER, '--cases', cases, '--dry-run', '--gpu-memory', '79.6');
    expect(plan.status, plan.stderr).toBe(0);
    const p = JSON.parse(plan.stdout);
    const mc = readModelConfig(presetModelDir('llama-3-8b'));
    expect(p.weightBytes).toBe(2 * parameterCount(mc));
    const kvPerToken = mc.numLayers * 2 * mc.numKvHeads * mc.headDim * 2;
    expect(p.cases.map((c: { kvBytes: number }) => c.kvBytes)).toEqual([4097 * kvPerToken, 128 * 4097 * kvPerToken, 256 * 1025 * kvPerToken]);
    // 79.6 GiB less 14.96 GiB of weights and a 2 GiB margin = 62.64 GiB; a sequence of 4097 slots takes
    // 0.5001 GiB of KV + 0.0009 GiB of step activations: 125 fit.
    expect(p.cases.map((c: { ranBatch: number }) => c.ranBatch)).toEqual([1, 125, 256]);
  });

  it('refuses bad input with a named error and exit status 2', () => {
    const bad = join(work, 'bad.json');
    writeFileSync(bad, JSON.stringify({ config: { hidden_size: 64 }, cases: [{ batch: 1, context: 8 }] }));
    const r = py(PEER, '--cases', bad, '--dry-run');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("bench_decode_pytorch: error: bad.json config: 'num_attention_heads' must be an integer >= 1, got None".replace('bad.json', bad));
    const s = py(PEER, '--cases', bad, '--skip', 'decode,bogus', '--out', join(work, 'x.json'));
    expect(s.status).toBe(2);
    expect(s.stderr).toContain('--skip: unknown part(s) bogus');
  });
});

describe.skipIf(!!noTorch)(`PyTorch decode peer model on the CPU ${noTorch ? `(skipped: ${noTorch})` : ''}`, () => {
  it('the GQA-group-as-query-rows step equals a repeat_interleave reference; the eager prefill runs', () => {
    const r = py(join(ROOT, 'test', 'tools', 'decode_peer_model_test.py'));
    expect(r.stderr).toMatch(/Ran 2 tests/);
    expect(r.status, r.stderr).toBe(0);
  }, 120_000);
});
