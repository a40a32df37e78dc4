// `tknp bench serve` against a real `tknp serve` (tiny-llama) on 127.0.0.1: every request
// completes with exactly the asked token counts, the throughput and latency figures are
// consistent with each other, a max-concurrency run and a Poisson-rate run both complete; the
// CLI, run against `tknp serve --preset tiny --load-format dummy` (no checkpoint), writes its
// table and JSON. The Poisson schedule is checked as a pure function (seeded).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { latencyStats, poissonSchedule, runServeBench, syntheticPrompts, type ServeBenchReport } from '../../src/bench/serve.js';
import { parseRates } from '../../src/cli/bench_serve.js';
import { LLM } from '../../src/engine/llm.js';
import { TknpServer } from '../../src/server/server.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { serverEngineOptions } from '../helpers/server.js';

const gpu = await testGpu();
const ROOT = join(import.meta.dirname, '..', '..');

describe('bench serve: schedule, prompts, statistics', () => {
  it('Poisson arrivals: seeded, increasing, mean gap 1/rate; inf sends everything at once', () => {
    const a = poissonSchedule(4000, 8, new Rng(1));
    expect(poissonSchedule(4000, 8, new Rng(1))).toEqual(a);
    expect(a[0]).toBe(0);
    for (let i = 1; i < a.length; i++) expect(a[i]).toBeGreaterThanOrEqual(a[i - 1]);
    const meanGap = a.at(-1)! / (a.length - 1);
    expect(Math.abs(meanGap - 1 / 8)).toBeLessThan(0.01); // 4000 exponential gaps: sd of the mean ~ 0.002
    expect(poissonSchedule(5, Infinity, new Rng(1))).toEqual([0, 0, 0, 0, 0]);
    expect(() => poissonSchedule(3, 0, new Rng(1))).toThrow(RangeError);
  });

  it('synthetic prompts have the exact length and ids in [10, vocab); rates parse', () => {
    const p = syntheticPrompts(3, 17, 50, new Rng(2));
    expect(p.map((x) => x.length)).toEqual([17, 17, 17]);
    expect(p.flat().every((t) => t >= 10 && t < 50 && Number.isInteger(t))).toBe(true);
    const q = syntheticPrompts(3, 5, 50, new Rng(2), 7);
    expect(q.map((x) => x.length)).toEqual([12, 12, 12]);
    expect(q[1].slice(0, 7)).toEqual(q[0].slice(0, 7));
    expect(q[2].slice(0, 7)).toEqual(q[0].slice(0, 7));
    expect(q[1].slice(7)).not.toEqual(q[0].slice(7));
    expect(parseRates('1, 4.5,inf')).toEqual([1, 4.5, Infinity]);
    expect(() => parseRates('0')).toThrow(/request-rate/);
    expect(latencyStats([4, 1, 3, 2])).toEqual({ mean: 2.5, p50: 3, p90: 4, p99: 4 });
  });
});

describe.skipIf(!gpu)(`bench serve against tknp serve ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  let llm: LLM;
  let server: TknpServer;
  beforeAll(async () => {
    llm = await LLM.create(serverEngineOptions());
    server = await TknpServer.start(llm.engine, { port: 0, log: () => {} });
  });
  afterAll(async () => {
    await server?.close();
    await llm?.shutdown();
  });

  const check = (rep: ServeBenchReport, n: number, inputLen: number, outputLen: number) => {
    for (const r of rep.runs) {
      expect(r.errors).toEqual([]);
      expect([r.completed, r.failed]).toEqual([n, 0]);
      expect(r.totalInputTokens).toBe(n * inputLen);
      expect(r.totalOutputTokens).toBe(n * outputLen);
      expect(r.outputThroughput).toBeCloseTo(r.totalOutputTokens / r.durationS, 6);
      expect(r.requestThroughput).toBeCloseTo(n / r.durationS, 6);
      for (const s of [r.ttftMs, r.tpotMs, r.itlMs, r.e2elMs]) {
        expect(s.p50).toBeGreaterThan(0);
        expect(s.p50).toBeLessThanOrEqual(s.p90);
        expect(s.p90).toBeLessThanOrEqual(s.p99);
      }
      expect(r.ttftMs.p99).toBeLessThanOrEqual(r.e2elMs.p99);
    }
  };

  it('a rate run and a max-concurrency run complete every request with the asked lengths', async () => {
    const rep = await runServeBench({ url: server.url, numPrompts: 6, inputLen: 20, outputLen: 7, requestRates: [40, Infinity], seed: 3 });
    expect(rep.model).toBe('tiny-llama');
    expect(rep.runs.map((r) => r.requestRate)).toEqual([40, 'inf']);
    check(rep, 6, 20, 7);
    // The cap holds on the server side: never more than 2 requests in its loop.
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, server.loop.numActive)), 2);
    const capped = await runServeBench({ url: server.url, numPrompts: 5, inputLen: 9, outputLen: 4, requestRates: [Infinity], maxConcurrency: 2, seed: 4 }).finally(() => clearInterval(watch));
    expect(capped.runs[0].maxConcurrency).toBe(2);
    expect(most).toBeLessThanOrEqual(2);
    expect(most).toBeGreaterThanOrEqual(1);
    check(capped, 5, 9, 4);
  });

  it('a shared prefix: the warm-up caches it, every timed request hits it; cached and computed prefill tokens add up', async () => {
    const rep = await runServeBench({ url: server.url, numPrompts: 4, inputLen: 5, sharedPrefixLen: 40, outputLen: 3, requestRates: [Infinity], maxConcurrency: 1, seed: 5 });
    check(rep, 4, 45, 3);
    const [r] = rep.runs;
    // 45-token prompts: the 2 full blocks of the prefix (32 tokens) come from the cache
    expect([r.numHits, r.totalCachedTokens, r.prefillTokensComputed]).toEqual([4, 4 * 32, 4 * (45 - 32)]);
    expect(r.ttftHitMs!.p50).toBeGreaterThan(0);
    expect(r.ttftMissMs).toBeNull();
    expect(rep.sharedPrefixLen).toBe(40);
  });

  it('the CLI drives `tknp serve --preset tiny --load-format dummy`, prints the table and writes JSON and Markdown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tknp-bench-serve-'));
    const cli = join(ROOT, 'dist', 'src', 'cli', 'main.js');
    const child = spawn(process.execPath, [cli, 'serve', '--preset', 'tiny', '--load-format', 'dummy', '--port', '0', '--kv-cache-memory', '0.01', '--max-model-len', '256'], {
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      let stderr = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          const m = /listening on (http:\/\/\S+)/.exec(stderr);
          if (m) resolve(m[1]);
        });
        child.on('exit', (code) => reject(new Error(`tknp serve exited with ${code}:\n${stderr}`)));
      });
      const { stdout } = await promisify(execFile)(process.execPath, [cli, 'bench', 'serve', '--url', url, '--num-prompts', '3', '--input-len', '8', '--output-len', '3', '--request-rate', '50', '--json', join(dir, 'r.json'), '--markdown', join(dir, 'r.md')]);
      expect(stdout).toMatch(/\| rate \(req\/s\) \|/);
      const rep = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as ServeBenchReport;
      expect(rep.model).toMatch(/^tknp-serve-preset-tiny-/);
      check(rep, 3, 8, 3);
      expect(readFileSync(join(dir, 'r.md'), 'utf8')).toMatch(/^tknp bench serve: tknp-serve-preset-tiny-/);
    } finally {
      child.kill('SIGINT');
    }
  });
});
