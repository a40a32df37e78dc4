// Checkpoint float decoding (src/loader/f16_decode.ts) against the scalar conversions of util/f16.ts:
// every bf16 pattern, f32 values across f16's range (normal, subnormal, ties), f16 passed through;
// out-of-range and non-finite values refused naming the index counted from indexBase.
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/loader/errors.js';
import { decodeF16 } from '../../src/loader/f16_decode.js';
import { bf16BitsToF32, f32ToF16Bits } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';

const bytes = (a: Uint16Array | Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('decodeF16', () => {
  it('bf16: every in-range pattern rounds as f32ToF16Bits does; the others are refused', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, h) => h);
    const ok = all.filter((h) => Math.abs(bf16BitsToF32(h)) <= 65504);
    expect(ok.length).toBeGreaterThan(30000);
    const got = decodeF16('f', 'w', 'BF16', bytes(ok));
    expect(Array.from(got)).toEqual(Array.from(ok, (h) => f32ToF16Bits(bf16BitsToF32(h))));
    for (const h of [0x7f80, 0xff80, 0x7fc0, 0x4780, 0xc7ff]) {
      const v = bf16BitsToF32(h);
      const why = Number.isFinite(v) ? 'is outside f16 range' : 'is not finite';
      expect(() => decodeF16('f', 'w', 'BF16', bytes(Uint16Array.of(0x3f80, h)), 10)).toThrow(new CheckpointError('f', `tensor 'w' value ${v} at index 11 ${why}${Number.isFinite(v) ? ' (±65504); tknp stores weights in f16' : '; weights must be finite'}`, 'w'));
    }
  });

  it('f32: rounds as f32ToF16Bits does, from an unaligned copy too', () => {
    const rng = new Rng(3);
    const v = Float32Array.from({ length: 4000 }, (_, i) => (i % 4 === 0 ? Math.max(-6e4, Math.min(6e4, rng.normal() * 2 ** rng.int(-26, 13))) : i % 4 === 1 ? 65504 * (rng.next() * 2 - 1) : rng.normal() * 1e-6));
    const want = Array.from(v, f32ToF16Bits);
    expect(Array.from(decodeF16('f', 'w', 'F32', bytes(v)))).toEqual(want);
    const shifted = new Uint8Array(v.byteLength + 1);
    shifted.set(bytes(v), 1);
    expect(Array.from(decodeF16('f', 'w', 'F32', shifted.subarray(1)))).toEqual(want);
    expect(() => decodeF16('f', 'w', 'F32', bytes(Float32Array.of(0, 65520)))).toThrow("tensor 'w' value 65520 at index 1 is outside f16 range");
  });

  it('f16: the bits as stored, a view where the bytes own their buffer; NaN and Inf refused', () => {
    const h = Uint16Array.of(0x3c00, 0x8001, 0x7bff, 0xfbff);
    const got = decodeF16('f', 'w', 'F16', bytes(h));
    expect(Array.from(got)).toEqual(Array.from(h));
    expect(got.buffer).toBe(h.buffer);
    expect(() => decodeF16('f', 'w', 'F16', bytes(Uint16Array.of(0, 0, 0xfc00)), 7)).toThrow("tensor 'w' value -Infinity at index 9 is not finite");
  });
});
