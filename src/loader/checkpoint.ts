// A Hugging Face checkpoint directory: single `model.safetensors` or sharded
// (`model.safetensors.index.json` → weight_map). Shard names from the index are plain file names
// inside the directory; every tensor lives in exactly one shard, the one the index names. Tensors
// are read one at a time and converted to f16 bit patterns; every value is checked (NaN and
// ±Inf are refused in every dtype, values beyond f16's range where the source dtype is wider).
import { join } from 'node:path';
import { CheckpointError, ModelFileError } from './errors.js';
import { decodeF16, type FloatDType } from './f16_decode.js';
import { exists, plainFileName, readJsonObject } from './model_files.js';
import { SafetensorsFile, type TensorInfo } from './safetensors.js';

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
    const { f, dtype } = this.floatTensor(name, shape);
    return decodeF16(f.path, name, dtype, await f.read(name));
  }

  /**
   * Rows [r0, r1) of the float tensor `name` [rows, ...] as raw bytes in their own buffer (for a
   * thread to decode with decodeF16, counting indices from `indexBase`), shape and dtype checked as readF16 does.
   */
  async readFloatRows(name: string, shape: readonly number[], r0: number, r1: number): Promise<{ raw: Uint8Array; dtype: FloatDType; path: string; indexBase: number }> {
    const { f, dtype } = this.floatTensor(name, shape);
    const rowElems = shape.slice(1).reduce((a, b) => a * b, 1);
    const bytes = dtype === 'F32' ? 4 : 2;
    return { raw: await f.readRange(name, r0 * rowElems * bytes, r1 * rowElems * bytes), dtype, path: f.path, indexBase: r0 * rowElems };
  }

  /** The shard of float tensor `name`, its shape checked against `shape` and its dtype against F16, BF16, F32. */
  private floatTensor(name: string, shape: readonly number[]): { f: SafetensorsFile; dtype: FloatDType } {
    const f = this.index.get(name);
    if (!f) throw new CheckpointError(this.dir, `missing tensor '${name}'`, name);
    const t = f.tensors.get(name)!;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(f.path, `tensor '${name}' has shape [${t.shape}], expected [${shape}]`, name);
    }
    if (t.dtype !== 'F16' && t.dtype !== 'BF16' && t.dtype !== 'F32') throw new CheckpointError(f.path, `tensor '${name}' has dtype ${t.dtype}; expected F16, BF16 or F32`, name);
    return { f, dtype: t.dtype };
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
