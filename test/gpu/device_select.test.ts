// Per-process GPU selection by Vulkan deviceUUID (native-vk-select's layer + src/gpu/device_select.ts).
// The loader reads its environment when the Vulkan instance is created, and the Dawn instance
// lives as long as its process, so every case runs in a child process: the layer's own test
// application (native-vk-select/vk_select_check.c, where cc and make exist) and node children
// running tknp's TypeScript (transpiled by rolldown, which vitest brings).
// Here lavapipe is the only device; on a multi-GPU host the same cases run against each GPU.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceUuidFromEnv, normalizeDeviceUuid, VK_SELECT_LAYER, vkSelectLayerDir } from '../../src/gpu/device_select.js';
import { GpuUnavailableError } from '../../src/gpu/errors.js';
import { rankDevice } from '../../src/parallel/worker.js';
import { Rng } from '../../src/util/rng.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const LAYER_SRC = join(ROOT, 'native-vk-select');
const CHECK = join(LAYER_SRC, 'build/vk_select_check');

const hasTool = (t: string) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0;
// Build the layer and its test application where the sources and a compiler exist (a no-op when
// up to date); a bundle snapshot carries only the built layer, not vk_select_check.
const built = existsSync(join(LAYER_SRC, 'Makefile')) && hasTool('make') && hasTool('cc') ? spawnSync('make', ['-s', '-C', LAYER_SRC, 'all', 'check'], { encoding: 'utf8' }) : undefined;
if (built && built.status !== 0) throw new Error(`make -C native-vk-select failed:\n${built.stderr}`);
const layerDir = vkSelectLayerDir();

/**
 * The environment of every child: the test's, without any selection it may have inherited. Where the
 * layer lives (TKNP_VK_SELECT_DIR, set by the offline bundle) stays, so children find the layer this
 * process found even when `make` above has since built another copy in the tree.
 */
function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(TKNP_VK_(?!SELECT_DIR$)|TKNP_DEVICE_UUID$|VK_INSTANCE_LAYERS$|VK_ADD_LAYER_PATH$|NODEVICE_SELECT$)/.test(k)) delete env[k];
  return { ...env, ...extra };
}

/** The layer on, the way selectVulkanDevice sets it (for the C application and the probe). */
const layerEnv = (uuid: string | undefined, report?: string): Record<string, string> => ({
  VK_ADD_LAYER_PATH: layerDir!,
  VK_INSTANCE_LAYERS: VK_SELECT_LAYER,
  NODEVICE_SELECT: '1',
  ...(uuid !== undefined ? { TKNP_VK_DEVICE_UUID: uuid } : {}),
  ...(report ? { TKNP_VK_SELECT_REPORT: report } : {}),
});

interface CheckOut {
  create: number;
  count: number;
  devices: { uuid: string | null; name: string }[];
  incomplete: number | null;
  groups?: (string | null)[][];
}

function runCheck(api: '1.0' | '1.1', extra: Record<string, string>): { out: CheckOut; stderr: string } {
  const r = spawnSync(CHECK, [api], { env: baseEnv(extra), encoding: 'utf8' });
  expect(r.status, `vk_select_check ${api}: ${r.stderr}`).toBe(0);
  return { out: JSON.parse(r.stdout) as CheckOut, stderr: r.stderr };
}

/** `uuid` with byte `i` changed: the nearest miss. */
function flipByte(uuid: string, i: number, rng: Rng): string {
  const hex = uuid.replace(/-/g, '').split('');
  const old = parseInt(hex[2 * i] + hex[2 * i + 1], 16);
  const b = (old ^ rng.int(1, 255)).toString(16).padStart(2, '0');
  hex[2 * i] = b[0];
  hex[2 * i + 1] = b[1];
  return normalizeDeviceUuid(hex.join(''));
}

