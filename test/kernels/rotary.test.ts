import { describe, expect, it } from 'vitest';
import { rotary, type RotaryOptions } from '../../src/kernels/rotary.js';
import { rotaryRef } from '../../src/kernels/ref/rotary.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { attentionScaling, RopeConfigError, ropeCosSinTable, ropeInvFreq, ropeParamsOf, ropeTable, type RopeParams } from '../../src/model/rope.js';
import { parseModelConfig } from '../../src/loader/model_config.js';
import { roundF16, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectRotated, noGpuReason, readF32, run, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

// Llama 3.1 8B's rope: theta 500000, head_dim 128, rope_scaling llama3 factor 8, 1, 4, 8192.
const LLAMA31: RopeParams = {
  theta: 500000,
  rotaryDim: 128,
  type: 'llama3',
  factor: 8,
  lowFreqFactor: 1,
  highFreqFactor: 4,
  originalMaxPositionEmbeddings: 8192,
};

describe('rope tables (CPU)', () => {
  it('default inverse frequencies are theta^(-2i/d)', () => {
    const f = ropeInvFreq({ theta: 10000, rotaryDim: 128 });
    expect(f.length).toBe(64);
    // By hand: 10000^0 = 1, 10000^(-32/128) = 0.1, 10000^(-64/128) = 0.01, 10000^(-96/128) = 0.001.
    expect(f[0]).toBe(1);
    expect(f[16]).toBeCloseTo(0.1, 14);
    expect(f[32]).toBeCloseTo(0.01, 15);
    expect(f[48]).toBeCloseTo(0.001, 16);
    // Geometric: each step multiplies by 10000^(-2/128).
    for (let i = 1; i < 64; i++) expect(f[i] / f[i - 1]).toBeCloseTo(10000 ** (-1 / 64), 12);
  });

  it("'linear' scaling divides every frequency by factor", () => {
    const base = ropeInvFreq({ theta: 10000, rotaryDim: 64 });
    const lin = ropeInvFreq({ theta: 10000, rotaryDim: 64, type: 'linear', factor: 4 });
    lin.forEach((v, i) => expect(v).toBeCloseTo(base[i] / 4, 16));
  });

  it("'llama3' scaling matches values worked out by hand from HF's _compute_llama3_parameters", () => {
    const f = ropeInvFreq(LLAMA31);
    const base = ropeInvFreq({ theta: 500000, rotaryDim: 128 });
    // By hand: wavelength_i = 2π · 500000^(i/64). High-frequency band (kept): wavelength <
    // 8192/4 = 2048 ⇔ i < 64·ln(2048/2π)/ln(500000) = 28.22. Low-frequency band (÷ 8):
    // wavelength > 8192/1 ⇔ i > 64·ln(8192/2π)/ln(500000) = 34.98. i = 29..34 are blended.
    for (let i = 0; i <= 28; i++) expect(f[i]).toBe(base[i]);
    for (let i = 35; i < 64; i++) expect(f[i]).toBeCloseTo(base[i] / 8, 18);
    // i = 32: base = 500000^(-1/2) = 1.41421356e-3; wavelength = 2π/base = 4442.883;
    // s = (8192/4442.883 − 1)/(4 − 1) = 0.281287; scaled = (1 − s)·base/8 + s·base = 5.24846e-4.
    expect(f[32]).toBeCloseTo(5.24846e-4, 9);
    // i = 29: base = 500000^(-58/128) = 2.616099e-3, wavelength 2401.738, s = 0.0903 → 2.166571e-3.
    expect(f[29]).toBeCloseTo(2.166571e-3, 9);
    // i = 34: base = 9.384739e-4, wavelength 6695.109, s = 0.074536 → 1.785078e-4.
    expect(f[34]).toBeCloseTo(1.785078e-4, 10);
    // The blend is continuous at the band edges and moves monotonically between them.
    for (let i = 29; i <= 34; i++) expect(f[i] / base[i]).toBeGreaterThan(f[i + 1] / base[i + 1]);
    expect(f[29] / base[29]).toBeLessThan(1);
    expect(f[34] / base[34]).toBeGreaterThan(1 / 8);
  });

  it('reads Hugging Face configs (rope_scaling, rope_parameters, legacy type, partial rotary) through the loader', () => {
    const base = { architectures: ['LlamaForCausalLM'], hidden_size: 4096, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 32, vocab_size: 16, max_position_embeddings: 8192 };
    const params = (extra: Record<string, unknown>, maxModelLen = 8192) => ropeParamsOf(parseModelConfig({ ...base, ...extra }), maxModelLen);
    const llama = params({ rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } });
    expect(llama).toMatchObject(LLAMA31);
    expect(ropeInvFreq(llama)).toEqual(ropeInvFreq(LLAMA31));
    expect(params({ head_dim: 64, hidden_size: 512, num_attention_heads: 8, rope_parameters: { rope_type: 'default', rope_theta: 1e6 } })).toMatchObject({ theta: 1e6, rotaryDim: 64, type: 'default' });
    expect(params({ hidden_size: 2048, num_attention_heads: 16, rope_scaling: { type: 'linear', factor: 2 } })).toMatchObject({ theta: 10000, rotaryDim: 128, type: 'linear', factor: 2 });
    expect(params({ hidden_size: 2560, num_attention_heads: 32, head_dim: 80, partial_rotary_factor: 0.4 }).rotaryDim).toBe(32);
    expect(params({ hidden_size: 2560, num_attention_heads: 32, head_dim: 80, rope_parameters: { rope_theta: 1e4, partial_rotary_factor: 0.5 } }).rotaryDim).toBe(40);
    // Phi-3's early 'su' is longrope; its original context sits at the top level.
    const su = params({ original_max_position_embeddings: 4096, max_position_embeddings: 131072, rope_scaling: { type: 'su', short_factor: Array(64).fill(1), long_factor: Array(64).fill(2) } });
    expect(su).toMatchObject({ type: 'longrope', factor: 32, originalMaxPositionEmbeddings: 4096 });
    expect(() => ropeInvFreq({ theta: 10000, rotaryDim: 64, type: 'llama3', factor: 8 })).toThrow(RopeConfigError);
    expect(() => ropeInvFreq({ theta: 10000, rotaryDim: 63 })).toThrow(RopeConfigError);
    expect(attentionScaling(LLAMA31)).toBe(1);
  });

  // Qwen2.5's documented long-context setting: theta 1e6, head_dim 128, yarn factor 4 over 32768 tokens.
  const YARN: RopeParams = { theta: 1e6, rotaryDim: 128, type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 32768 };

  it("'yarn' matches values worked out by hand from HF's _compute_yarn_parameters", () => {
    const f = ropeInvFreq(YARN);
    const base = ropeInvFreq({ theta: 1e6, rotaryDim: 128 });
    // By hand: dim(r) = 128·ln(32768 / (2π·r)) / (2·ln 1e6): dim(32) = 23.596 → low = 23, dim(1) = 39.651 → high = 40.
    // ramp(i) = clamp((i − 23) / 17, 0, 1); f_i = base_i · (1 − ramp) + base_i / 4 · ramp.
    for (let i = 0; i <= 23; i++) expect(f[i]).toBeCloseTo(base[i], 18);
    for (let i = 40; i < 64; i++) expect(f[i]).toBeCloseTo(base[i] / 4, 18);
    // i = 30: base = 1e6^(-60/128) = 1.5399265e-3, ramp 7/17 → · (1 − 0.75 · 7/17) = 1.0643610e-3.
    expect(f[30]).toBeCloseTo(1.064361e-3, 9);
    // i = 24: base 5.6234133e-3, ramp 1/17 → 5.3753215e-3.
    expect(f[24]).toBeCloseTo(5.3753215e-3, 9);
    // cos and sin are multiplied by 0.1 · ln 4 + 1.
    expect(attentionScaling(YARN)).toBeCloseTo(1.1386294361, 10);
    expect(attentionScaling({ ...YARN, attentionFactor: 0.5 })).toBe(0.5);
    // mscale / mscale_all_dim (DeepSeek style): (0.1·0.707·ln 4 + 1) / (0.1·0.707·ln 4 + 1) = 1 when equal.
    expect(attentionScaling({ ...YARN, mscale: 0.707, mscaleAllDim: 0.707 })).toBe(1);
    // truncate false: the ramp runs from 23.596 to 39.651 without rounding.
    const untruncated = ropeInvFreq({ ...YARN, truncate: false });
    const ramp = (24 - 23.5959476083) / (39.6508807104 - 23.5959476083);
    expect(untruncated[24]).toBeCloseTo(base[24] * (1 - 0.75 * ramp), 12);
  });

  it("'dynamic' is the default rope wherever tknp serves (HF rescales only past max_position_embeddings)", () => {
    const dyn: RopeParams = { theta: 10000, rotaryDim: 64, type: 'dynamic', factor: 2, maxPositionEmbeddings: 2048, maxModelLen: 2048 };
    expect(ropeInvFreq(dyn)).toEqual(ropeInvFreq({ theta: 10000, rotaryDim: 64 }));
    expect(ropeInvFreq({ ...dyn, maxModelLen: 1000 })).toEqual(ropeInvFreq({ theta: 10000, rotaryDim: 64 }));
    // HF's formula beyond it: base · (2 · 4096 / 2048 − 1)^(64 / 62) = 10000 · 3^(32/31).
    expect(ropeInvFreq({ ...dyn, maxModelLen: 4096 })[1]).toBeCloseTo(1 / (10000 * 3 ** (32 / 31)) ** (2 / 64), 14);
  });

  it("'longrope' divides by the short factors within the pretraining context, the long ones beyond; scales cos/sin", () => {
    const short = Array.from({ length: 48 }, (_, i) => 1 + i / 100);
    const long = Array.from({ length: 48 }, (_, i) => 2 + i);
    const phi3: RopeParams = { theta: 10000, rotaryDim: 96, type: 'longrope', factor: 32, originalMaxPositionEmbeddings: 4096, shortFactor: short, longFactor: long };
    const base = ropeInvFreq({ theta: 10000, rotaryDim: 96 });
    ropeInvFreq({ ...phi3, maxModelLen: 4096 }).forEach((f, i) => expect(f).toBeCloseTo(base[i] / short[i], 16));
    ropeInvFreq({ ...phi3, maxModelLen: 4097 }).forEach((f, i) => expect(f).toBeCloseTo(base[i] / long[i], 16));
    // factor 131072 / 4096 = 32: sqrt(1 + ln 32 / ln 4096) = sqrt(1 + 5/12).
    expect(attentionScaling(phi3)).toBeCloseTo(Math.sqrt(17 / 12), 14);
    expect(attentionScaling({ ...phi3, factor: 1 })).toBe(1);
    expect(() => ropeInvFreq({ ...phi3, shortFactor: short.slice(1) })).toThrow(/48 short factors/);
    // The table carries the scaling.
    const t = ropeTable({ ...phi3, maxModelLen: 8 }, 8);
    expect(t[0]).toBeCloseTo(Math.sqrt(17 / 12), 6); // cos(0) · scaling
  });

  it('the cos/sin table holds cos then sin of p·invFreq per row, up to position 32k', () => {
    const invFreq = ropeInvFreq({ theta: 10000, rotaryDim: 8 });
    const table = ropeCosSinTable(invFreq, 32768, 0.5);
    expect(table.length).toBe(32768 * 8);
    for (const p of [0, 1, 2047, 32767]) {
      for (let i = 0; i < 4; i++) {
        expect(table[p * 8 + i]).toBeCloseTo(0.5 * Math.cos(p * invFreq[i]), 7);
        expect(table[p * 8 + 4 + i]).toBeCloseTo(0.5 * Math.sin(p * invFreq[i]), 7);
      }
    }
  });
});

