// Which node_modules packages the offline bundle carries: the closure of the project's
// dependencies (runtime, plus the test and build tools) over package-lock.json, resolved the
// way Node resolves them (nearest node_modules up the tree), keeping only packages built for
// the bundle's target (linux x64 glibc) and dropping other platforms' binaries inside packages.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** One entry of package-lock.json's `packages` map (lockfileVersion 2 or 3). */
export interface LockEntry {
  readonly version?: string;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
  readonly peerDependenciesMeta?: Readonly<Record<string, { readonly optional?: boolean }>>;
  readonly os?: readonly string[];
  readonly cpu?: readonly string[];
  readonly libc?: readonly string[];
  readonly link?: boolean;
}

export interface Lockfile {
  readonly lockfileVersion: number;
  readonly packages: Readonly<Record<string, LockEntry>>;
}

export interface Target {
  readonly os: string;
  readonly cpu: string;
  readonly libc: string;
}

/** The offline GPU host: Ubuntu 24.04 on x86-64. */
export const GPU_HOST: Target = { os: 'linux', cpu: 'x64', libc: 'glibc' };

/** npm's `os`/`cpu`/`libc` rule: absent = any; `!x` excludes x; otherwise the value must be listed. */
function allows(list: readonly string[] | undefined, value: string): boolean {
  if (!list || list.length === 0) return true;
  if (list.includes(`!${value}`)) return false;
  const positive = list.filter((v) => !v.startsWith('!'));
  return positive.length === 0 || positive.includes(value);
}

export function platformMatches(entry: LockEntry, target: Target): boolean {
  return allows(entry.os, target.os) && allows(entry.cpu, target.cpu) && allows(entry.libc, target.libc);
}

/** The lock key Node would load `name` from when required inside the package at `from` ('' = root). */
export function resolveInLock(lock: Lockfile, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const key = `${base ? `${base}/` : ''}node_modules/${name}`;
    if (lock.packages[key]) return key;
    if (!base) return undefined;
    base = base.slice(0, base.lastIndexOf('node_modules/')).replace(/\/$/, '');
  }
}

/**
 * Lock keys (`node_modules/...`) needed to load `roots` from the project root, with their
 * required dependencies, non-optional peers, and the optional dependencies built for `target`.
 * Throws when a required dependency is missing from the lock.
 */
export function dependencyClosure(lock: Lockfile, roots: readonly string[], target: Target = GPU_HOST): string[] {
  if (lock.lockfileVersion < 2) throw new Error(`package-lock.json v${lock.lockfileVersion}: need v2 or v3 (npm >= 7)`);
  const seen = new Set<string>();
  const queue: { from: string; name: string; optional: boolean }[] = roots.map((name) => ({ from: '', name, optional: false }));
  while (queue.length > 0) {
    const { from, name, optional } = queue.shift()!;
    const key = resolveInLock(lock, from, name);
    if (!key) {
      if (optional) continue;
      throw new Error(`package-lock.json: '${name}' (needed by ${from || 'the project'}) is not in the lock; run npm install`);
    }
    const entry = lock.packages[key];
    if (entry.link) throw new Error(`package-lock.json: ${key} is a link (workspaces are not supported by the bundle)`);
    if (!platformMatches(entry, target)) {
      if (optional) continue;
      throw new Error(`${key} is required but not built for ${target.os}-${target.cpu}-${target.libc}`);
    }
    if (seen.has(key)) continue;
    seen.add(key);
    for (const dep of Object.keys(entry.dependencies ?? {})) queue.push({ from: key, name: dep, optional: false });
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) queue.push({ from: key, name: dep, optional: true });
    for (const dep of Object.keys(entry.peerDependencies ?? {})) {
      if (!entry.peerDependenciesMeta?.[dep]?.optional) queue.push({ from: key, name: dep, optional: false });
    }
  }
  return [...seen].sort();
}

/**
 * The packages the bundle starts from: the runtime dependencies and vitest (the test runner);
 * with `withTsc`, also typescript and the @types packages (to compile on the host).
 */
export function bundleRoots(pkg: { dependencies?: object; devDependencies?: object }, withTsc = false): string[] {
  const dev = Object.keys(pkg.devDependencies ?? {});
  const tools = dev.filter((d) => d === 'vitest' || (withTsc && (d === 'typescript' || d.startsWith('@types/'))));
  return [...Object.keys(pkg.dependencies ?? {}), ...tools];
}

/**
 * Files inside packages that the target never loads: webgpu's dawn.node builds for other
 * platforms (one directory per platform under dist/), npm's .bin links, lightningcss's native
 * binary (vite imports lightningcss lazily, for CSS only; tknp has no CSS: 9.6 MiB saved), source
 * maps and markdown other than licences (2 MiB).
 */
const DROP: readonly RegExp[] = [
  /^node_modules\/webgpu\/dist\/(?!linux-x64\/)/,
  /(^|\/)node_modules\/\.bin\//,
  /^node_modules\/lightningcss-[^/]+\/.*\.node$/,
  /\/(?!licen[cs]e)[^/]*\.(map|md|markdown)$/i,
];
/** Type declarations: only tsc reads them (kept in bundles built --with-tsc). */
const TYPES = /\.d\.[cm]?ts$/;

export function keepFile(rel: string, withTsc = false): boolean {
  return !DROP.some((re) => re.test(rel)) && (withTsc || !TYPES.test(rel));
}

/** Regular files (paths relative to `root`, '/'-separated) under `rel`, not descending into `skipDirs`. */
export function listFiles(root: string, rel: string, skipDir: (relDir: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (r: string) => {
    for (const ent of readdirSync(join(root, r), { withFileTypes: true })) {
      const child = `${r}/${ent.name}`;
      if (ent.isDirectory()) {
        if (!skipDir(child)) walk(child);
      } else if (ent.isFile()) {
        out.push(child);
      } else if (ent.isSymbolicLink() && statSync(join(root, child), { throwIfNoEntry: false })?.isFile()) {
        out.push(child); // tar stores the link; only file links are expected here
      }
    }
  };
  if (existsSync(join(root, rel))) walk(rel);
  return out.sort();
}

/** The bundle's node_modules files: each package of the closure, minus its nested packages and dropped files. */
export function nodeModulesFiles(root: string, keys: readonly string[], withTsc = false): string[] {
  const files: string[] = [];
  for (const key of keys) {
    if (!existsSync(join(root, key))) throw new Error(`${key} is in the lock but not installed: run npm ci`);
    // Nested node_modules hold other lock entries, which the closure lists on their own.
    files.push(...listFiles(root, key, (d) => d === `${key}/node_modules`).filter((f) => keepFile(f, withTsc)));
  }
  return files;
}
