// safetensors reader with positioned reads: the header is parsed and validated up front,
// tensor bytes are read one tensor at a time, never the whole file into memory.
//
// Format: u64 little-endian header length N, then N bytes of JSON
// { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {...} },
// then the data section; offsets are relative to the data section's start.
import type { FileHandle } from 'node:fs/promises';
import { CheckpointError } from './errors.js';
import { openRegularFile } from './model_files.js';

export type SafetensorsDType = 'F16' | 'BF16' | 'F32' | 'F64' | 'I8' | 'U8' | 'I16' | 'I32' | 'I64' | 'BOOL';

const DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = {
  F16: 2, BF16: 2, F32: 4, F64: 8, I8: 1, U8: 1, I16: 2, I32: 4, I64: 8, BOOL: 1,
};

/** Largest header this reader accepts (the format's own limit is 100 MB). */
const MAX_HEADER = 100_000_000;

export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Absolute byte range in the file. */
  readonly begin: number;
  readonly end: number;
}

export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    const { handle, size } = await openRegularFile(path);
    try {
      if (size < 8) throw new CheckpointError(path, `truncated: ${size} bytes, shorter than the 8-byte header length`);
      const lenBuf = Buffer.alloc(8);
      await handle.read(lenBuf, 0, 8, 0);
      const headerLen = Number(lenBuf.readBigUInt64LE(0));
      if (headerLen > MAX_HEADER || 8 + headerLen > size) {
        throw new CheckpointError(path, `corrupt header: header length ${headerLen} does not fit the file (${size} bytes)`);
      }
      const headerBuf = Buffer.alloc(headerLen);
      await handle.read(headerBuf, 0, headerLen, 8);
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(headerBuf.toString('utf8')) as Record<string, unknown>;
      } catch (e) {
        throw new CheckpointError(path, `corrupt header: not valid JSON (${(e as Error).message})`);
      }
      if (typeof header !== 'object' || header === null || Array.isArray(header)) {
        throw new CheckpointError(path, 'corrupt header: not a JSON object');
      }
      const dataStart = 8 + headerLen;
      const tensors = new Map<string, TensorInfo>();
      let metadata: Record<string, string> = {};
      for (const [name, raw] of Object.entries(header)) {
        if (name === '__metadata__') {
          metadata = parseMetadata(path, raw);
          continue;
        }
        tensors.set(name, parseEntry(path, name, raw, dataStart, size));
      }
      checkLayout(path, [...tensors.values()], dataStart, size);
      return new SafetensorsFile(path, handle, tensors, metadata);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** The raw bytes of one tensor (little-endian, as stored). */
  async read(name: string): Promise<Buffer> {
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointError(this.path, `no tensor named '${name}'`, name);
    const buf = Buffer.alloc(t.end - t.begin);
    const { bytesRead } = await this.handle.read(buf, 0, buf.length, t.begin);
    if (bytesRead !== buf.length) throw new CheckpointError(this.path, `truncated while reading '${name}'`, name);
    return buf;
  }

  /** Bytes [from, to) of one tensor's data, in a buffer of their own (transferable to a thread). */
  async readRange(name: string, from: number, to: number): Promise<Uint8Array> {
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointError(this.path, `no tensor named '${name}'`, name);
    if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from <= to && t.begin + to <= t.end)) throw new CheckpointError(this.path, `bytes [${from}, ${to}) are outside tensor '${name}' (${t.end - t.begin} bytes)`, name);
    const buf = new Uint8Array(to - from);
    const { bytesRead } = await this.handle.read(buf, 0, buf.length, t.begin + from);
    if (bytesRead !== buf.length) throw new CheckpointError(this.path, `truncated while reading '${name}'`, name);
    return buf;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

function parseEntry(path: string, name: string, raw: unknown, dataStart: number, fileSize: number): TensorInfo {
  const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const bad = (why: string) => new CheckpointError(path, `corrupt header: tensor '${name}' ${why}`, name);
  if (typeof e !== 'object' || e === null) throw bad('is not an object');
  if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) throw bad(`has unknown dtype ${JSON.stringify(e.dtype)}`);
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) throw bad('has an invalid shape');
  const off = e.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isInteger(o) && o >= 0) || off[1] < off[0]) {
    throw bad('has invalid data_offsets');
  }
  const dtype = e.dtype as SafetensorsDType;
  const shape = e.shape as number[];
  const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
  if (off[1] - off[0] !== expected) {
    throw bad(`holds ${off[1] - off[0]} bytes but shape [${shape}] ${dtype} needs ${expected}`);
  }
  const begin = dataStart + off[0];
  const end = dataStart + off[1];
  if (end > fileSize) {
    throw new CheckpointError(path, `truncated: tensor '${name}' ends at byte ${end} but the file has ${fileSize} bytes`, name);
  }
  return { name, dtype, shape, begin, end };
}

/** `__metadata__` is a string-to-string map (as the safetensors format defines it). */
function parseMetadata(path: string, raw: unknown): Record<string, string> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || Object.values(raw).some((v) => typeof v !== 'string')) {
    throw new CheckpointError(path, 'corrupt header: __metadata__ must map strings to strings', '__metadata__');
  }
  return raw as Record<string, string>;
}

/**
 * The data section is the tensors' bytes back to back, as the safetensors format requires (its
 * reference reader refuses anything else): no two tensors share a byte (shared or overlapping
 * ranges would load one tensor's bytes as another's), no gaps, nothing after the last tensor.
 */
function checkLayout(path: string, tensors: TensorInfo[], dataStart: number, fileSize: number): void {
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  const rel = (x: number) => x - dataStart;
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1], sorted[i]];
    if (b.begin < a.end) {
      throw new CheckpointError(
        path,
        `corrupt header: tensor '${b.name}' (data_offsets [${rel(b.begin)}, ${rel(b.end)}]) overlaps tensor '${a.name}' ([${rel(a.begin)}, ${rel(a.end)}]); every tensor needs its own bytes`,
        b.name,
      );
    }
  }
  let at = dataStart;
  for (const t of sorted) {
    if (t.begin > at) throw new CheckpointError(path, `corrupt header: bytes [${rel(at)}, ${rel(t.begin)}) of the data section before tensor '${t.name}' belong to no tensor`, t.name);
    at = t.end;
  }
  if (at !== fileSize) throw new CheckpointError(path, `corrupt file: ${fileSize - at} bytes after the last tensor's data`);
}
