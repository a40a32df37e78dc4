// The Debian 12 (amd64) Vulkan loader packages the GPU host lacks, fetched with `apt-get download`
// through a private apt configuration (own sources, lists, status and cache), so neither the
// build machine's apt state nor its architecture matters. The .debs are kept in the bundle's
// debs/ folder, which doubles as the cache: a rebuild downloads only what is missing there.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The loader and its GL-vendor-neutral companions (NVIDIA's ICD needs libGLX/libGLdispatch). */
export const LOADER_PACKAGES = ['libvulkan1', 'libglvnd0', 'libegl1', 'libgl1', 'libglx0', 'libgles2', 'libopengl0'] as const;

export interface DebOptions {
  /** Debian mirror; default TKNP_DEBIAN_MIRROR or http://deb.debian.org/debian. */
  readonly mirror?: string;
  /** Throw away the cached .debs and download again. */
  readonly refresh?: boolean;
  /** Private apt state (lists, cache); default ~/.cache/tknp-bundle/apt, outside the bundle. */
  readonly aptDir?: string;
}

const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** `<pkg>_<version>_amd64.deb` in `dir` per package, or undefined where missing. */
export function cachedDebs(dir: string, packages: readonly string[]): Map<string, string | undefined> {
  const names = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('_amd64.deb')).sort() : [];
  return new Map(packages.map((p) => [p, names.find((f) => f.startsWith(`${p}_`))]));
}

/** Ensures one amd64 .deb per package in `dir`; returns their file names (package order). */
export function ensureDebs(dir: string, packages: readonly string[] = LOADER_PACKAGES, opts: DebOptions = {}): string[] {
  mkdirSync(dir, { recursive: true });
  if (opts.refresh) for (const f of readdirSync(dir)) if (f.endsWith('.deb')) rmSync(join(dir, f));
  let have = cachedDebs(dir, packages);
  const missing = packages.filter((p) => !have.get(p));
  if (missing.length > 0) {
    console.log(`bundle: downloading ${missing.join(' ')} (Debian 12 amd64)`);
    aptDownload(dir, missing, opts);
    have = cachedDebs(dir, packages);
  }
  const still = packages.filter((p) => !have.get(p));
  if (still.length > 0) throw new Error(`apt-get download gave no amd64 .deb for: ${still.join(' ')}`);
  // Drop stale versions and packages no longer listed, so debs/ holds exactly what ships.
  const keep = new Set([...have.values()] as string[]);
  for (const f of readdirSync(dir)) if (!keep.has(f)) rmSync(join(dir, f), { recursive: true, force: true });
  return packages.map((p) => have.get(p)!);
}

function aptDownload(dir: string, packages: readonly string[], opts: DebOptions): void {
  const apt = opts.aptDir ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tknp-bundle', 'apt');
  const mirror = opts.mirror ?? process.env.TKNP_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
  const hint = `fetch these amd64 .debs from Debian 12 by hand into ${dir}: ${packages.join(' ')}`;
  if (!existsSync(KEYRING)) throw new Error(`${KEYRING} missing (not a Debian/Ubuntu machine?): ${hint}`);
  for (const d of ['lists/partial', 'cache/archives/partial', 'sources.list.d', 'preferences.d']) mkdirSync(join(apt, d), { recursive: true });
  const sources = join(apt, 'sources.list');
  const suites = ['bookworm', 'bookworm-updates'];
  writeFileSync(sources, suites.map((s) => `deb [arch=amd64 signed-by=${KEYRING}] ${mirror} ${s} main\n`).join(''));
  writeFileSync(join(apt, 'status'), ''); // nothing installed: candidates come from bookworm alone
  const o = [
    '-q',
    '-oAPT::Architecture=amd64',
    '-oAPT::Architectures=amd64',
    `-oDir::Etc::SourceList=${sources}`,
    `-oDir::Etc::SourceParts=${join(apt, 'sources.list.d')}`,
    `-oDir::Etc::Preferences=${join(apt, 'preferences')}`,
    `-oDir::Etc::PreferencesParts=${join(apt, 'preferences.d')}`,
    `-oDir::State::Lists=${join(apt, 'lists')}`,
    `-oDir::State::status=${join(apt, 'status')}`,
    `-oDir::Cache=${join(apt, 'cache')}`,
    '-oDebug::NoLocking=1',
    '-oAPT::Sandbox::User=root',
  ];
  try {
    execFileSync('apt-get', [...o, 'update'], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('apt-get', [...o, 'download', ...packages], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (e) {
    throw new Error(`apt-get failed (${(e as Error).message.split('\n')[0]}); ${hint}`);
  }
}

/** Package and Version fields of a .deb (dpkg-deb), for the manifest. */
export function debFields(path: string): { package: string; version: string } {
  try {
    const [pkg, version] = execFileSync('dpkg-deb', ['-f', path, 'Package', 'Version'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.replace(/^\w+:\s*/, ''));
    return { package: pkg, version };
  } catch {
    const [pkg, version] = path.replace(/^.*\//, '').split('_');
    return { package: pkg, version };
  }
}
