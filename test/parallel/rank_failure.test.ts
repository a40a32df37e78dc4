// A rank that dies or hangs mid-generation: the driver fails every request with a clear error
// within the communication timeout, exits non-zero, and leaves no rank process behind. The
// other way round: when the driver (rank 0) is killed with SIGKILL (so it cannot clean up),
// every other rank of `generate` and `serve` exits by itself within --comm-timeout. While the
// job runs, every listening socket of its processes is on loopback (a one-machine job).
import { spawn, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
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

/** Local addresses (ip:port) of the TCP sockets process `pid` listens on (from /proc). */
function listeningAddresses(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const out: string[] = [];
  for (const file of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${file}`, 'utf8').trim().split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== '0A' || !inodes.has(f[9])) continue; // 0A = LISTEN
      const [hex, port] = f[1].split(':');
      const ip = hex.length === 8 ? hex.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join('.') : `[${hex}]`;
      out.push(`${ip}:${parseInt(port, 16)}`);
    }
  }
  return out;
}

/** Starts a tknp command with `--tknp 2`, waits for `ready` on stderr, SIGKILLs the driver and returns how its ranks ended. */
async function killDriver(args: string[], ready: RegExp, commTimeoutS: number): Promise<{ listeners: string[]; rankPids: number[]; leftAlive: number[]; stderr: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'cli', 'main.js'), ...args, '--model', MODEL, '--tknp', '2', '--comm-timeout', String(commTimeoutS)], {
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const t0 = Date.now();
  while (!ready.test(stderr) && child.exitCode === null && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 100));
  expect(stderr, 'the job started').toMatch(ready);
  const rankPids = childrenOf(child.pid!);
  expect(rankPids.length, 'rank 1 process').toBe(1);
  const listeners = [child.pid!, ...rankPids].flatMap(listeningAddresses);
  child.kill('SIGKILL');
  // Every rank must be gone within --comm-timeout (polled; a little slack for process exit).
  const deadline = Date.now() + commTimeoutS * 1000 + 2000;
  while (rankPids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return { listeners, rankPids, leftAlive: rankPids.filter(alive), stderr };
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

  it.each([
    ['generate', ['generate', '-n', '100000', '--max-model-len', '1000', '--ignore-eos', '--temperature', '0', '-p', 'a'], /KV capacity per token-parallel rank/],
    ['serve', ['serve', '--port', '0'], /listening on http:/],
  ])('%s: rank 0 killed with SIGKILL: every other rank exits within --comm-timeout; listeners were on loopback only', async (_name, args, ready) => {
    const r = await killDriver(args as string[], ready as RegExp, 3);
    for (const pid of r.leftAlive) process.kill(pid, 'SIGKILL'); // never leave one behind, even when failing
    expect(r.leftAlive, `ranks still running after --comm-timeout:\n${r.stderr}`).toEqual([]);
    expect(r.listeners.length).toBeGreaterThanOrEqual(3); // the store, two rank meshes (and serve's HTTP port)
    for (const a of r.listeners) expect(a, 'a listener off loopback').toMatch(/^127\.0\.0\.1:\d+$/);
  });
});
