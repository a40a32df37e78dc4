// Writes safetensors files (tests, random-weight presets). Tensors are given as raw
// little-endian bytes with their dtype and shape.
import { writeFileSync } from 'node:fs';
import type { SafetensorsDType } from './safetensors.js';

export interface RawTensor {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

export function encodeSafetensors(tensors: Readonly<Record<string, RawTensor>>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const t of Object.values(tensors)) {
    out.set(t.data, pos);
    pos += t.data.byteLength;
  }
  return out;
}

export function writeSafetensors(path: string, tensors: Readonly<Record<string, RawTensor>>, metadata?: Record<string, string>): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}

export function bytesOf(a: Uint16Array | Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
