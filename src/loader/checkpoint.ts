// A Hugging Face checkpoint directory: single `model.safetensors` or sharded
// (`model.safetensors.index.json` → weight_map). Shard names from the index are plain file names
// inside the directory; every tensor lives in exactly one shard, the one the index names. Tensors
// are read one at a time and converted to f16 bit patterns; every value is checked (NaN and
// ±Inf are refused in every dtype, values beyond f16's range where the source dtype is wider).
import { join } from 'node:path';
import { bf16BitsToF32, f32ToF16Bits } from '../util/f16.js';
import { CheckpointError, ModelFileError } from './errors.js';
import { exists, plainFileName, readJsonObject } from './model_files.js';
import { SafetensorsFile, type TensorInfo } from './safetensors.js';

const F16_MAX = 65504;
export const INDEX_FILE = 'model.safetensors.index.json';
const SINGLE_FILE = 'model.safetensors';

export class Checkpoint {
  private constructor(
    readonly dir: string,
    private readonly files: readonly SafetensorsFile[],
    private readonly index: ReadonlyMap<string, SafetensorsFile>,
  ) {}

  static async open(dir: string): Promise<Checkpoint> {
    const indexPath = join(dir, INDEX_FILE);
    const weightMap = exists(indexPath) ? readWeightMap(indexPath) : undefined;
    let shardNames: string[];
    if (weightMap) {
      shardNames = [...new Set(weightMap.values())].sort();
      for (const s of shardNames) {
        if (!exists(join(dir, s))) throw new ModelFileError(join(dir, s), `missing shard listed in ${INDEX_FILE}`);
      }
    } else if (exists(join(dir, SINGLE_FILE))) {
      shardNames = [SINGLE_FILE];
    } else {
      throw new ModelFileError(dir, `no ${SINGLE_FILE} or ${INDEX_FILE} found`);
    }
    const files: SafetensorsFile[] = [];
    try {
      for (const s of shardNames) files.push(await SafetensorsFile.open(join(dir, s)));
      return new Checkpoint(dir, files, indexTensors(dir, files, weightMap, indexPath));
    } catch (e) {
      await Promise.all(files.map((f) => f.close()));
      throw e;
    }
  }

  has(name: string): boolean {
    return this.index.has(name);
  }

  /** Every tensor name of the checkpoint. */
  names(): IterableIterator<string> {
    return this.index.keys();
  }

  /** The shard holding `name`, for messages. */
  fileOf(name: string): string {
    return this.index.get(name)?.path ?? this.dir;
  }

  info(name: string): TensorInfo {
    const f = this.index.get(name);
    if (!f) throw new CheckpointError(this.dir, `missing tensor '${name}'`, name);
    return f.tensors.get(name)!;
  }

  /** Total bytes of all tensors (for progress). */
  totalBytes(): number {
    let n = 0;
    for (const f of this.files) for (const t of f.tensors.values()) n += t.end - t.begin;
    return n;
  }

  /**
   * Reads a tensor as f16 bit patterns, checking its shape and every value: NaN and ±Inf are
   * errors naming the tensor and the index, as are bf16/f32 values beyond f16's ±65504.
   */
  async readF16(name: string, shape: readonly number[]): Promise<Uint16Array> {
    const f = this.index.get(name);
    if (!f) throw new CheckpointError(this.dir, `missing tensor '${name}'`, name);
    const t = f.tensors.get(name)!;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(f.path, `tensor '${name}' has shape [${t.shape}], expected [${shape}]`, name);
    }
    const raw = await f.read(name);
    const n = raw.length / (t.dtype === 'F32' ? 4 : 2);
    switch (t.dtype) {
      case 'F16': {
        const out = new Uint16Array(n);
        new Uint8Array(out.buffer).set(raw);
        checkF16(f.path, name, out);
        return out;
      }
      case 'BF16':
        return convert(f.path, name, n, (i) => bf16BitsToF32(raw.readUInt16LE(i * 2)));
      case 'F32':
        return convert(f.path, name, n, (i) => raw.readFloatLE(i * 4));
      default:
        throw new CheckpointError(f.path, `tensor '${name}' has dtype ${t.dtype}; expected F16, BF16 or F32`, name);
    }
  }

  /**
   * Reads an int32 tensor (the packed words of an AWQ / GPTQ checkpoint) as its raw 32-bit words,
   * checking its dtype and shape.
   */
  async readI32(name: string, shape: readonly number[]): Promise<Uint32Array> {
    const f = this.index.get(name);
    if (!f) throw new CheckpointError(this.dir, `missing tensor '${name}'`, name);
    const t = f.tensors.get(name)!;
    if (t.dtype !== 'I32') throw new CheckpointError(f.path, `tensor '${name}' has dtype ${t.dtype}; expected I32 (packed quantized values)`, name);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(f.path, `tensor '${name}' has shape [${t.shape}], expected [${shape}]`, name);
    }
    const raw = await f.read(name);
    const out = new Uint32Array(raw.length / 4);
    new Uint8Array(out.buffer).set(raw);
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }
}