describe('UUID parsing (no GPU)', () => {
  it('normalises the nvidia-smi, CUDA and bare forms and rejects anything else', () => {
    const want = '6d657361-3235-2e30-2e37-2d327e627000';
    for (const form of [want, want.toUpperCase(), `GPU-${want}`, `gpu-${want.toUpperCase()}`, want.replace(/-/g, ''), ` ${want} `]) expect(normalizeDeviceUuid(form)).toBe(want);
    for (const bad of ['', 'zz', want.slice(1), `${want}0`, `MIG-${want}`, want.replace('6', 'g')]) expect(() => normalizeDeviceUuid(bad)).toThrow(GpuUnavailableError);
  });

  it('reads TKNP_DEVICE_UUID as one UUID or a list indexed by the local rank', () => {
    const rng = new Rng(7);
    const uuids = Array.from({ length: 5 }, () => normalizeDeviceUuid(Array.from({ length: 32 }, () => rng.int(0, 15).toString(16)).join('')));
    expect(deviceUuidFromEnv(3, { TKNP_DEVICE_UUID: uuids[0] })).toBe(uuids[0]);
    for (let r = 0; r < 5; r++) expect(deviceUuidFromEnv(r, { TKNP_DEVICE_UUID: uuids.map((u) => `GPU-${u}`).join(', ') })).toBe(uuids[r]);
    expect(() => deviceUuidFromEnv(5, { TKNP_DEVICE_UUID: uuids.join(',') })).toThrow(/lists 5 UUIDs but the local rank is 5/);
    for (const none of [undefined, '', 'none']) expect(deviceUuidFromEnv(0, { TKNP_DEVICE_UUID: none })).toBeUndefined();
    expect(deviceUuidFromEnv(1, { TKNP_DEVICE_UUID: `${uuids[0]},none` })).toBeUndefined();
  });

  it('gives a rank the TKNP_DEVICE_UUID entry of its LOCAL_RANK, and nothing without CUDA devices', () => {
    const env = { rank: 1, worldSize: 2, localRank: 1, masterAddr: '127.0.0.1', masterPort: 1, source: 'torchrun' as const };
    const a = '00112233-4455-6677-8899-aabbccddeeff';
    const b = 'ffeeddcc-bbaa-9988-7766-554433221100';
    expect(rankDevice(env, { TKNP_DEVICE_UUID: `${a},GPU-${b.toUpperCase()}` }).uuid).toBe(b);
    expect(rankDevice(env, { TKNP_DEVICE_UUID: 'none' }).uuid).toBeUndefined();
    // This machine has no CUDA driver (or one GPU): no selection, and the reason says why.
    const cudaCount = rankDevice(env, {}).cuda ? 1 : 0;
    if (cudaCount === 0) expect(rankDevice(env, {})).toMatchObject({ uuid: undefined, reason: expect.stringMatching(/CUDA/) });
  });
});

describe.skipIf(!built || !layerDir)('the layer under a plain Vulkan application', () => {
  let devices: CheckOut['devices'] = [];
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tknp-vk-select-test-'));
    devices = runCheck('1.1', {}).out.devices;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('changes nothing without a UUID, for Vulkan 1.0 and 1.1 applications', () => {
    expect(devices.length).toBeGreaterThan(0);
    const plain10 = runCheck('1.0', {}).out;
    for (const api of ['1.0', '1.1'] as const) {
      const { out, stderr } = runCheck(api, layerEnv(undefined));
      expect(out).toEqual(api === '1.0' ? plain10 : runCheck('1.1', {}).out);
      expect(stderr).toBe('');
    }
  });

  it('keeps exactly the device with the UUID, in enumeration and groups, with VK_INCOMPLETE when the array is short', () => {
    for (const [i, d] of devices.entries()) {
      for (const form of [d.uuid!, `GPU-${d.uuid!.toUpperCase()}`]) {
        const { out } = runCheck('1.1', layerEnv(form));
        expect(out.devices).toEqual([d]);
        expect(out.groups).toEqual([[d.uuid]]);
        expect(out.incomplete).toBe(5);
        // An application without Vulkan 1.1 or the properties2 extension: the layer enables it itself.
        expect(runCheck('1.0', layerEnv(form)).out.devices.map((x) => x.name)).toEqual([d.name]);
      }
      expect(i).toBeLessThan(devices.length);
    }
  });

  it('hides every device when one byte of the UUID differs, and reports what it saw', () => {
    const rng = new Rng(1234);
    const d = devices[0];
    for (let i = 0; i < 16; i++) {
      const wrong = flipByte(d.uuid!, i, rng);
      if (devices.some((x) => x.uuid === wrong)) continue;
      const report = join(dir, `report-${i}.txt`);
      const { out, stderr } = runCheck(i % 2 ? '1.0' : '1.1', { ...layerEnv(wrong, report), TKNP_VK_SELECT_DEBUG: '1' });
      expect(out).toMatchObject({ create: 0, count: 0, devices: [], incomplete: null });
      if (out.groups) expect(out.groups).toEqual([]);
      expect(stderr.split(`[tknp vk_select] want ${wrong}: kept 0 of ${devices.length} device(s)\n`).length).toBe(2);
      expect(stderr).toContain(`hide device 0: ${d.name} uuid ${d.uuid}`);
      const lines = readFileSync(report, 'utf8').trim().split('\n');
      expect(lines.slice(0, 2)).toEqual(['tknp-vk-select 1', `want ${wrong}`]);
      expect(lines.slice(2).map((l) => l.split(' ').slice(0, 3).join(' '))).toEqual(devices.map((x) => `device 0 ${x.uuid}`));
    }
  });

  it('hides every device for a malformed UUID, saying so', () => {
    const { out, stderr } = runCheck('1.1', layerEnv('GPU-not-a-uuid'));
    expect(out.count).toBe(0);
    expect(stderr.split("TKNP_VK_DEVICE_UUID='GPU-not-a-uuid' is not a UUID").length).toBe(2); // said once
  });
});