interface Case {
  T: number;
  Hq: number;
  Hk: number;
  D: number;
  rotaryDim: number;
  style: RotaryOptions['style'];
  llama3: boolean;
}

const MAX_POS = 32768;
const cases: Case[] = [
  { T: 1, Hq: 32, Hk: 8, D: 128, rotaryDim: 128, style: 'neox', llama3: true },
  { T: 3, Hq: 4, Hk: 2, D: 64, rotaryDim: 64, style: 'gptj', llama3: false },
  { T: 17, Hq: 4, Hk: 2, D: 128, rotaryDim: 64, style: 'neox', llama3: true }, // partial
  { T: 64, Hq: 2, Hk: 1, D: 64, rotaryDim: 64, style: 'neox', llama3: false },
  { T: 17, Hq: 3, Hk: 1, D: 128, rotaryDim: 128, style: 'gptj', llama3: true },
  { T: 3, Hq: 2, Hk: 2, D: 64, rotaryDim: 32, style: 'gptj', llama3: false }, // partial
  { T: 64, Hq: 4, Hk: 4, D: 128, rotaryDim: 96, style: 'neox', llama3: false }, // partial, 3/4
  { T: 17, Hq: 2, Hk: 1, D: 64, rotaryDim: 10, style: 'neox', llama3: false }, // f16 path
  { T: 3, Hq: 2, Hk: 1, D: 64, rotaryDim: 10, style: 'gptj', llama3: true }, // f16 path
];

