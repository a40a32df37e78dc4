// The offline bundle (tools/bundle.ts, tools/bundle/run.sh): dependency selection over
// package-lock.json, and the launcher's behaviour on a small fake bundle whose "node" is a shell
// script that records its arguments and environment (no real node, xz or GPU involved).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { compressFile, hasXz, sha256File, tarFiles, type Compression } from '../../tools/bundle/archive.js';
import { bundleRoots, dependencyClosure, keepFile, platformMatches, resolveInLock, type Lockfile } from '../../tools/bundle/deps.js';
import { bundleEnv, bundleId, sizeBreakdown } from '../../tools/bundle/manifest.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const work = mkdtempSync(join(tmpdir(), 'tknp-bundle-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('dependency closure', () => {
  const lock: Lockfile = {
    lockfileVersion: 3,
    packages: {
      '': { dependencies: { a: '1', b: '1' } },
      'node_modules/a': { dependencies: { c: '2' }, peerDependencies: { p: '1', q: '1' }, peerDependenciesMeta: { q: { optional: true } } },
      'node_modules/a/node_modules/c': { version: '2.0.0' },
      'node_modules/b': { dependencies: { c: '1' }, optionalDependencies: { 'b-linux-x64-gnu': '1', 'b-linux-x64-musl': '1', 'b-darwin-arm64': '1', 'b-not-win': '1', fsevents: '1' } },
      'node_modules/b-linux-x64-gnu': { os: ['linux'], cpu: ['x64'], libc: ['glibc'] },
      'node_modules/b-linux-x64-musl': { os: ['linux'], cpu: ['x64'], libc: ['musl'] },
      'node_modules/b-darwin-arm64': { os: ['darwin'], cpu: ['arm64'] },
      'node_modules/b-not-win': { os: ['!win32'] },
      'node_modules/c': { version: '1.0.0' },
      'node_modules/p': {},
      'node_modules/q': {},
      'node_modules/unused': {},
    },
  };

  it('resolves like Node: the nearest node_modules first, then up the tree', () => {
    expect(resolveInLock(lock, 'node_modules/a', 'c')).toBe('node_modules/a/node_modules/c');
    expect(resolveInLock(lock, 'node_modules/b', 'c')).toBe('node_modules/c');
    expect(resolveInLock(lock, 'node_modules/a/node_modules/c', 'p')).toBe('node_modules/p');
    expect(resolveInLock(lock, '', 'nope')).toBeUndefined();
  });

  it('keeps required deps, required peers and optional deps built for linux-x64-glibc only', () => {
    expect(dependencyClosure(lock, ['a', 'b'])).toEqual(
      ['node_modules/a', 'node_modules/a/node_modules/c', 'node_modules/b', 'node_modules/b-linux-x64-gnu', 'node_modules/b-not-win', 'node_modules/c', 'node_modules/p'].sort(),
    );
    expect(platformMatches({ os: ['!win32'] }, { os: 'win32', cpu: 'x64', libc: 'glibc' })).toBe(false);
  });

  it('throws when a required dependency is missing from the lock', () => {
    const broken: Lockfile = { lockfileVersion: 3, packages: { ...lock.packages, 'node_modules/p': undefined as never } };
    expect(() => dependencyClosure(broken, ['a'])).toThrow(/'p'.*not in the lock/);
  });

  it("selects this project's packages for the GPU host from the real package-lock.json", () => {
    const real = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as Lockfile;
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: object; devDependencies: object };
    const keys = dependencyClosure(real, bundleRoots(pkg));
    for (const k of ['webgpu', 'ws', 'yargs', 'vitest', 'vite', '@rolldown/binding-linux-x64-gnu']) expect(keys).toContain(`node_modules/${k}`);
    expect(keys).not.toContain('node_modules/typescript');
    expect(keys.filter((k) => /darwin|win32|android|freebsd|musl|arm64|wasm/.test(k))).toEqual([]);
    const withTsc = dependencyClosure(real, bundleRoots(pkg, true));
    for (const k of ['typescript', '@types/node']) expect(withTsc).toContain(`node_modules/${k}`);
    expect(keepFile('node_modules/webgpu/dist/linux-x64/dawn.node')).toBe(true);
    expect(keepFile('node_modules/webgpu/dist/win32-x64/dawn.node')).toBe(false);
    expect(keepFile('node_modules/webgpu/dist/darwin-universal/dawn.node')).toBe(false);
    expect(keepFile('node_modules/.bin/vitest')).toBe(false);
    expect(keepFile('node_modules/lightningcss-linux-x64-gnu/lightningcss.linux-x64-gnu.node')).toBe(false);
    expect(keepFile('node_modules/@rolldown/binding-linux-x64-gnu/rolldown-binding.linux-x64-gnu.node')).toBe(true);
    // Source maps and docs never load; licences stay; type declarations only for tsc.
    expect(['vite/dist/node/index.js.map', 'vite/README.md', 'vite/LICENSE.md', 'ws/index.js'].map((f) => keepFile(`node_modules/${f}`))).toEqual([false, false, true, true]);
    expect(['chai/index.d.ts', 'vite/dist/node/index.d.mts', '@types/node/fs.d.ts'].map((f) => [keepFile(`node_modules/${f}`), keepFile(`node_modules/${f}`, true)])).toEqual([
      [false, true],
      [false, true],
      [false, true],
    ]);
  });

  it('groups sizes by folder, package and native binary', () => {
    const g = sizeBreakdown([
      { path: 'dist/src/a.js', bytes: 3 },
      { path: 'dist/b.js', bytes: 4 },
      { path: 'node_modules/@x/y/index.js', bytes: 5 },
      { path: 'node_modules/@x/y/lib/z.js', bytes: 6 },
      { path: 'node_modules/w/w.node', bytes: 100 },
      { path: 'package.json', bytes: 1 },
    ]);
    expect(g).toEqual({ 'node_modules/w/w.node (native)': 100, 'node_modules/@x/y': 11, 'dist/': 7, 'top-level files': 1 });
  });
});

