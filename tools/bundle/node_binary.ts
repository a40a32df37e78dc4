// node.<xz|gz>: the node binary running the build, made as small as it safely gets for the
// offline bundle: symbols stripped, ICU data cut to English (icu.ts), x86 BCJ + LZMA2 -9e.
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compressFile, NODE_XZ, sha256File, stripBinary, type Compression } from './archive.js';
import { icuBlobSize, icuSmoke, trimIcuInBinary } from './icu.js';
import type { BundleManifest } from './manifest.js';

const mib = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MiB`;

/** How node.<xz|gz> was made (the manifest's recipe: a build wanting another one repacks it). */
function nodeRecipe(kind: Compression, stripped: boolean, trimmedIcu: boolean): string {
  return [stripped ? 'strip-all' : 'unstripped', ...(trimmedIcu ? ['icu en-only'] : []), kind === 'xz' ? `xz ${NODE_XZ.join(' ')}` : 'gzip -9'].join(', ');
}

/**
 * The running node binary as shipped: without its symbols (12 MB), with its ICU data cut to
 * English (33 -> 5 MB; icu.ts) unless `fullIcu`, checked to still run and to print ICU_SMOKE_JS
 * as the original does. Returns the file to compress and what was done to it.
 */
function prepareNode(src: string, tmp: string, fullIcu: boolean): { input: string; stripped: boolean; trimmedIcu: boolean } {
  const stripped = join(tmp, 'node');
  if (!stripBinary(src, stripped)) return { input: src, stripped: false, trimmedIcu: false };
  if (fullIcu) return { input: stripped, stripped: true, trimmedIcu: false };
  const blobSize = icuBlobSize(src);
  const trimmed = join(tmp, 'node-icu-en');
  try {
    if (blobSize === undefined) throw new Error('no icudt*_dat symbol in the node binary (nm found none)');
    const bytes = readFileSync(stripped);
    const kept = trimIcuInBinary(bytes, blobSize);
    writeFileSync(trimmed, bytes, { mode: 0o755 });
    const [want, got] = [icuSmoke(src), icuSmoke(trimmed)];
    if (got !== want) throw new Error(`the trimmed node prints ${got}\n  where node prints ${want}`);
    console.log(`bundle: ICU data cut to English: ${mib(blobSize)} -> ${mib(kept)}`);
    return { input: trimmed, stripped: true, trimmedIcu: true };
  } catch (e) {
    console.warn(`bundle: warning: keeping node's full ICU data: ${(e as Error).message}`);
    return { input: stripped, stripped: true, trimmedIcu: false };
  }
}

/**
 * node.<xz|gz>: the running node binary, prepared (prepareNode), at the strongest compression;
 * reused from the last build while the binary and the recipe are unchanged.
 */
export function packNode(out: string, kind: Compression, fullIcu: boolean, prev: BundleManifest | undefined): BundleManifest['node'] {
  const src = process.execPath;
  const sourceSha256 = sha256File(src);
  const file = `node.${kind}`;
  const dst = join(out, file);
  const recipe = nodeRecipe(kind, true, !fullIcu);
  const old = prev?.node;
  if (old && old.file === file && old.recipe === recipe && old.sourceSha256 === sourceSha256 && existsSync(dst) && sha256File(dst) === old.sha256) return old;
  const tmp = mkdtempSync(join(tmpdir(), 'tknp-bundle-node-'));
  try {
    const { input, stripped, trimmedIcu } = prepareNode(src, tmp, fullIcu);
    console.log(`bundle: compressing ${src} (${process.version}, ${mib(statSync(input).size)}${stripped ? ' stripped' : ''}) with ${kind}; takes minutes, once per node binary`);
    compressFile(input, `${dst}.tmp`, kind, 'executable');
    renameSync(`${dst}.tmp`, dst);
    // What was actually done: one that falls short of the wanted recipe is retried next build.
    const how = nodeRecipe(kind, stripped, trimmedIcu);
    return { file, bytes: statSync(dst).size, sha256: sha256File(dst), version: process.version, compression: kind, recipe: how, sourceBytes: statSync(input).size, sourceSha256 };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
