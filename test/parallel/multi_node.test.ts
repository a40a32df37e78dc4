// A two-node job started the torchrun way (`--nnodes 2 --node-rank R --master-addr --master-port`),
// both "nodes" on this machine: node 0 runs the engine and its ranks, node 1 only ranks; the
// greedy tokens equal a single-rank run's.
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { noGpuReason, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();
const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const MODEL = join(ROOT, 'test', 'fixtures', 'models', 'tiny-llama');
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function tokens(jsonl: string): number[][] {
  return jsonl.trim().split('\n').map((l) => (JSON.parse(l) as { tokenIds: number[] }).tokenIds);
}

describe.skipIf(!gpu)(`multi-node launch ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it('tp 2 × tknp 2 over two nodes gives the single-rank greedy tokens, and node 1 exits cleanly', async () => {
    const gen = ['generate', '--model', MODEL, '-q', '--json', '-n', '10', '--temperature', '0', '--ignore-eos', '-p', 'Once upon a time', '-p', 'A'];
    const single = await promisify(execFile)(process.execPath, [CLI, ...gen], { env });
    const port = String(await freePort());
    const job = ['--tp', '2', '--tknp', '2', '--nnodes', '2', '--master-addr', '127.0.0.1', '--master-port', port];
    const node1 = spawn(process.execPath, [CLI, 'generate', '--model', MODEL, '-q', ...job, '--node-rank', '1'], { env, stdio: 'ignore' });
    const node1Exit = new Promise<number | null>((resolve) => node1.on('exit', (c) => resolve(c)));
    const node0 = await promisify(execFile)(process.execPath, [CLI, ...gen, ...job, '--node-rank', '0'], { env });
    expect(tokens(node0.stdout)).toEqual(tokens(single.stdout));
    expect(await node1Exit).toBe(0);
  });
});