/** The index's weight_map: tensor name → shard file name (a plain name inside the directory). */
function readWeightMap(indexPath: string): Map<string, string> {
  const json = readJsonObject(indexPath);
  const wm = json.weight_map;
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) {
    throw new CheckpointError(indexPath, `field 'weight_map' must be an object mapping tensor names to shard files, got ${wm === undefined ? 'nothing' : JSON.stringify(wm)}`, 'weight_map');
  }
  const out = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(wm)) out.set(tensor, plainFileName(shard, indexPath, `weight_map['${tensor}']`));
  return out;
}

/**
 * Tensor name → the shard holding it. A tensor in two shards is refused (which copy is meant is
 * unknowable, even when the index names one), and so is a sharded tensor the index does not
 * list or lists in another shard.
 */
function indexTensors(dir: string, files: readonly SafetensorsFile[], weightMap: ReadonlyMap<string, string> | undefined, indexPath: string): Map<string, SafetensorsFile> {
  const index = new Map<string, SafetensorsFile>();
  for (const f of files) {
    for (const name of f.tensors.keys()) {
      const other = index.get(name);
      if (other) throw new CheckpointError(f.path, `tensor '${name}' is also in ${other.path}; a tensor must be in exactly one shard`, name);
      index.set(name, f);
    }
  }
  if (!weightMap) return index;
  for (const [name, f] of index) {
    const listed = weightMap.get(name);
    if (listed === undefined) throw new CheckpointError(f.path, `tensor '${name}' is not listed in ${indexPath}'s weight_map`, name);
    if (f.path !== join(dir, listed)) throw new CheckpointError(indexPath, `weight_map['${name}'] names ${listed} but the tensor is in ${f.path}`, `weight_map['${name}']`);
  }
  for (const [name, shard] of weightMap) {
    if (!index.has(name)) throw new CheckpointError(indexPath, `tensor '${name}' listed in weight_map is not in ${shard}`, `weight_map['${name}']`);
  }
  return index;
}

/**
 * f16 bit patterns with an all-ones exponent are ±Inf or NaN. Two halves per u32 word: adding
 * 0x0400 to a half's exponent bits (& 0x7c00) carries into its bit 15 exactly when they are all
 * ones; the sums are OR-ed (four words per iteration) and bit 15 / 31 tested once at the end
 * (~0.4 ns per value; the exact index is looked up only when one is found).
 */
function checkF16(path: string, name: string, bits: Uint16Array): void {
  const w = new Uint32Array(bits.buffer, bits.byteOffset, bits.length >>> 1);
  const M = 0x7c007c00;
  const A = 0x04000400;
  let acc = bits.length % 2 === 1 ? (bits[bits.length - 1] & 0x7c00) + 0x0400 : 0;
  const l4 = w.length & ~3;
  for (let i = 0; i < l4; i += 4) acc |= ((w[i] & M) + A) | ((w[i + 1] & M) + A) | ((w[i + 2] & M) + A) | ((w[i + 3] & M) + A);
  for (let i = l4; i < w.length; i++) acc |= (w[i] & M) + A;
  if ((acc & 0x80008000) === 0) return;
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i] & 0x7c00) === 0x7c00) {
      const what = bits[i] & 0x3ff ? 'NaN' : bits[i] & 0x8000 ? '-Infinity' : 'Infinity';
      throw new CheckpointError(path, `tensor '${name}' value ${what} at index ${i} is not finite; weights must be finite`, name);
    }
  }
}

function convert(path: string, name: string, n: number, get: (i: number) => number): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const v = get(i);
    if (!(Math.abs(v) <= F16_MAX)) {
      const why = Number.isFinite(v) ? `is outside f16 range (±${F16_MAX}); tknp stores weights in f16` : 'is not finite; weights must be finite';
      throw new CheckpointError(path, `tensor '${name}' value ${v} at index ${i} ${why}`, name);
    }
    out[i] = f32ToF16Bits(v);
  }
  return out;
}
