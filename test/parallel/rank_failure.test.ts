// A rank that dies or hangs mid-generation: the driver fails every request with a clear error
// within the communication timeout, exits non-zero, and leaves no rank process behind.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testGpu, noGpuReason } from '../helpers/gpu.js';

const gpu = await testGpu();
const ROOT = join(import.meta.dirname, '..', '..');
const MODEL = join(ROOT, 'test', 'fixtures', 'models', 'tiny-llama');

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Whether a process still runs (a zombie waiting for a reaper that never comes counts as dead). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function runAndBreak(signal: 'SIGKILL' | 'SIGSTOP'): Promise<{ code: number | null; stderr: string; seconds: number; rankPid: number }> {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'generate', '--model', MODEL, '--tknp', '2', '-n', '100000', '--max-model-len', '1000', '--ignore-eos', '--temperature', '0', '--comm-timeout', '4', '-p', 'a', '-p', 'b', '-p', 'c'],
    { env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // Wait until generation is under way (the start-up summary is printed), then break rank 1.
  const t0 = Date.now();
  while (!stderr.includes('KV capacity per token-parallel rank') && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 1500));
  const [rankPid] = childrenOf(child.pid!);
  expect(rankPid, 'rank 1 process').toBeGreaterThan(0);
  process.kill(rankPid, signal);
  const broke = Date.now();
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, stderr, seconds: (Date.now() - broke) / 1000, rankPid };
}

describe.skipIf(!gpu)(`rank failure ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it('a killed rank fails every request at once and the driver exits', async () => {
    const r = await runAndBreak('SIGKILL');
    expect(r.code).not.toBe(0);
    expect(r.seconds).toBeLessThan(10);
    expect(r.stderr).toMatch(/req-0 failed: .*(rank 1 (exited|disconnected)|PeerLost|RankExited)/);
    expect(r.stderr).toMatch(/req-2 failed/);
    expect(alive(r.rankPid)).toBe(false);
  });

  it('a hung rank fails every request within the communication timeout and is killed', async () => {
    const r = await runAndBreak('SIGSTOP');
    expect(r.code).not.toBe(0);
    expect(r.seconds).toBeLessThan(4 + 10);
    expect(r.stderr).toMatch(/req-1 failed: CommTimeoutError: .*no message from rank 1 within 4000 ms/);
    await new Promise((res) => setTimeout(res, 500));
    expect(alive(r.rankPid)).toBe(false);
  });
});
