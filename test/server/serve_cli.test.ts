// `tknp serve` as a user runs it (dist/src/cli/main.js, built by `npm test`'s setup): the embedded
// default model answers /v1/completions with its reference greedy text (models/default/reference.json),
// and SIGINT shuts the server down cleanly (exit code 0).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { noGpuReason, testGpu } from '../helpers/gpu.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const gpu = await testGpu();

describe.skipIf(!gpu)(`tknp serve (CLI) ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it('serves the embedded model on a free port and stops on SIGINT', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '-q', '--max-num-seqs', '4', '--kv-cache-memory', '0.01'], {
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          const m = /listening on (http:\/\/\S+)/.exec(stderr);
          if (m) resolve(m[1]);
        });
        void exited.then((code) => reject(new Error(`tknp serve exited with ${code}:\n${stderr}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(`${url}/health`)).status).toBe(200);
      const prompt = 'Q: What is the meaning of life?\nA:';
      const ref = JSON.parse(readFileSync(join(ROOT, 'models', 'default', 'reference.json'), 'utf8')) as { prompts: { text: string; greedyTextUntilEos: string }[] };
      const want = ref.prompts.find((p) => p.text === prompt)!.greedyTextUntilEos;
      const r = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: 'default', prompt, max_tokens: 24, temperature: 0 }) });
      expect(r.status).toBe(200);
      const j = (await r.json()) as { choices: { text: string }[]; usage: { prompt_tokens: number } };
      expect(j.choices[0].text.trim()).toBe(want.trim());
      expect(j.usage.prompt_tokens).toBe(13);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stderr).toMatch(/SIGINT: aborting requests and shutting down/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
