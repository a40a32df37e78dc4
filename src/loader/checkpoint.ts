// A Hugging Face checkpoint directory: single `model.safetensors` or sharded
// (`model.safetensors.index.json` → weight_map). Tensors are read one at a time and
// converted to f16 bit patterns, with a range check where the source dtype is wider.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bf16BitsToF32, f32ToF16Bits } from '../util/f16.js';
import { ModelLoadError } from './errors.js';
import { SafetensorsFile, type TensorInfo } from './safetensors.js';

const F16_MAX = 65504;

export class Checkpoint {
  private constructor(
    readonly dir: string,
    private readonly files: readonly SafetensorsFile[],
    private readonly index: ReadonlyMap<string, SafetensorsFile>,
  ) {}

  static async open(dir: string): Promise<Checkpoint> {
    const indexPath = join(dir, 'model.safetensors.index.json');
    const single = join(dir, 'model.safetensors');
    let shardNames: string[];
    let weightMap: Record<string, string> | undefined;
    if (existsSync(indexPath)) {
      try {
        weightMap = (JSON.parse(readFileSync(indexPath, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
      } catch (e) {
        throw new ModelLoadError(indexPath, `not a valid index: ${(e as Error).message}`);
      }
      if (!weightMap || typeof weightMap !== 'object') throw new ModelLoadError(indexPath, 'has no weight_map');
      shardNames = [...new Set(Object.values(weightMap))].sort();
      for (const s of shardNames) {
        if (!existsSync(join(dir, s))) throw new ModelLoadError(join(dir, s), 'missing shard listed in model.safetensors.index.json');
      }
    } else if (existsSync(single)) {
      shardNames = ['model.safetensors'];
    } else {
      throw new ModelLoadError(dir, 'no model.safetensors or model.safetensors.index.json found');
    }
    const files: SafetensorsFile[] = [];
    try {
      for (const s of shardNames) files.push(await SafetensorsFile.open(join(dir, s)));
    } catch (e) {
      await Promise.all(files.map((f) => f.close()));
      throw e;
    }
    const index = new Map<string, SafetensorsFile>();
    for (const f of files) for (const name of f.tensors.keys()) index.set(name, f);
    if (weightMap) {
      for (const [name, shard] of Object.entries(weightMap)) {
        if (!index.has(name)) throw new ModelLoadError(join(dir, shard), `tensor '${name}' listed in the index is not in the shard`);
      }
    }
    return new Checkpoint(dir, files, index);
  }

  has(name: string): boolean {
    return this.index.has(name);
  }

  info(name: string): TensorInfo {
    const f = this.index.get(name);
    if (!f) throw new ModelLoadError(this.dir, `missing tensor '${name}'`);
    return f.tensors.get(name)!;
  }

  /** Total bytes of all tensors (for progress). */
  totalBytes(): number {
    let n = 0;
    for (const f of this.files) for (const t of f.tensors.values()) n += t.end - t.begin;
    return n;
  }

  /**
   * Reads a tensor as f16 bit patterns, checking its shape. bf16/f32 sources are converted
   * with a range check: a value beyond f16's ±65504 is an error naming the tensor.
   */
  async readF16(name: string, shape: readonly number[]): Promise<Uint16Array> {
    const f = this.index.get(name);
    if (!f) throw new ModelLoadError(this.dir, `missing tensor '${name}'`);
    const t = f.tensors.get(name)!;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ModelLoadError(f.path, `tensor '${name}' has shape [${t.shape}], expected [${shape}]`);
    }
    const raw = await f.read(name);
    const n = raw.length / (t.dtype === 'F32' ? 4 : 2);
    switch (t.dtype) {
      case 'F16': {
        const out = new Uint16Array(n);
        new Uint8Array(out.buffer).set(raw);
        return out;
      }
      case 'BF16':
        return convert(f.path, name, n, (i) => bf16BitsToF32(raw.readUInt16LE(i * 2)));
      case 'F32':
        return convert(f.path, name, n, (i) => raw.readFloatLE(i * 4));
      default:
        throw new ModelLoadError(f.path, `tensor '${name}' has dtype ${t.dtype}; expected F16, BF16 or F32`);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }
}

function convert(path: string, name: string, n: number, get: (i: number) => number): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const v = get(i);
    if (!(Math.abs(v) <= F16_MAX)) {
      throw new ModelLoadError(path, `tensor '${name}' value ${v} at index ${i} is outside f16 range (±${F16_MAX}); tknp stores weights in f16`);
    }
    out[i] = f32ToF16Bits(v);
  }
  return out;
}
