// Reading the files of a model directory as untrusted input. The directory is a boundary for
// names: a file is named by a plain file name (no separator, no '..', not absolute), so an
// index cannot point outside it; symbolic links are still followed (the Hugging Face cache links
// every snapshot file to ../../blobs/<hash>). Only regular files are read: a FIFO, a device or a
// directory is refused with its path instead of blocking or failing obscurely. JSON files are
// read whole, up to a size cap, and must hold an object.
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { ModelFileError } from './errors.js';

/** Largest config.json, generation_config.json, tokenizer_config.json or index tknp reads. */
export const MAX_CONFIG_JSON_BYTES = 16 * 2 ** 20;
/** Largest tokenizer.json tknp reads (the biggest real ones are ~35 MB). */
export const MAX_TOKENIZER_JSON_BYTES = 256 * 2 ** 20;

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/**
 * Checks that `name` (from an index or a config) is a plain file name inside the model
 * directory; `source`/`field` say where the name came from, for the error.
 */
export function plainFileName(name: unknown, source: string, field: string): string {
  const bad = (why: string) => new ModelFileError(source, `${field} ${JSON.stringify(name)} ${why}`, field);
  if (typeof name !== 'string' || name.length === 0) throw bad('must be a non-empty file name');
  if (isAbsolute(name) || /^[A-Za-z]:/.test(name)) throw bad('is an absolute path; shard names must be file names inside the model directory');
  if (name.includes('/') || name.includes('\\')) throw bad('contains a path separator; shard names must be file names inside the model directory');
  if (name === '.' || name === '..') throw bad('is not a file name');
  if (name.includes('\0')) throw bad('contains a NUL character');
  return name;
}

function kindOf(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

function notRegular(path: string, s: Stats): ModelFileError {
  return new ModelFileError(path, `is ${kindOf(s)}, not a regular file`);
}

/** Opens without blocking on a FIFO: O_NONBLOCK has no effect on regular files. */
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

function openError(path: string, e: unknown): ModelFileError {
  const code = (e as NodeJS.ErrnoException).code;
  return new ModelFileError(path, code === 'ENOENT' ? 'missing' : `cannot open: ${code ?? (e as Error).message}`);
}

/** The model directory itself: it must exist and be a directory (symlinks followed). */
export function checkModelDir(dir: string): void {
  let s: Stats;
  try {
    s = statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelFileError(dir, code === 'ENOENT' ? 'no such model directory' : `cannot read the model directory: ${code ?? (e as Error).message}`);
  }
  if (!s.isDirectory()) throw new ModelFileError(dir, `is ${s.isFile() ? 'a file' : kindOf(s)}, not a model directory (--model takes the directory holding config.json)`);
}

/** Whether `path` exists (following links), whatever it is: callers then read it and get its kind checked. */
export function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads a whole regular file of at most `maxBytes`. */
export function readModelFile(path: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (e) {
    throw openError(path, e);
  }
  try {
    const s = fstatSync(fd);
    if (!s.isFile()) throw notRegular(path, s);
    if (s.size > maxBytes) throw new ModelFileError(path, `is ${MiB(s.size)}, more than the ${MiB(maxBytes)} tknp reads from this file`);
    const buf = Buffer.alloc(s.size);
    let at = 0;
    while (at < buf.length) {
      const n = readSync(fd, buf, at, buf.length - at, at);
      if (n === 0) break;
      at += n;
    }
    if (at !== buf.length) throw new ModelFileError(path, `changed while being read (${at} of ${buf.length} bytes)`);
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** Reads a JSON file that must hold an object (null, arrays and other values are refused). */
export function readJsonObject(path: string, maxBytes = MAX_CONFIG_JSON_BYTES): Record<string, unknown> {
  const text = readModelFile(path, maxBytes).toString('utf8');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ModelFileError(path, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ModelFileError(path, `must hold a JSON object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
  }
  return v as Record<string, unknown>;
}

/** Reads `dir/name` as a JSON object if it exists, else undefined. */
export function readOptionalJsonObject(dir: string, name: string, maxBytes = MAX_CONFIG_JSON_BYTES): Record<string, unknown> | undefined {
  const path = join(dir, name);
  return exists(path) ? readJsonObject(path, maxBytes) : undefined;
}

/** Opens a regular file for positioned reads (safetensors shards). */
export async function openRegularFile(path: string): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (e) {
    throw openError(path, e);
  }
  try {
    const s = await handle.stat();
    if (!s.isFile()) throw notRegular(path, s);
    return { handle, size: s.size };
  } catch (e) {
    await handle.close();
    throw e;
  }
}
