// Compression, tar archives and hashes for the offline bundle. xz when the build machine has
// the `xz` tool (the GPU host unpacks .xz with xz or with Python's lzma module), else gzip.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

export type Compression = 'xz' | 'gz';

export function hasXz(): boolean {
  return spawnSync('xz', ['--version'], { stdio: 'ignore' }).status === 0;
}

export function sha256File(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(1 << 22);
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/**
 * xz options for x86-64 executables (node.xz): the x86 branch converter (BCJ) turns relative call
 * targets absolute so repeated calls compress alike, then LZMA2 -9e with lc=4. Measured on node
 * v20.20.2 (stripped, ICU blob zeroed): -9e 14.01 MB; --x86 -9e 13.20; with lc=4 13.18; pb=0
 * 13.25; lc=0,lp=0,pb=0 13.33. The filter chain is in the stream header: `xz -d` and Python's
 * lzma.open unpack it as they are (test/tools/bundle_archive.test.ts).
 */
export const NODE_XZ: readonly string[] = ['--x86', '--lzma2=preset=9e,lc=4'];
/** xz options for the app archive (JS and two large native addons: BCJ helps there too). */
export const APP_XZ: readonly string[] = ['--x86', '--lzma2=preset=9e'];

/** Compresses one file to `dst`; 'executable' spends minutes for the last few percent (node, cached). */
export function compressFile(src: string, dst: string, kind: Compression, how: 'fast' | 'executable' = 'fast'): void {
  if (kind === 'xz') {
    const fd = openSync(dst, 'w');
    try {
      execFileSync('xz', [...(how === 'executable' ? NODE_XZ : ['-6']), '-T0', '-c', src], { stdio: ['ignore', fd, 'inherit'] });
    } finally {
      closeSync(fd);
    }
  } else {
    writeFileSync(dst, gzipSync(readFileSync(src), { level: 9 }));
  }
}

/**
 * A copy of an ELF executable at `dst` without its symbol tables and debug info (node's binary
 * ships with them: 98 -> 86 MB); false where objcopy is missing or the copy does not run.
 */
export function stripBinary(src: string, dst: string): boolean {
  if (spawnSync('objcopy', ['--strip-all', src, dst], { stdio: 'ignore' }).status !== 0) return false;
  return spawnSync(dst, ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Writes `files` (relative to `root`) into a compressed tar at `dst`, in the listed order, with
 * neutral owners and one fixed mtime so identical inputs give an identical archive. Files named in
 * `replaced` are read from `replaced.root` instead (stripped copies), after the others.
 */
export function tarFiles(root: string, files: readonly string[], dst: string, kind: Compression, replaced?: { readonly root: string; readonly files: ReadonlySet<string> }, mtime = 1_700_000_000): void {
  const lists = [`${dst}.list`, `${dst}.list2`];
  writeFileSync(lists[0], files.filter((f) => !replaced?.files.has(f)).map((f) => `${f}\0`).join(''));
  writeFileSync(lists[1], files.filter((f) => replaced?.files.has(f)).map((f) => `${f}\0`).join(''));
  const from = ['-C', root, '-T', lists[0], ...(replaced ? ['-C', replaced.root, '-T', lists[1]] : [])];
  const tar = ['-c', '--null', '--no-recursion', ...from, '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${mtime}`, '-f', '-'];
  const compressor = kind === 'xz' ? `xz ${APP_XZ.join(' ')} -T0` : 'gzip -9n';
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  try {
    execFileSync('bash', ['-o', 'pipefail', '-c', `tar ${tar.map(q).join(' ')} | ${compressor} > ${q(dst)}`], { stdio: ['ignore', 'inherit', 'inherit'] });
  } finally {
    for (const l of lists) rmSync(l, { force: true });
  }
}

/**
 * A copy of a native addon (ELF shared object) at `dst` without its static symbol table and debug
 * info (`--strip-unneeded` keeps the dynamic symbols it is loaded by: dawn.node 21.5 -> 17.5 MB);
 * false where objcopy is missing or fails, or the copy would not be smaller.
 */
export function stripSharedObject(src: string, dst: string): boolean {
  if (spawnSync('objcopy', ['--strip-unneeded', src, dst], { stdio: 'ignore' }).status !== 0) return false;
  return statSync(dst).size < statSync(src).size;
}