// ---- tknp itself, in node children ----

const rolldownUtils = pathToFileURL(createRequire(join(ROOT, 'package.json')).resolve('rolldown/utils')).href;
/** Module hooks: .ts sources transpiled by rolldown; `./x.js` imports from .ts files resolve to `./x.ts`. */
const HOOKS = `
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { transformSync } from ${JSON.stringify(rolldownUtils)};
export async function resolve(spec, ctx, next) {
  if (ctx.parentURL?.endsWith('.ts') && spec.startsWith('.') && spec.endsWith('.js')) {
    const url = new URL(spec, ctx.parentURL);
    if (!existsSync(fileURLToPath(url))) return next(url.href.replace(/\\.js$/, '.ts'), ctx);
  }
  return next(spec, ctx);
}
export async function load(url, ctx, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, ctx);
  const path = fileURLToPath(url);
  const out = transformSync(path, readFileSync(path, 'utf8'), { lang: 'ts', sourceType: 'module' });
  if (out.errors.length) throw new Error(path + ': ' + out.errors.map((e) => e.message).join('; '));
  return { format: 'module', source: out.code, shortCircuit: true };
}`;

/** The child: Gpu.create with TEST_OPTS (JSON), a round trip through the device, then what was selected. */
const CHILD = `
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(process.env.TEST_HOOKS));
const src = (p) => new URL('src/' + p, 'file://' + process.env.TEST_ROOT + '/').href;
const { Gpu } = await import(src('gpu/gpu.ts'));
const ds = await import(src('gpu/device_select.ts'));
const worker = await import(src('parallel/worker.ts'));
const opts = JSON.parse(process.env.TEST_OPTS ?? '{}');
const out = {};
const attempt = (f) => { try { f(); return 'ok'; } catch (e) { return { name: e.name, message: e.message }; } };
try {
  const rank = process.env.TEST_LOCAL_RANK ? worker.rankDevice({ rank: 0, worldSize: 2, localRank: Number(process.env.TEST_LOCAL_RANK), masterAddr: '', masterPort: 0, source: 'torchrun' }) : undefined;
  const gpu = await Gpu.create(rank ? { ...opts, deviceUuid: rank.uuid } : opts);
  out.describe = gpu.describe();
  const t = gpu.upload(Uint32Array.from([7, 11, 13]), [3], 'u32');
  out.read = Array.from(await gpu.read(t));
  if (rank) out.rankLine = worker.describeRankDevice(rank);
  gpu.destroy();
} catch (e) {
  out.error = { name: e.name, message: e.message };
}
out.selected = ds.selectedDeviceUuid() ?? null;
out.vulkan = ds.selectedVulkanDevice() ?? null;
out.selection = ds.vulkanSelection() ?? null;
out.env = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(VK_|TKNP_VK_|NODEVICE_SELECT$)/.test(k)));
if (process.env.TEST_RESELECT) {
  out.reselectSame = attempt(() => ds.selectVulkanDevice(process.env.TEST_RESELECT));
  out.reselectNone = attempt(() => ds.selectVulkanDevice(undefined));
  out.reselectOther = attempt(() => ds.selectVulkanDevice('0'.repeat(32)));
}
console.log(JSON.stringify(out));
process.exit(0);`;

interface ChildOut {
  describe?: string;
  read?: number[];
  rankLine?: string;
  error?: { name: string; message: string };
  selected: string | null;
  vulkan: { uuid: string; name: string; kept: boolean; pciBusId?: string } | null;
  selection: { want?: string; devices: { uuid: string; kept: boolean; name: string }[] } | null;
  env: Record<string, string>;
  reselectSame?: unknown;
  reselectNone?: unknown;
  reselectOther?: { name: string; message: string } | 'ok';
}

function child(extra: Record<string, string>): Promise<ChildOut> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', CHILD], {
      env: baseEnv({ TEST_HOOKS: HOOKS, TEST_ROOT: ROOT, ...extra }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code, signal) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) reject(new Error(`child exited ${signal ?? code}: ${stderr}\n${stdout}`));
      else resolve(JSON.parse(last) as ChildOut);
    });
  });
}

