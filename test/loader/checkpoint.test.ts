import { mkdtempSync, writeFileSync, readFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/loader/checkpoint.js';
import { CheckpointError, ModelLoadError } from '../../src/loader/errors.js';
import { bytesOf, writeSafetensors } from '../../src/loader/safetensors_writer.js';
import { f16BitsToF32, toF16 } from '../../src/util/f16.js';

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'tknp-ckpt-'));
}

function bf16(values: number[]): Uint16Array {
  const f = new Float32Array(values);
  const u = new Uint32Array(f.buffer);
  return Uint16Array.from(u, (x) => x >>> 16);
}

describe('Checkpoint', () => {
  it('reads f16, bf16 and f32 tensors as f16 and checks shapes', async () => {
    const d = dir();
    writeSafetensors(join(d, 'model.safetensors'), {
      a: { dtype: 'F16', shape: [2, 2], data: bytesOf(toF16([1, -2, 0.5, 3])) },
      b: { dtype: 'BF16', shape: [3], data: bytesOf(bf16([1.5, -0.25, 100])) },
      c: { dtype: 'F32', shape: [2], data: bytesOf(new Float32Array([0.1, 7])) },
    });
    const ck = await Checkpoint.open(d);
    expect([...(await ck.readF16('a', [2, 2]))].map(f16BitsToF32)).toEqual([1, -2, 0.5, 3]);
    expect([...(await ck.readF16('b', [3]))].map(f16BitsToF32)).toEqual([1.5, -0.25, 100]);
    const c = [...(await ck.readF16('c', [2]))].map(f16BitsToF32);
    expect(c[0]).toBeCloseTo(0.1, 3);
    expect(c[1]).toBe(7);
    await expect(ck.readF16('a', [4])).rejects.toThrow(/shape \[2,2\], expected \[4\]/);
    await expect(ck.readF16('zzz', [1])).rejects.toThrow(/missing tensor 'zzz'/);
    await ck.close();
  });

  it('rejects bf16 values outside the f16 range, naming the tensor', async () => {
    const d = dir();
    writeSafetensors(join(d, 'model.safetensors'), { big: { dtype: 'BF16', shape: [2], data: bytesOf(bf16([1, 1e6])) } });
    const ck = await Checkpoint.open(d);
    await expect(ck.readF16('big', [2])).rejects.toThrow(/'big' value 99\d+ at index 1 is outside f16 range/);
    await expect(ck.readF16('big', [2])).rejects.toBeInstanceOf(CheckpointError);
    await ck.close();
  });

  it('refuses NaN and ±Inf in f16 at every position (odd lengths too), and keeps ±65504 and subnormals', async () => {
    const d = dir();
    const finite = [0x7bff, 0xfbff, 0x0001, 0x8001, 0x3c00, 0x0000, 0x8000]; // ±65504, ±tiny, 1, ±0
    for (const [len, pos, bits, what] of [[7, 0, 0x7e00, 'NaN'], [7, 6, 0xfc00, '-Infinity'], [9, 5, 0x7c00, 'Infinity'], [8, 3, 0xfe01, 'NaN'], [1, 0, 0x7c01, 'NaN']] as const) {
      const v = Uint16Array.from({ length: len }, (_, i) => finite[i % finite.length]);
      writeSafetensors(join(d, 'model.safetensors'), { ok: { dtype: 'F16', shape: [len], data: bytesOf(v.slice()) } });
      let ck = await Checkpoint.open(d);
      expect([...(await ck.readF16('ok', [len]))]).toEqual([...v]);
      await ck.close();
      v[pos] = bits;
      writeSafetensors(join(d, 'model.safetensors'), { bad: { dtype: 'F16', shape: [len], data: bytesOf(v) } });
      ck = await Checkpoint.open(d);
      await expect(ck.readF16('bad', [len])).rejects.toThrow(`tensor 'bad' value ${what} at index ${pos} is not finite`);
      await ck.close();
    }
  });

  it('names the file for a corrupted header, a truncated file and a missing shard', async () => {
    const d = dir();
    const p = join(d, 'model.safetensors');
    writeSafetensors(p, { a: { dtype: 'F16', shape: [4], data: bytesOf(toF16([1, 2, 3, 4])) } });
    const good = readFileSync(p);
    const bad = Buffer.from(good);
    bad.write('!', 9); // break the JSON
    writeFileSync(p, bad);
    await expect(Checkpoint.open(d)).rejects.toThrow(new RegExp(`${p}: corrupt header: not valid JSON`));
    writeFileSync(p, good);
    truncateSync(p, good.length - 2);
    await expect(Checkpoint.open(d)).rejects.toThrow(/truncated: tensor 'a' ends at byte/);
    const huge = Buffer.from(good);
    huge.writeBigUInt64LE(10n ** 12n, 0);
    writeFileSync(p, huge);
    await expect(Checkpoint.open(d)).rejects.toThrow(/header length 1000000000000 does not fit/);

    const s = dir();
    writeSafetensors(join(s, 'model-00001-of-00002.safetensors'), { a: { dtype: 'F16', shape: [1], data: bytesOf(toF16([1])) } });
    writeFileSync(
      join(s, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }),
    );
    const err = await Checkpoint.open(s).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as ModelLoadError).file).toBe(join(s, 'model-00002-of-00002.safetensors'));
    expect((err as Error).message).toMatch(/missing shard/);
  });

  it('reads sharded checkpoints through the index', async () => {
    const s = dir();
    writeSafetensors(join(s, 'model-00001-of-00002.safetensors'), { a: { dtype: 'F16', shape: [1], data: bytesOf(toF16([2])) } });
    writeSafetensors(join(s, 'model-00002-of-00002.safetensors'), { b: { dtype: 'F16', shape: [1], data: bytesOf(toF16([3])) } });
    writeFileSync(
      join(s, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }),
    );
    const ck = await Checkpoint.open(s);
    expect(f16BitsToF32((await ck.readF16('b', [1]))[0])).toBe(3);
    expect(ck.totalBytes()).toBe(4);
    await ck.close();
  });
});