const tables = new Map<string, Float32Array>();
function table(rotaryDim: number, llama3: boolean): Float32Array {
  const key = `${rotaryDim}/${llama3}`;
  let t = tables.get(key);
  if (!t) {
    const params: RopeParams = llama3 ? { ...LLAMA31, rotaryDim } : { theta: 10000, rotaryDim };
    t = ropeCosSinTable(ropeInvFreq(params), MAX_POS, attentionScaling(params));
    tables.set(key, t);
  }
  return t;
}

describe.skipIf(!gpu)(`rotary ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const g = gpu!;

  it.each(cases)('T=$T Hq=$Hq Hk=$Hk D=$D rotaryDim=$rotaryDim $style llama3=$llama3', async (c) => {
    const rng = new Rng(c.T * 1009 + c.D * 7 + c.rotaryDim + (c.style === 'gptj' ? 1 : 0) + (c.llama3 ? 2 : 0));
    const q = Float32Array.from({ length: c.T * c.Hq * c.D }, () => roundF16(rng.normal()));
    const k = Float32Array.from({ length: c.T * c.Hk * c.D }, () => roundF16(2 * rng.normal()));
    // Positions up to 32k, including both ends of the table and, where T allows, one past it
    // (which must be left unrotated).
    const positions = Uint32Array.from({ length: c.T }, () => rng.int(0, MAX_POS - 1));
    positions[0] = MAX_POS - 1;
    if (c.T >= 3) positions[1] = 0;
    if (c.T >= 17) positions[c.T - 1] = MAX_POS;
    const cosSin = table(c.rotaryDim, c.llama3);
    const tq = g.upload(toF16(q), [c.T, c.Hq, c.D], 'f16', 'q');
    const tk = g.upload(toF16(k), [c.T, c.Hk, c.D], 'f16', 'k');
    const tp = g.upload(positions, [c.T], 'u32', 'positions');
    const tcs = g.upload(cosSin, [MAX_POS, c.rotaryDim], 'f32', 'cosSin');
    const opts = { style: c.style, rotaryDim: c.rotaryDim };
    await run(g, (rec) => rotary(rec, tq, tk, tp, tcs, opts));
    expectRotated(await readF32(g, tq), rotaryRef(q, c.Hq, c.D, positions, cosSin, opts), 'q');
    expectRotated(await readF32(g, tk), rotaryRef(k, c.Hk, c.D, positions, cosSin, opts), 'k');
    for (const t of [tq, tk, tp, tcs]) t.buffer.destroy();
  });

  it('rejects bad shapes and options with a ShapeError', async () => {
    await run(g, (rec) => {
      const q = g.tensor([4, 8, 64], 'f16');
      const k = g.tensor([4, 2, 64], 'f16');
      const pos = g.tensor([4], 'u32');
      const cs = g.tensor([16, 64], 'f32');
      const neox = { style: 'neox', rotaryDim: 64 } as const;
      expect(() => rotary(rec, q, g.tensor([4, 2, 32], 'f16'), pos, cs, neox)).toThrow(ShapeError);
      expect(() => rotary(rec, q, k, g.tensor([3], 'u32'), cs, neox)).toThrow(ShapeError);
      expect(() => rotary(rec, q, k, pos, g.tensor([16, 32], 'f32'), neox)).toThrow(ShapeError);
      expect(() => rotary(rec, q, k, pos, g.tensor([16, 64], 'f16'), neox)).toThrow(ShapeError);
      expect(() => rotary(rec, q, k, pos, cs, { style: 'neox', rotaryDim: 66 })).toThrow(ShapeError);
      expect(() => rotary(rec, q, k, pos, cs, { style: 'neox', rotaryDim: 63 })).toThrow(ShapeError);
      expect(() => rotary(rec, q, { ...q, shape: [4, 2, 64] }, pos, cs, neox)).toThrow(ShapeError);
    });
  });
});