describe.skipIf(!layerDir)('tknp on the selected device (child processes)', () => {
  let plain: ChildOut;
  let uuid: string;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tknp-vk-select-test-'));
    // Unchanged behaviour, and the probe: the layer loaded without a UUID reports what it sees.
    const report = join(dir, 'probe.txt');
    const [p, probe] = await Promise.all([child({}), child(layerEnv(undefined, report))]);
    plain = p;
    expect(probe.error).toBeUndefined();
    const lines = readFileSync(report, 'utf8').trim().split('\n');
    expect(lines[1]).toBe('want none');
    uuid = lines[2].split(' ')[2];
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('without TKNP_DEVICE_UUID: no layer, no environment change, the usual adapter', () => {
    if (plain.error) expect.fail(`no adapter on this machine: ${plain.error.message}`);
    expect(plain.read).toEqual([7, 11, 13]);
    expect(plain).toMatchObject({ selected: null, vulkan: null, selection: null });
    expect(plain.env).toEqual(Object.fromEntries(Object.entries(baseEnv()).filter(([k]) => /^(VK_|TKNP_VK_|NODEVICE_SELECT$)/.test(k))));
  });

  it('with the device UUID (option and TKNP_DEVICE_UUID forms): the same adapter, and the layer says it kept that device', async () => {
    const [byOption, byEnv] = await Promise.all([
      child({ TEST_OPTS: JSON.stringify({ deviceUuid: uuid }), TEST_RESELECT: `GPU-${uuid.toUpperCase()}` }),
      child({ TKNP_DEVICE_UUID: `GPU-${uuid.toUpperCase()}` }),
    ]);
    for (const out of [byOption, byEnv]) {
      expect(out.error).toBeUndefined();
      expect(out.read).toEqual([7, 11, 13]);
      expect(out.describe).toBe(plain.describe);
      expect(out.selected).toBe(uuid);
      expect(out.vulkan).toMatchObject({ uuid, kept: true });
      expect(out.selection!.devices.filter((d) => d.kept).map((d) => d.uuid)).toEqual([uuid]);
      expect(out.env).toMatchObject({ TKNP_VK_DEVICE_UUID: uuid, VK_INSTANCE_LAYERS: VK_SELECT_LAYER, VK_ADD_LAYER_PATH: layerDir, NODEVICE_SELECT: '1' });
    }
    // Chosen once per process: the same UUID again (any form) or "no preference" is fine, another throws.
    expect(byOption.reselectSame).toBe('ok');
    expect(byOption.reselectNone).toBe('ok');
    expect(byOption.reselectOther).toMatchObject({ name: 'GpuUnavailableError', message: expect.stringContaining(`already ${uuid}`) });
  });

  it('joins VK_LAYER_PATH where it is set (the loader then ignores VK_ADD_LAYER_PATH)', async () => {
    const out = await child({ TEST_OPTS: JSON.stringify({ deviceUuid: uuid }), VK_LAYER_PATH: dir });
    expect(out.error).toBeUndefined();
    expect(out.vulkan).toMatchObject({ uuid, kept: true });
    expect(out.env.VK_LAYER_PATH).toBe(`${layerDir}:${dir}`);
    expect(out.env.VK_ADD_LAYER_PATH).toBeUndefined();
  });

  it('with a UUID that matches no device: GpuUnavailableError naming it and the devices seen', async () => {
    const wrong = flipByte(uuid, new Rng(99).int(8, 15), new Rng(5)); // past a half-UUID comparison
    const out = await child({ TEST_OPTS: JSON.stringify({ deviceUuid: `GPU-${wrong}` }) });
    expect(out.error?.name).toBe('GpuUnavailableError');
    expect(out.error?.message).toContain(`no Vulkan device has UUID ${wrong}`);
    expect(out.error?.message).toContain(`uuid ${uuid}`);
    expect(out.selection?.devices.every((d) => !d.kept)).toBe(true);
  });

  it('fails instead of running on an unfiltered device when the loader does not load the layer', async () => {
    const out = await child({ TEST_OPTS: JSON.stringify({ deviceUuid: uuid }), VK_LOADER_LAYERS_DISABLE: VK_SELECT_LAYER });
    expect(out.error?.name).toBe('GpuUnavailableError');
    expect(out.error?.message).toContain(`GPU UUID ${uuid} was asked for, but the ${VK_SELECT_LAYER} layer did not run`);
  });

  it("a rank takes its LOCAL_RANK's entry of TKNP_DEVICE_UUID and logs the Vulkan side of it", async () => {
    const wrong = flipByte(uuid, 15, new Rng(3));
    const out = await child({ TKNP_DEVICE_UUID: `${wrong},${uuid}`, TEST_LOCAL_RANK: '1' });
    expect(out.error).toBeUndefined();
    expect(out.selected).toBe(uuid);
    expect(out.rankLine).toMatch(new RegExp(`^GPU: vulkan uuid ${uuid} pci \\S+ \\(selected by TKNP_DEVICE_UUID\\)`));
  });
});

it('finds the built layer (make -C native-vk-select, or bash tools/setup.sh)', () => {
  expect(layerDir, `no ${VK_SELECT_LAYER} build; ${built ? '' : 'no cc/make here'}`).toBeDefined();
  expect(existsSync(join(layerDir!, 'libVkLayer_tknp_vk_select.so'))).toBe(true);
});
