// `npm run bundle`: builds .bundle/, everything the offline GPU host (Linux x86-64 with an NVIDIA
// driver, but no node, npm or network) needs to run and test tknp: `bash .bundle/run.sh ...`.
// Layout and use: docs/BUNDLE.md.
//
//   node dist/tools/bundle.js [--lean] [--with-tsc] [--full-icu] [--out DIR] [--gzip] [--refresh-debs] [--max-mib N]
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hasXz, sha256File, stripSharedObject, tarFiles, type Compression } from './bundle/archive.js';
import { debFields, ensureDebs } from './bundle/debs.js';
import { bundleRoots, dependencyClosure, listFiles, nodeModulesFiles, type Lockfile } from './bundle/deps.js';
import { packNode } from './bundle/node_binary.js';
import { bundleEnv, bundleId, sizeBreakdown, type BundleManifest } from './bundle/manifest.js';

interface Options {
  readonly out: string;
  /** node_modules and native builds only: the project comes from the tree of `run.sh --tree DIR`. */
  readonly lean: boolean;
  /** Keep node's ICU data whole (every locale) instead of cutting it to English (icu.ts). */
  readonly fullIcu: boolean;
  /** Add typescript and @types (`run.sh tsc`). */
  readonly withTsc: boolean;
  readonly compression: Compression;
  readonly refreshDebs: boolean;
  readonly maxMiB: number;
}

const MiB = 1024 * 1024;
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

/** Project folders that ship whole in a complete bundle (tests run from TS sources, so src/ ships beside dist/). */
const PROJECT_DIRS = ['dist', 'src', 'test', 'bench', 'tools', 'shaders', 'models', 'fixtures'];
const PROJECT_FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'vitest.config.ts'];
const SKIP_DIRS = new Set(['bench/results', 'test/.cache']);
const SKIP_FILE = /(\.log|\.tmp|\.pyc|\.DS_Store)$/;
/** tools/ ships only what node and bash run (Python tools and their data run from the repo copy). */
const TOOL_FILE = /\.(ts|sh)$/;

function parseArgs(root: string, argv: readonly string[]): Options {
  let out = join(root, '.bundle');
  let compression: Compression = hasXz() ? 'xz' : 'gz';
  let refreshDebs = false;
  let maxMiB = 60;
  let lean = false;
  let withTsc = false;
  let fullIcu = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') out = resolve(argv[++i] ?? '');
    else if (a === '--lean') lean = true;
    else if (a === '--with-tsc') withTsc = true;
    else if (a === '--full-icu') fullIcu = true;
    else if (a === '--gzip') compression = 'gz';
    else if (a === '--refresh-debs') refreshDebs = true;
    else if (a === '--max-mib') maxMiB = Number(argv[++i]);
    else throw new Error(`unknown argument '${a}' (usage: node dist/tools/bundle.js [--lean] [--with-tsc] [--full-icu] [--out DIR] [--gzip] [--refresh-debs] [--max-mib N])`);
  }
  if (!(maxMiB > 0)) throw new Error('--max-mib needs a positive number');
  return { out, lean, fullIcu, withTsc, compression, refreshDebs, maxMiB };
}

/** Recompiles with the project's tsc when a .ts under src/, bench/ or tools/ is newer than its .js. */
function ensureBuilt(root: string): void {
  const stale = ['src', 'bench', 'tools']
    .flatMap((d) => listFiles(root, d))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .filter((f) => {
      const js = statSync(join(root, 'dist', f.replace(/\.ts$/, '.js')), { throwIfNoEntry: false });
      return !js || js.mtimeMs < statSync(join(root, f)).mtimeMs;
    });
  if (stale.length === 0) return;
  console.log(`bundle: dist/ is stale (${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', ...' : ''}): running tsc`);
  try {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
    writeFileSync(join(root, 'dist/.built'), '');
  } catch {
    console.warn('bundle: warning: tsc reported errors; bundling the JavaScript it emitted anyway');
  }
}

/**
 * The git-ignored native builds, when present: the NCCL addon and the device-select Vulkan layer
 * with its manifest (src/gpu/device_select.ts finds them there; `--tree` runs whose copy lacks
 * them get the bundle's).
 */
function nativeBuildFiles(root: string): string[] {
  const files: string[] = [];
  const nccl = join(root, 'native-nccl/build/Release');
  if (existsSync(nccl)) files.push(...readdirSync(nccl).filter((f) => f.endsWith('.node')).map((f) => `native-nccl/build/Release/${f}`));
  const vkSelect = join(root, 'native-vk-select/build');
  if (existsSync(vkSelect)) files.push(...readdirSync(vkSelect).filter((f) => /\.(so|json)$/.test(f)).map((f) => `native-vk-select/build/${f}`));
  return files;
}

/** The project's own files: none in a lean bundle (`run.sh --tree` takes them from the tree), else code, data and native builds. */
function projectFiles(root: string, lean: boolean): string[] {
  if (lean) return nativeBuildFiles(root);
  const files = PROJECT_FILES.filter((f) => existsSync(join(root, f)));
  const skipDir = (r: string) => SKIP_DIRS.has(r) || r.endsWith('/node_modules') || r.endsWith('/__pycache__');
  for (const d of PROJECT_DIRS) files.push(...listFiles(root, d, skipDir).filter((f) => d !== 'tools' || TOOL_FILE.test(f)));
  return [...files, ...nativeBuildFiles(root)].filter((f) => !SKIP_FILE.test(f));
}