// ---- run.sh on a fake bundle ----------------------------------------------------------------

const FAKE_NODE = `#!/bin/sh
{ echo "cwd=$PWD"; echo "VK_DRIVER_FILES=\${VK_DRIVER_FILES:-}"; echo "XDG_RUNTIME_DIR=\${XDG_RUNTIME_DIR:-}"
  echo "LD_LIBRARY_PATH=\${LD_LIBRARY_PATH:-}"; for a in "$@"; do echo "arg=$a"; done; } > "$FAKE_NODE_LOG"
exit \${FAKE_NODE_EXIT:-0}
`;

interface Fake {
  readonly dir: string;
  readonly id: string;
}

let fakes = 0;
function makeBundle(kind: Compression, debs: readonly string[] = [], lean = false): Fake {
  const base = join(work, `b${fakes++}`);
  const app = join(base, 'src');
  const dir = join(base, 'bundle');
  for (const d of ['dist/src/cli', 'node_modules/vitest', 'node_modules/typescript/bin']) mkdirSync(join(app, d), { recursive: true });
  const files = ['dist/src/cli/main.js', 'node_modules/vitest/vitest.mjs', 'node_modules/typescript/bin/tsc', 'package.json'];
  for (const f of files) writeFileSync(join(app, f), `// ${f}\n`);
  mkdirSync(join(dir, 'debs'), { recursive: true });
  writeFileSync(join(base, 'node'), FAKE_NODE);
  compressFile(join(base, 'node'), join(dir, `node.${kind}`), kind);
  tarFiles(app, files, join(dir, `app.tar.${kind}`), kind);
  for (const d of debs) copyFileSync(d, join(dir, 'debs', d.replace(/^.*\//, '')));
  const node = { file: `node.${kind}`, sha256: sha256File(join(dir, `node.${kind}`)), version: 'v0-fake' };
  const appInfo = { file: `app.tar.${kind}`, sha256: sha256File(join(dir, `app.tar.${kind}`)) };
  const id = bundleId([node.sha256, appInfo.sha256, `${fakes}`]);
  writeFileSync(join(dir, 'bundle.env'), bundleEnv({ id, node, app: appInfo, lean } as Parameters<typeof bundleEnv>[0]));
  copyFileSync(join(root, 'tools/bundle/run.sh'), join(dir, 'run.sh'));
  chmodSync(join(dir, 'run.sh'), 0o755);
  return { dir, id };
}

interface Launch {
  readonly status: number | null;
  readonly stderr: string;
  /** What the fake node saw: cwd, env values, and its args in order. */
  readonly seen: { cwd: string; env: Record<string, string>; args: string[] };
}

function parseLog(log: string): Launch['seen'] {
  const seen = { cwd: '', env: {} as Record<string, string>, args: [] as string[] };
  if (!existsSync(log)) return seen;
  for (const line of readFileSync(log, 'utf8').split('\n').filter(Boolean)) {
    const i = line.indexOf('=');
    const [k, v] = [line.slice(0, i), line.slice(i + 1)];
    if (k === 'arg') seen.args.push(v);
    else if (k === 'cwd') seen.cwd = v;
    else seen.env[k] = v;
  }
  return seen;
}

let launches = 0;
function launchEnv(fake: Fake, env: Record<string, string>, log: string): Record<string, string> {
  return { PATH: '/usr/bin:/bin', TKNP_BUNDLE_CACHE: join(work, 'cache'), TKNP_BUNDLE_LIBS: 'none', TKNP_NVIDIA_ICD_FILES: join(work, 'no-icd.json'), FAKE_NODE_LOG: log, ...env };
}

function launch(fake: Fake, args: readonly string[], env: Record<string, string> = {}): Launch {
  const log = join(work, `log${launches++}`);
  const r = spawnSync('bash', [join(fake.dir, 'run.sh'), ...args], { env: launchEnv(fake, env, log), encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr, seen: parseLog(log) };
}

const kinds: Compression[] = hasXz() ? ['gz', 'xz'] : ['gz'];

describe.each(kinds)('run.sh (%s bundle)', (kind) => {
  const fake = makeBundle(kind);
  const appDir = () => realpathSync(join(work, 'cache', fake.id, 'app'));

  it('runs vitest for `test`, passing its arguments through verbatim', () => {
    const r = launch(fake, ['test', '-t', 'two words', 'test/kernels/add.test.ts', '']);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    expect(r.seen.args).toEqual(['node_modules/vitest/vitest.mjs', 'run', '-t', 'two words', 'test/kernels/add.test.ts', '']);
    expect(realpathSync(r.seen.cwd)).toBe(appDir());
  });

  it('runs the CLI by default, node for `node`, tsc for `tsc`', () => {
    expect(launch(fake, ['generate', '--prompt', 'a "quoted" $HOME']).seen.args).toEqual(['dist/src/cli/main.js', 'generate', '--prompt', 'a "quoted" $HOME']);
    expect(launch(fake, []).seen.args).toEqual(['dist/src/cli/main.js']);
    expect(launch(fake, ['node', '-e', 'x', 'dist/bench/run.js']).seen.args).toEqual(['-e', 'x', 'dist/bench/run.js']);
    expect(launch(fake, ['tsc', '-p', 'tsconfig.json']).seen.args).toEqual(['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']);
    expect(launch(fake, ['--', '--tree', 'x']).seen.args).toEqual(['dist/src/cli/main.js', '--tree', 'x']);
  });

  it("propagates the command's exit code", () => {
    for (const code of [1, 3, 77]) expect(launch(fake, ['test'], { FAKE_NODE_EXIT: `${code}` }).status).toBe(code);
  });

  it('points the loader at the first NVIDIA ICD that exists, unless the environment already chose', () => {
    const icd = join(work, `nvidia_icd_${kind}.json`);
    writeFileSync(icd, '{}');
    const r = launch(fake, ['x'], { TKNP_NVIDIA_ICD_FILES: `${join(work, 'missing.json')}:${icd}` });
    expect(r.seen.env.VK_DRIVER_FILES).toBe(icd);
    expect(r.stderr.split('\n').filter((l) => l.includes('Vulkan driver:'))).toEqual([`[tknp bundle] Vulkan driver: ${icd} (VK_DRIVER_FILES)`]);
    const own = launch(fake, ['x'], { TKNP_NVIDIA_ICD_FILES: icd, VK_DRIVER_FILES: '/mine.json' });
    expect(own.seen.env.VK_DRIVER_FILES).toBe('/mine.json');
    expect(own.stderr).toMatch(/Vulkan driver: \/mine.json \(VK_DRIVER_FILES from the environment\)/);
    expect(launch(fake, ['x']).seen.env.VK_DRIVER_FILES).toBe('');
  });

  it('runs a --lean bundle (no project inside) only with --tree, and refuses tsc where typescript is missing', () => {
    const lean = makeBundle(kind, [], true);
    const refused = launch(lean, ['test']);
    expect([refused.status, refused.seen.args]).toEqual([125, []]);
    expect(refused.stderr).toMatch(/--lean bundle carries node and node_modules only, no project: run it as run.sh --tree DIR/);
    expect(existsSync(join(work, 'cache', lean.id))).toBe(false); // refused before unpacking
    const tree = join(work, `lean-tree-${kind}`);
    mkdirSync(tree);
    const inTree = launch(lean, ['--tree', tree, 'test', 'a.test.ts']);
    expect([inTree.status, inTree.seen.args]).toEqual([0, ['node_modules/vitest/vitest.mjs', 'run', 'a.test.ts']]);
    expect(launch(fake, ['x']).stderr).not.toMatch(/--lean/);
    rmSync(join(work, 'cache', fake.id, 'app/node_modules/typescript'), { recursive: true });
    const r = launch(fake, ['tsc']);
    expect([r.status, r.seen.args]).toEqual([125, []]);
    expect(r.stderr).toMatch(/no typescript/);
  });

  it('gives the command a writable XDG_RUNTIME_DIR', () => {
    const xdg = launch(fake, ['x']).seen.env.XDG_RUNTIME_DIR;
    expect(xdg).toBe(join(work, 'cache', 'xdg-runtime'));
    expect(existsSync(xdg)).toBe(true);
    expect(launch(fake, ['x'], { XDG_RUNTIME_DIR: work }).seen.env.XDG_RUNTIME_DIR).toBe(work);
  });

  it('runs in another project tree with --tree, linking the bundled node_modules there', () => {
    const tree = join(work, `tree-${kind}`);
    mkdirSync(tree);
    const r = launch(fake, ['--tree', tree, 'test', 'a.test.ts']);
    expect(r.status).toBe(0);
    expect(realpathSync(r.seen.cwd)).toBe(realpathSync(tree));
    expect(readlinkSync(join(tree, 'node_modules'))).toBe(join(appDir(), 'node_modules'));
    expect(launch(fake, ['--tree', join(work, 'nowhere'), 'x']).status).toBe(125);
  });

  it('refuses a corrupt bundle before unpacking it', () => {
    const bad = makeBundle(kind);
    writeFileSync(join(bad.dir, `app.tar.${kind}`), 'truncated');
    const r = launch(bad, ['test']);
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/corrupt or stale/);
    expect(r.seen.args).toEqual([]);
    // A node archive that passes the checksum but cannot be unpacked leaves no half-unpacked copy.
    const broken = makeBundle(kind);
    writeFileSync(join(broken.dir, `node.${kind}`), 'not compressed');
    const env = readFileSync(join(broken.dir, 'bundle.env'), 'utf8').replace(/NODE_SHA256=\w+/, `NODE_SHA256=${sha256File(join(broken.dir, `node.${kind}`))}`);
    writeFileSync(join(broken.dir, 'bundle.env'), env);
    const u = launch(broken, ['test']);
    expect(u.status).not.toBe(0);
    expect(readdirSync(join(work, 'cache')).filter((f) => f.includes(broken.id))).toEqual([`.lock-${broken.id}`]);
  });
});

describe('run.sh unpacking and loader packages', () => {
  it('unpacks once when several launches start together (one per GPU)', async () => {
    const fake = makeBundle('gz');
    const results = await Promise.all(
      [0, 1, 2, 3].map(
        (i) =>
          new Promise<{ code: number | null; err: string }>((done) => {
            const env = launchEnv(fake, { TKNP_BUNDLE_CACHE: join(work, 'cache-par') }, join(work, `par${i}`));
            const p = spawn('bash', [join(fake.dir, 'run.sh'), 'x', `${i}`], { env, stdio: ['ignore', 'ignore', 'pipe'] });
            let err = '';
            p.stderr.on('data', (d: Buffer) => (err += d.toString()));
            p.on('close', (code) => done({ code, err }));
          }),
      ),
    );
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    expect(results.map((r) => r.err).join('').match(/unpacking bundle/g)).toHaveLength(1);
    for (const i of [0, 1, 2, 3]) expect(parseLog(join(work, `par${i}`)).args).toEqual(['dist/src/cli/main.js', 'x', `${i}`]);
  });

  const dpkg = spawnSync('dpkg-deb', ['--version']).status === 0;
  it.skipIf(!dpkg)('unpacks the loader packages ldconfig lacks into a private dir on LD_LIBRARY_PATH, and only those', () => {
    // A stand-in libvulkan1 (never installed anywhere but the test's cache: TKNP_BUNDLE_LIBS=private).
    const pkgDir = join(work, 'fakevulkan');
    mkdirSync(join(pkgDir, 'DEBIAN'), { recursive: true });
    mkdirSync(join(pkgDir, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
    writeFileSync(join(pkgDir, 'DEBIAN/control'), 'Package: libvulkan1\nVersion: 9.9\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: test\n');
    writeFileSync(join(pkgDir, 'usr/lib/x86_64-linux-gnu/libvulkan.so.1'), 'x');
    const deb = join(work, 'libvulkan1_9.9_amd64.deb');
    expect(spawnSync('dpkg-deb', ['--root-owner-group', '-b', pkgDir, deb]).status).toBe(0);
    const fake = makeBundle('gz', [deb]);
    const libDir = join(work, 'cache', fake.id, 'sysroot/usr/lib/x86_64-linux-gnu');

    // ldconfig that lists the library first, then a long tail (grep -q would stop reading early).
    const listing = join(work, 'ldconfig-has');
    writeFileSync(listing, '#!/bin/sh\nprintf "\\tlibvulkan.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libvulkan.so.1\\n"\nseq 1 200000 | sed "s/^/\\tlibfiller/"\n');
    chmodSync(listing, 0o755);
    const present = launch(fake, ['x'], { TKNP_BUNDLE_LIBS: 'private', TKNP_LDCONFIG: listing, LD_LIBRARY_PATH: '/keep' });
    expect(present.status).toBe(0);
    expect(present.seen.env.LD_LIBRARY_PATH).toBe('/keep');
    expect(existsSync(libDir)).toBe(false);

    const r = launch(fake, ['x'], { TKNP_BUNDLE_LIBS: 'private', TKNP_LDCONFIG: '/bin/true', LD_LIBRARY_PATH: '/keep' });
    expect(r.status).toBe(0);
    expect(r.seen.env.LD_LIBRARY_PATH).toBe(`${libDir}:/keep`);
    expect(existsSync(join(libDir, 'libvulkan.so.1'))).toBe(true);
    expect(r.stderr).toMatch(/private Vulkan loader packages: libvulkan1/);
    expect(launch(fake, ['x'], { TKNP_BUNDLE_LIBS: 'bogus' }).status).toBe(125);
  });
});
