// What a built bundle holds: manifest.json (for people and tools) and bundle.env (KEY=VALUE
// lines that .bundle/run.sh reads without a JSON parser; the GPU host has no node to parse JSON).
import { createHash } from 'node:crypto';
import type { Compression } from './archive.js';

export interface ShippedFile {
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface BundleManifest {
  readonly format: 1;
  /** Key of the unpacked copy on the host: changes whenever node, the project or a .deb changes. */
  readonly id: string;
  readonly created: string;
  readonly target: string;
  /** Built with --lean: node_modules and native builds only; the project comes from the tree of `run.sh --tree DIR`. */
  readonly lean: boolean;
  /** Built with --with-tsc: typescript and @types are in node_modules. */
  readonly withTsc: boolean;
  readonly node: ShippedFile & {
    readonly version: string;
    readonly compression: Compression;
    /** How the file was made from the binary (a changed recipe repacks it). */
    readonly recipe: string;
    /** The binary as packed (after stripping), and the sha256 of the one that ran the build. */
    readonly sourceBytes: number;
    readonly sourceSha256: string;
  };
  readonly app: ShippedFile & { readonly compression: Compression; readonly files: number; readonly unpackedBytes: number; readonly breakdown: Readonly<Record<string, number>> };
  readonly debs: readonly (ShippedFile & { readonly package: string; readonly version: string })[];
  /** Bytes of every file in .bundle/ (manifest and launcher included). */
  readonly totalBytes: number;
}

/** The bundle id: a short hash over everything that is unpacked on the host. */
export function bundleId(parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}

/** bundle.env text; only these keys are read by run.sh. */
export function bundleEnv(m: Pick<BundleManifest, 'id' | 'node' | 'app' | 'lean'>): string {
  const lines = [
    '# written by tools/bundle.ts; read by run.sh',
    `BUNDLE_ID=${m.id}`,
    `NODE_FILE=${m.node.file}`,
    `NODE_SHA256=${m.node.sha256}`,
    `NODE_VERSION=${m.node.version}`,
    `APP_FILE=${m.app.file}`,
    `APP_SHA256=${m.app.sha256}`,
    `LEAN=${m.lean ? 1 : 0}`,
  ];
  for (const l of lines) if (/[\n\r]/.test(l) || (!l.startsWith('#') && !/^[A-Z_0-9]+=\S+$/.test(l))) throw new Error(`bundle.env: bad line '${l}'`);
  return `${lines.join('\n')}\n`;
}

/** Bytes per group: top-level folders, node_modules per package, and native binaries apart. */
export function sizeBreakdown(files: readonly { readonly path: string; readonly bytes: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { path, bytes } of files) {
    const parts = path.split('/');
    let group: string;
    if (parts[0] !== 'node_modules') group = parts.length > 1 ? `${parts[0]}/` : 'top-level files';
    else if (path.endsWith('.node')) group = `${path} (native)`;
    else group = `node_modules/${parts[1].startsWith('@') ? `${parts[1]}/${parts[2]}` : parts[1]}`;
    out[group] = (out[group] ?? 0) + bytes;
  }
  return Object.fromEntries(Object.entries(out).sort((a, b) => b[1] - a[1]));
}