/** Stripped copies (under `tmp`, same relative paths) of the native binaries among `files` that strip smaller. */
function stripNatives(root: string, files: readonly string[], tmp: string): Set<string> {
  const stripped = new Set<string>();
  for (const f of files.filter((f) => /\.(node|so)$/.test(f))) {
    mkdirSync(dirname(join(tmp, f)), { recursive: true });
    if (stripSharedObject(join(root, f), join(tmp, f))) stripped.add(f);
  }
  return stripped;
}

function previousManifest(out: string): BundleManifest | undefined {
  try {
    return JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as BundleManifest;
  } catch {
    return undefined;
  }
}

function packApp(root: string, opts: Options): BundleManifest['app'] {
  const { out, compression: kind } = opts;
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: object; devDependencies?: object };
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as Lockfile;
  const files = [...projectFiles(root, opts.lean), ...nodeModulesFiles(root, dependencyClosure(lock, bundleRoots(pkg, opts.withTsc)), opts.withTsc)];
  const tmp = mkdtempSync(join(tmpdir(), 'tknp-bundle-app-'));
  try {
    const stripped = stripNatives(root, files, tmp);
    const sized = files.map((path) => ({ path, bytes: statSync(join(stripped.has(path) ? tmp : root, path)).size }));
    const file = `app.tar.${kind}`;
    const dst = join(out, file);
    console.log(`bundle: packing ${files.length} files (${mib(sized.reduce((s, f) => s + f.bytes, 0))}; ${stripped.size} native binaries stripped) into ${file}`);
    tarFiles(root, files, `${dst}.tmp`, kind, { root: tmp, files: stripped });
    renameSync(`${dst}.tmp`, dst);
    return {
      file,
      bytes: statSync(dst).size,
      sha256: sha256File(dst),
      compression: kind,
      files: files.length,
      unpackedBytes: sized.reduce((s, f) => s + f.bytes, 0),
      breakdown: sizeBreakdown(sized),
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function report(m: BundleManifest, out: string, maxMiB: number): void {
  const rows: [string, number, string][] = [
    [m.node.file, m.node.bytes, `node ${m.node.version}, ${mib(m.node.sourceBytes)} unpacked`],
    [m.app.file, m.app.bytes, `${m.app.files} files, ${mib(m.app.unpackedBytes)} unpacked`],
    ['debs/', m.debs.reduce((s, d) => s + d.bytes, 0), m.debs.map((d) => `${d.package} ${d.version}`).join(', ')],
  ];
  const kind = [m.lean ? 'lean: node_modules only, for run.sh --tree' : 'complete', m.withTsc ? 'with tsc' : ''].filter(Boolean).join(', ');
  console.log(`bundle: ${out} (id ${m.id}, ${kind}): ${mib(m.totalBytes)} of at most ${maxMiB} MiB`);
  for (const [f, b, what] of rows) console.log(`  ${f.padEnd(14)} ${mib(b).padStart(10)}  ${what}`);
  console.log('  unpacked project, largest groups:');
  for (const [g, b] of Object.entries(m.app.breakdown).slice(0, 14)) console.log(`    ${mib(b).padStart(10)}  ${g}`);
}

export function main(argv: readonly string[]): void {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  if (!existsSync(join(root, 'package.json'))) throw new Error(`no package.json in ${root}`);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the bundle copies this machine's node and native modules: build it on linux-x64, not ${process.platform}-${process.arch}`);
  }
  const opts = parseArgs(root, argv);
  ensureBuilt(root);
  mkdirSync(opts.out, { recursive: true });
  const prev = previousManifest(opts.out);

  const node = packNode(opts.out, opts.compression, opts.fullIcu, prev);
  const debDir = join(opts.out, 'debs');
  const debs = ensureDebs(debDir, undefined, { refresh: opts.refreshDebs }).map((file) => {
    const path = join(debDir, file);
    return { file: `debs/${file}`, bytes: statSync(path).size, sha256: sha256File(path), ...debFields(path) };
  });
  const app = packApp(root, opts);
  const id = bundleId([node.sha256, app.sha256, ...debs.map((d) => d.sha256)]);

  copyFileSync(join(root, 'tools/bundle/run.sh'), join(opts.out, 'run.sh'));
  chmodSync(join(opts.out, 'run.sh'), 0o755);
  writeFileSync(join(opts.out, 'bundle.env'), bundleEnv({ id, node, app, lean: opts.lean }));
  // Whatever else lies in the folder (an older node.gz, say) is stale.
  const keep = new Set([node.file, app.file, 'debs', 'run.sh', 'bundle.env', 'manifest.json']);
  for (const f of readdirSync(opts.out)) if (!keep.has(f)) rmSync(join(opts.out, f), { recursive: true, force: true });

  const others = ['run.sh', 'bundle.env'].reduce((s, f) => s + statSync(join(opts.out, f)).size, 0);
  const totalBytes = node.bytes + app.bytes + debs.reduce((s, d) => s + d.bytes, 0) + others;
  const manifest: BundleManifest = { format: 1, id, created: new Date().toISOString(), target: 'linux-x64-glibc', lean: opts.lean, withTsc: opts.withTsc, node, app, debs, totalBytes };
  writeFileSync(join(opts.out, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
  report(manifest, relative(process.cwd(), opts.out) || '.', opts.maxMiB);
  if (totalBytes > opts.maxMiB * MiB) {
    throw new Error(`bundle is ${mib(totalBytes)}, over --max-mib ${opts.maxMiB}: it must fit the GPU host's 64 MiB transfer with the repo`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(`bundle: error: ${(e as Error).message}`);
    process.exit(1);
  }
}
