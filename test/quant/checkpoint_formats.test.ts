// AWQ and GPTQ checkpoint packings (src/quant/awq.ts, gptq.ts) repacked into tknp's layout,
// against hand-worked words: the formats' documented packing written out here digit by digit.
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/loader/errors.js';
import { awqValue, unpackAwq } from '../../src/quant/awq.js';
import { gptqStoredZero, unpackGptq } from '../../src/quant/gptq.js';
import { dequantize, quantValue, zeroPoint } from '../../src/quant/packed_weight.js';
import { toF16 } from '../../src/util/f16.js';

const ONE = 0x3c00; // f16 1.0
const HALF = 0x3800; // f16 0.5

describe('AWQ (GEMM packing)', () => {
  it('reads a word in the interleaved order 0,2,4,6,1,3,5,7', () => {
    // Nibble i of 0x76543210 holds i; AWQ puts feature (0,2,4,6,1,3,5,7)[i] in nibble i, so
    // features 0..7 read nibbles 0,4,1,5,2,6,3,7: the values 0,4,1,5,2,6,3,7.
    const word = Uint32Array.of(0x76543210);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((n) => awqValue(word, 0, n, 8))).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
    // The second word of a row holds features 8..15 the same way.
    const two = Uint32Array.of(0, 0xf0000000);
    expect(awqValue(two, 0, 15, 16)).toBe(15); // feature 15 = 8 + 7 sits in nibble 7
    expect(awqValue(two, 0, 11, 16)).toBe(0);
  });

  it('repacks qweight [K, N/8], qzeros and scales [K/g, N] into [N, K] rows', () => {
    // K = 8 inputs, N = 8 outputs, one group. Row k = 0 of qweight is 0x76543210 (features get 0,4,1,5,2,6,3,7),
    // row k = 3 is 0x11111111 (every feature 1), the other rows 0.
    const qweight = new Uint32Array(8);
    qweight[0] = 0x76543210;
    qweight[3] = 0x11111111;
    // qzeros: nibble 0 (feature 0) = 9, nibble 4 (feature 1) = 2; scales: 1 everywhere but feature 1 (0.5).
    const qzeros = Uint32Array.of(0x00020009);
    const scales = new Uint16Array(8).fill(ONE);
    scales[1] = HALF;
    const p = unpackAwq({ qweight, qzeros, scales }, [8, 8], 8, 'm', 'f');
    // tknp's row n holds k = 0..7 in nibbles 0..7: feature 1 has 4 at k = 0 and 1 at k = 3.
    expect(p.qweight[1]).toBe(0x00001004);
    expect(p.qweight[7]).toBe(0x00001007);
    expect(p.qweight[0]).toBe(0x00001000);
    expect([zeroPoint(p, 0, 0), zeroPoint(p, 1, 0), zeroPoint(p, 2, 0)]).toEqual([9, 2, 0]);
    const w = dequantize(p);
    expect(Array.from(w.subarray(0, 8))).toEqual([-9, -9, -9, -8, -9, -9, -9, -9]); // (q - 9) · 1
    expect(Array.from(w.subarray(8, 16))).toEqual([1, -1, -1, -0.5, -1, -1, -1, -1]); // (q - 2) · 0.5
    expect(p).toMatchObject({ bits: 4, symmetric: false, groupSize: 8, shape: [8, 8] });
  });

  it('keeps groups along K: scales and zeros of group gi are row gi of the checkpoint', () => {
    // K = 16, g = 8: two groups; feature 2 (nibble 1) has zero 3 in group 0 and 5 in group 1.
    const qweight = new Uint32Array(16);
    const qzeros = Uint32Array.of(0x00000030, 0x00000050);
    const scales = toF16([1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 4, 1, 1, 1, 1, 1]); // feature 2: 2 then 4
    const p = unpackAwq({ qweight, qzeros, scales }, [8, 16], 8, 'm', 'f');
    expect([zeroPoint(p, 2, 0), zeroPoint(p, 2, 1)]).toEqual([3, 5]);
    const w = dequantize(p);
    expect(w[2 * 16 + 0]).toBe(-6); // (0 - 3) · 2
    expect(w[2 * 16 + 8]).toBe(-20); // (0 - 5) · 4
  });
});

