// At-load quantization on threads (model/at_load_quantizer.ts, quant/quant_pool.ts, quant_worker.ts):
// blocks of rows quantized by 1 or several threads, in or out of the planned order, stack to the bits
// of the serial quantizer on the whole tensor (f16, bf16 and f32 checkpoints, awkward shapes and
// block sizes); a bad value in any block is the reader's CheckpointError with its index in the whole
// tensor; the thread count's variable is checked. Needs dist/ (the worker runs compiled).
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/loader/errors.js';
import { decodeF16, type FloatDType } from '../../src/loader/f16_decode.js';
import { AtLoadQuantizer, type AtLoadTensor, type RowReads } from '../../src/model/at_load_quantizer.js';
import { quantizeF16, type PackedWeight } from '../../src/quant/packed_weight.js';
import { QuantPool, quantThreads, QuantThreadsError } from '../../src/quant/quant_pool.js';
import { atLoadGroupSize, resolveWeightFormat, type Quantization } from '../../src/quant/weight_format.js';
import { f32ToF16Bits } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';

interface Stored {
  readonly dtype: FloatDType;
  readonly raw: Uint8Array;
}

/** Random weights [N, K] of mixed magnitudes stored in `dtype`'s bytes. */
function store(rng: Rng, N: number, K: number, dtype: FloatDType): Stored {
  const v = Array.from({ length: N * K }, (_, i) => (i % 97 === 0 ? 0 : rng.normal() * 10 ** rng.int(-3, 0)));
  if (dtype === 'F32') return { dtype, raw: new Uint8Array(Float32Array.from(v).buffer) };
  const bits = dtype === 'F16' ? Uint16Array.from(v, f32ToF16Bits) : Uint16Array.from(v, (x) => new Uint32Array(Float32Array.of(x).buffer)[0] >>> 16);
  return { dtype, raw: new Uint8Array(bits.buffer) };
}

/** RowReads over in-memory tensors: each block copied into a buffer of its own, as the file reader does. */
function memoryReads(tensors: ReadonlyMap<string, Stored>, ticks: number[]): RowReads {
  return {
    readFloatRows: async (name, shape, r0, r1) => {
      const t = tensors.get(name)!;
      const row = shape[1] * (t.dtype === 'F32' ? 4 : 2);
      return { raw: t.raw.slice(r0 * row, r1 * row), dtype: t.dtype, path: `/ckpt/${name}.safetensors`, indexBase: r0 * shape[1] };
    },
    tick: (bytes) => ticks.push(bytes),
  };
}

const same = (a: PackedWeight, b: PackedWeight) => {
  expect(a.shape).toEqual(b.shape);
  expect(a.groupSize).toBe(b.groupSize);
  expect(a.qweight).toEqual(b.qweight);
  expect(a.scales).toEqual(b.scales);
  expect(a.zeros).toEqual(b.zeros);
};

describe('at-load quantization threads', () => {
  it('picks min(cores - 1, 8) threads, or $TKNP_QUANT_THREADS, refusing what is not a count', () => {
    expect(quantThreads({}, 16)).toBe(8);
    expect(quantThreads({}, 4)).toBe(3);
    expect(quantThreads({}, 2)).toBe(1);
    expect(quantThreads({}, 1)).toBe(1);
    expect(quantThreads({ TKNP_QUANT_THREADS: '1' }, 16)).toBe(1);
    expect(quantThreads({ TKNP_QUANT_THREADS: '12' }, 2)).toBe(12);
    for (const bad of ['0', '-1', '2.5', 'four', '65', '1e1']) {
      expect(() => quantThreads({ TKNP_QUANT_THREADS: bad }, 16)).toThrow(QuantThreadsError);
      expect(() => quantThreads({ TKNP_QUANT_THREADS: bad }, 16)).toThrow(`TKNP_QUANT_THREADS=${JSON.stringify(bad)} is not a thread count`);
    }
  });

  for (const q of ['int4', 'int8'] as Quantization[]) {
    it(`${q}: 1 and 3 threads, blocks of awkward row counts, equal the serial quantizer bitwise`, async () => {
      const format = resolveWeightFormat(q, null);
      const rng = new Rng(q === 'int4' ? 4 : 8);
      // [N, K] and dtype; K multiples of 32 (int4 groups 128, 64 or 32), N awkward
      const shapes: [string, number, number, FloatDType][] = [
        ['a', 37, 96, 'F16'], ['b', 5, 128, 'BF16'], ['c', 130, 64, 'F32'], ['d', 1, 256, 'BF16'], ['e', 19, 160, 'F16'], ['f', 3, 32, 'F16'],
      ];
      const tensors = new Map(shapes.map(([n, N, K, dt]) => [n, store(rng, N, K, dt)] as const));
      const serial = new Map(shapes.map(([n, N, K, dt]) => [n, quantizeF16(decodeF16('x', n, dt, tensors.get(n)!.raw), [N, K], format.bits as 4 | 8, atLoadGroupSize(format, K, n), format.symmetric)] as const));
      // 'c' is taken before its turn (a, b started on the way), 'f' is not in the plan
      const plan: AtLoadTensor[] = shapes.slice(0, 5).map(([name, N, K]) => ({ name, shape: [N, K] }));
      const order = ['c', 'a', 'b', 'f', 'd', 'e'];
      for (const [threads, blockElems] of [[1, 300], [3, 300], [3, 1000], [2, 1]] as const) {
        const pool = new QuantPool(threads);
        try {
          const ticks: number[] = [];
          const quantizer = new AtLoadQuantizer(pool, memoryReads(tensors, ticks), format, plan, { blockElems, aheadElems: 2000 });
          for (const name of order) {
            const [, N, K] = shapes.find((s) => s[0] === name)!;
            same(await quantizer.take(name, [N, K]), serial.get(name)!);
          }
          expect(ticks.sort((x, y) => x - y)).toEqual(shapes.map(([, N, K]) => N * K * 2).sort((x, y) => x - y));
          expect(quantizer.summary()).toMatch(new RegExp(`^quantized 6 tensors on ${threads} threads? \\(\\d+\\.\\d s of thread time; loading waited \\d+\\.\\d s\\)$`));
        } finally {
          await pool.close();
        }
      }
    });
  }

  it('a bad value in any block is a CheckpointError naming the tensor and its index in the whole tensor', async () => {
    const format = resolveWeightFormat('int4', null);
    const K = 64;
    for (const [dtype, value, index, why] of [
      ['BF16', NaN, 5 * K + 3, 'value NaN at index 323 is not finite'],
      ['F16', -Infinity, 9 * K, "value -Infinity at index 576 is not finite"],
      ['F32', 1e6, 10 * K - 1, 'value 1000000 at index 639 is outside f16 range'],
    ] as const) {
      const t = store(new Rng(1), 10, K, dtype);
      if (dtype === 'F32') new Float32Array(t.raw.buffer)[index] = value;
      else new Uint16Array(t.raw.buffer)[index] = dtype === 'F16' ? f32ToF16Bits(value) : new Uint32Array(Float32Array.of(value).buffer)[0] >>> 16;
      const pool = new QuantPool(2);
      try {
        const quantizer = new AtLoadQuantizer(pool, memoryReads(new Map([['w', t]]), []), format, [], { blockElems: 2 * K });
        const got = quantizer.take('w', [10, K]);
        await expect(got).rejects.toThrow(CheckpointError);
        await expect(got).rejects.toThrow(`/ckpt/w.safetensors: tensor 'w' ${why}`);
      } finally {
        await pool.close();
      }
    }
  });
});
