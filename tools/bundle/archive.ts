// Compression, tar archives and hashes for the offline bundle. xz when the build machine has
// the `xz` tool (the GPU host unpacks .xz with xz or with Python's lzma module), else gzip.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
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

/** Compresses one file to `dst`; `best` spends minutes for the last few percent (the node binary, cached). */
export function compressFile(src: string, dst: string, kind: Compression, best = false): void {
  if (kind === 'xz') {
    const fd = openSync(dst, 'w');
    try {
      execFileSync('xz', [best ? '-9e' : '-6', '-T0', '-c', src], { stdio: ['ignore', fd, 'inherit'] });
    } finally {
      closeSync(fd);
    }
  } else {
    writeFileSync(dst, gzipSync(readFileSync(src), { level: 9 }));
  }
}

/**
 * Writes `files` (relative to `root`) into a compressed tar at `dst`, in the listed order,
 * with neutral owners and one fixed mtime so identical inputs give an identical archive.
 */
/**
 * A copy of an ELF executable at `dst` without its symbol tables and debug info (node's binary
 * ships with them: 98 -> 86 MB); false where objcopy is missing or the copy does not run.
 */
export function stripBinary(src: string, dst: string): boolean {
  if (spawnSync('objcopy', ['--strip-all', src, dst], { stdio: 'ignore' }).status !== 0) return false;
  return spawnSync(dst, ['--version'], { stdio: 'ignore' }).status === 0;
}

export function tarFiles(root: string, files: readonly string[], dst: string, kind: Compression, mtime = 1_700_000_000): void {
  const list = `${dst}.list`;
  writeFileSync(list, files.map((f) => `${f}\0`).join(''));
  const tar = ['-c', '-C', root, '--null', '--no-recursion', '-T', list, '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${mtime}`, '-f', '-'];
  const compressor = kind === 'xz' ? 'xz -6 -T0' : 'gzip -9n';
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  try {
    execFileSync('bash', ['-o', 'pipefail', '-c', `tar ${tar.map(q).join(' ')} | ${compressor} > ${q(dst)}`], { stdio: ['ignore', 'inherit', 'inherit'] });
  } finally {
    rmSync(list, { force: true });
  }
}