describe('GPTQ', () => {
  it('transposes qweight [K/8, N] words (already packed along K) and adds 1 to v1 zeros', () => {
    // K = 8, N = 8, one group, bits 4. Output 0's word holds k = 0..7 as 0..7; output 3's 8..15.
    const qweight = new Uint32Array(8);
    qweight[0] = 0x76543210;
    qweight[3] = 0xfedcba98;
    // qzeros [1, 1]: stored zero of output 1 (nibble 1) is 7, the rest 0; v1 adds 1: zeros 1, 8, 1, ...
    const qzeros = Uint32Array.of(0x00000070);
    const scales = new Uint16Array(8).fill(HALF);
    const v1 = unpackGptq({ qweight, qzeros, scales, gIdx: new Int32Array(8) }, [8, 8], { bits: 4, groupSize: 8, symmetric: false, zeroOffset: 1 }, 'm', 'f');
    expect(v1.qweight[0]).toBe(0x76543210);
    expect(v1.qweight[3]).toBe(0xfedcba98);
    expect([0, 1, 2].map((n) => zeroPoint(v1, n, 0))).toEqual([1, 8, 1]);
    expect(Array.from(dequantize(v1).subarray(0, 8))).toEqual([-0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3]); // (k - 1) · 0.5
    expect(quantValue(v1, 3, 7)).toBe(15);
    const v2 = unpackGptq({ qweight, qzeros, scales, gIdx: null }, [8, 8], { bits: 4, groupSize: 8, symmetric: false, zeroOffset: 0 }, 'm', 'f');
    expect([0, 1].map((n) => zeroPoint(v2, n, 0))).toEqual([0, 7]);
  });

  it('reads 4-bit zeros packed along N, plain order', () => {
    const qzeros = Uint32Array.of(0x87654321, 0x0000000f);
    expect([0, 1, 7, 8].map((n) => gptqStoredZero(qzeros, 0, n, 16, 4))).toEqual([1, 2, 8, 15]);
    expect(gptqStoredZero(Uint32Array.of(0x04030201), 0, 2, 4, 8)).toBe(3);
  });

  it('stores 8-bit symmetric values as signed bytes (q - 128) and keeps no zeros', () => {
    // K = 4, N = 4, bits 8: one word per output. Bytes 0x80, 0x81, 0x82, 0x7f: q - 128 = 0, 1, 2, -1.
    const qweight = Uint32Array.of(0x7f828180, 0, 0, 0);
    const qzeros = Uint32Array.of(0x7f7f7f7f); // v1: 127 + 1 = 128 for every output
    const scales = toF16([0.25, 1, 1, 1]);
    const p = unpackGptq({ qweight, qzeros, scales, gIdx: null }, [4, 4], { bits: 8, groupSize: 4, symmetric: true, zeroOffset: 1 }, 'm', 'f');
    expect(p.qweight[0]).toBe(0xff020100);
    expect(p.zeros).toBeNull();
    expect(Array.from(dequantize(p).subarray(0, 4))).toEqual([0, 0.25, 0.5, -0.25]);
    expect(p.qweight[1]).toBe(0x80808080); // stored bytes 0: q - 128 = -128, two's complement 0x80
  });

  it('refuses a permuted g_idx and symmetric zeros that are not 2^(bits-1)', () => {
    const base = { qweight: new Uint32Array(16), scales: new Uint16Array(16).fill(ONE) };
    const l = { bits: 4, groupSize: 8, symmetric: false, zeroOffset: 1 } as const;
    const gIdx = Int32Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1);
    expect(() => unpackGptq({ ...base, qzeros: new Uint32Array(2), gIdx }, [8, 16], l, 'model.layers.0.mlp.down_proj', 'x.safetensors')).toThrow(
      /tensor 'model.layers.0.mlp.down_proj.g_idx' has group 0 at index 11, expected 1/,
    );
    const err = (() => {
      try {
        unpackGptq({ ...base, qzeros: Uint32Array.of(0x77777776, 0x77777777), gIdx: null }, [8, 16], { ...l, symmetric: true }, 'q', 'x.safetensors');
      } catch (e) {
        return e as CheckpointError;
      }
    })();
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err!.message).toMatch(/'q.qzeros' holds zero 7 for group 0 of output 0, but quantization_config.sym true means every zero is 8/);
    expect(err!.field).toBe('q.qzeros');
  });
});
