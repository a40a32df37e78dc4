// config.json's quantization_config (loader/quantization_config.ts), --quantization against it
// (quant/weight_format.ts), the int4 group choice, the packed splits of tensor parallelism
// (quant/packed_split.ts) and the whole-model shape checks (quant/quantized_size.ts).
import { describe, expect, it } from 'vitest';
import { EngineConfigError, resolveEngineConfig } from '../../src/engine/config.js';
import { ModelConfigError } from '../../src/loader/errors.js';
import { parseModelConfig } from '../../src/loader/model_config.js';
import { parseQuantizationConfig, quantizesModule } from '../../src/loader/quantization_config.js';
import { dequantize, quantize, QuantLayoutError } from '../../src/quant/packed_weight.js';
import { checkColumnSplit, concatPackedRows, packedColumns, packedRows } from '../../src/quant/packed_split.js';
import { checkQuantizedShapes, weightBytesOf } from '../../src/quant/quantized_size.js';
import { atLoadGroupSize, resolveWeightFormat } from '../../src/quant/weight_format.js';
import { Rng } from '../../src/util/rng.js';
import { tinyConfig } from '../helpers/model_dir.js';

const AWQ = { quant_method: 'awq', bits: 4, group_size: 128, zero_point: true, version: 'gemm', modules_to_not_convert: null };
const GPTQ = { quant_method: 'gptq', bits: 4, group_size: 128, desc_act: false, sym: true, checkpoint_format: 'gptq' };
const parse = (q: unknown) => parseQuantizationConfig({ quantization_config: q }, 'config.json')!;

function refusal(q: unknown): ModelConfigError {
  try {
    parse(q);
  } catch (e) {
    return e as ModelConfigError;
  }
  throw new Error('accepted');
}

describe('quantization_config', () => {
  it('reads AWQ and GPTQ (v1 and v2, per channel) checkpoints', () => {
    expect(parse(AWQ)).toMatchObject({ method: 'awq', bits: 4, groupSize: 128, symmetric: false, zeroOffset: 0, description: 'awq 4-bit (g128, asymmetric)' });
    expect(parse(GPTQ)).toMatchObject({ method: 'gptq', bits: 4, groupSize: 128, symmetric: true, zeroOffset: 1, description: 'gptq 4-bit (g128, symmetric)' });
    expect(parse({ ...GPTQ, bits: 8, group_size: -1, sym: false, checkpoint_format: 'gptq_v2' })).toMatchObject({ bits: 8, groupSize: null, symmetric: false, zeroOffset: 0, description: 'gptq 8-bit (per channel, asymmetric, v2)' });
    expect(parseQuantizationConfig({}, 'config.json')).toBeNull();
    const mc = parseModelConfig({ ...tinyConfig(), quantization_config: AWQ });
    expect(mc.quantization?.method).toBe('awq');
  });

  it('honours modules_to_not_convert and modules_in_block_to_quantize by name', () => {
    const awq = parse({ ...AWQ, modules_to_not_convert: ['mlp.down_proj'] });
    expect(quantizesModule(awq, 'model.layers.3.mlp.down_proj')).toBe(false);
    expect(quantizesModule(awq, 'model.layers.3.mlp.up_proj')).toBe(true);
    const gptq = parse({ ...GPTQ, modules_in_block_to_quantize: [['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'], ['mlp.down_proj']] });
    expect(quantizesModule(gptq, 'model.layers.0.self_attn.k_proj')).toBe(true);
    expect(quantizesModule(gptq, 'model.layers.0.self_attn.o_proj')).toBe(false);
  });

  const cases: [string, unknown, string, RegExp][] = [
    ['desc_act true', { ...GPTQ, desc_act: true }, 'quantization_config.desc_act', /'quantization_config.desc_act' true is not supported: .*desc_act false/],
    ['GPTQ 3-bit', { ...GPTQ, bits: 3 }, 'quantization_config.bits', /'quantization_config.bits' 3 is not supported: tknp reads GPTQ checkpoints of 4 or 8 bits/],
    ['AWQ gemv', { ...AWQ, version: 'gemv' }, 'quantization_config.version', /'quantization_config.version' "gemv" is not supported: tknp reads AWQ's GEMM packing/],
    ['AWQ 8-bit', { ...AWQ, bits: 8 }, 'quantization_config.bits', /'quantization_config.bits' 8 is not supported/],
    ['AWQ zero_point false', { ...AWQ, zero_point: false }, 'quantization_config.zero_point', /zero_point' false is not supported/],
    ['bitsandbytes', { quant_method: 'bitsandbytes', load_in_4bit: true }, 'quantization_config.quant_method', /'quantization_config.quant_method' "bitsandbytes" is not supported: tknp reads 'awq' .* and 'gptq'/],
    ['fp8', { quant_method: 'fp8' }, 'quantization_config.quant_method', /"fp8" is not supported/],
    ['a GPTQ lm_head', { ...GPTQ, lm_head: true }, 'quantization_config.lm_head', /lm_head' true is not supported/],
    ['GPTQ dynamic overrides', { ...GPTQ, dynamic: { '-:.*down': {} } }, 'quantization_config.dynamic', /dynamic' .* is not supported/],
    ['an unknown GPTQ format', { ...GPTQ, checkpoint_format: 'marlin' }, 'quantization_config.checkpoint_format', /"marlin" is not supported: tknp reads GPTQ's 'gptq' and 'gptq_v2' formats/],
    ['group_size as a string', { ...GPTQ, group_size: '128' }, 'quantization_config.group_size', /must be an integer >= 1, got "128"/],
    ['a list', [AWQ], 'quantization_config', /must be an object/],
  ];
  for (const [name, q, field, message] of cases) {
    it(`refuses ${name}, naming the field`, () => {
      const e = refusal(q);
      expect(e).toBeInstanceOf(ModelConfigError);
      expect(e.field).toBe(field);
      expect(e.message).toMatch(message);
      expect(e.message).not.toMatch(/\n/);
    });
  }
});

describe('--quantization', () => {
  it('is validated by the engine config', () => {
    expect(resolveEngineConfig({ model: 'm' }).quantization).toBe('none');
    expect(resolveEngineConfig({ model: 'm', quantization: 'w8a8' }).quantization).toBe('w8a8');
    expect(() => resolveEngineConfig({ model: 'm', quantization: 'int3' as never })).toThrow(EngineConfigError);
    expect(() => resolveEngineConfig({ model: 'm', quantization: 'int3' as never })).toThrow(/quantization: must be none, int8, int4, w8a8, got "int3"/);
  });

  it('picks the format, reads a pre-quantized checkpoint in its own and refuses to quantize it again', () => {
    expect(resolveWeightFormat('none', null).source).toBe('f16');
    expect(resolveWeightFormat('int8', null)).toMatchObject({ bits: 8, symmetric: true, groupSize: null, int8Activations: false });
    expect(resolveWeightFormat('int4', null)).toMatchObject({ bits: 4, symmetric: false, groupSize: 128 });
    expect(resolveWeightFormat('w8a8', null)).toMatchObject({ bits: 8, symmetric: true, int8Activations: true });
    const awq = parse(AWQ);
    expect(resolveWeightFormat('none', awq)).toMatchObject({ source: 'checkpoint', bits: 4, groupSize: 128, description: 'awq 4-bit (g128, asymmetric)' });
    expect(() => resolveWeightFormat('int8', awq, 'dir/config.json')).toThrow(/dir\/config.json: --quantization int8 asks to quantize weights that are already quantized \(quantization_config: awq 4-bit/);
  });

  it('chooses int4 groups of 128, else 64, else 32, else refuses', () => {
    const int4 = resolveWeightFormat('int4', null);
    expect([4096, 192, 96, 14336].map((k) => atLoadGroupSize(int4, k, 'w'))).toEqual([128, 64, 32, 128]);
    expect(() => atLoadGroupSize(int4, 200, 'down_proj')).toThrow(QuantLayoutError);
    expect(() => atLoadGroupSize(int4, 200, 'down_proj')).toThrow(/down_proj: in_features 200 is not a multiple of 32/);
    expect(atLoadGroupSize(resolveWeightFormat('int8', null), 200, 'w')).toBe(200);
  });

  it('refuses, before loading, a model whose row-parallel projections do not split on groups', () => {
    const mc = parseModelConfig(tinyConfig({ config: { hidden_size: 256, intermediate_size: 384, num_attention_heads: 4, num_key_value_heads: 2 } }));
    const int4 = resolveWeightFormat('int4', null);
    checkQuantizedShapes(mc, int4, 1);
    // down_proj: K 384 = 3 · 128 → groups of 128; 192 per rank of tp 2 is not whole groups. int8 (per channel) splits.
    expect(() => checkQuantizedShapes(mc, int4, 2)).toThrow(QuantLayoutError);
    expect(() => checkQuantizedShapes(mc, int4, 2)).toThrow(/down_proj \(row-parallel\): a \[256, 384\] 4-bit weight with groups of 128 cannot be split by in_features into 2 tensor-parallel parts of 192/);
    checkQuantizedShapes(mc, resolveWeightFormat('int8', null), 2);
    expect(() => checkQuantizedShapes(mc, resolveWeightFormat('int8', null), 64)).toThrow(/o_proj \(row-parallel\): a \[256, 256\] 8-bit weight with groups of 256 \(per channel\) cannot be split by in_features into 64 tensor-parallel parts of 4: each part must be a whole number of runs of 8 values/);
  });

  it('counts packed bytes for the memory plan', () => {
    const mc = parseModelConfig(tinyConfig()); // hidden 128, intermediate 128, q 128, kv 64, 2 layers, vocab 1024, untied
    const f16 = weightBytesOf(mc, resolveWeightFormat('none', null));
    const proj = 128 * 128 * 2 + 64 * 128 * 2 + 128 * 128 * 3; // q, k, v, o, gate, up, down elements per layer
    expect(f16).toBe(2 * (1024 * 128 * 2 + 128 + 2 * 2 * 128) + 2 * 2 * proj);
    // int4 g128 asymmetric: half a byte a weight, plus a scale and a zero (2 bytes each) per row of each projection.
    const rows = 128 + 64 + 64 + 128 + 128 + 128 + 128;
    expect(weightBytesOf(mc, resolveWeightFormat('int4', null))).toBe(2 * (1024 * 128 * 2 + 128 + 2 * 2 * 128) + 2 * (proj / 2 + rows * 4));
  });
});

describe('packed splits', () => {
  const rng = new Rng(3);
  const w = rng.floats(8 * 256, -1, 1);
  const p = quantize(w, [8, 256], 4, 64, false);

  it('cuts rows and stacks them back', () => {
    const top = packedRows(p, 0, 3);
    const rest = packedRows(p, 3, 5);
    expect(top.shape).toEqual([3, 256]);
    const back = concatPackedRows([top, rest], 'x');
    expect(Array.from(back.qweight)).toEqual(Array.from(p.qweight));
    expect(Array.from(back.zeros!)).toEqual(Array.from(p.zeros!));
    expect(Array.from(dequantize(top))).toEqual(Array.from(dequantize(p).subarray(0, 3 * 256)));
    expect(() => concatPackedRows([p, quantize(w, [8, 256], 8, 256, true)], 'qkv')).toThrow(/qkv: its parts are quantized differently/);
  });

  it('cuts in features on group boundaries: each part dequantizes to its columns', () => {
    const full = dequantize(p);
    for (const part of [0, 1, 2, 3]) {
      const q = packedColumns(p, part, 4, 'o_proj');
      expect(q.shape).toEqual([8, 64]);
      const d = dequantize(q);
      for (let n = 0; n < 8; n++) expect(Array.from(d.subarray(n * 64, (n + 1) * 64))).toEqual(Array.from(full.subarray(n * 256 + part * 64, n * 256 + (part + 1) * 64)));
    }
    expect(() => packedColumns(p, 0, 8, 'o_proj')).toThrow(/o_proj: a \[8, 256\] 4-bit weight with groups of 64 cannot be split by in_features into 8 tensor-parallel parts of 32/);
    // Per channel: the one scale goes with every part.
    const pc = quantize(w, [8, 256], 8, 256, true);
    const half = packedColumns(pc, 1, 2, 'down_proj');
    expect(half.groupSize).toBe(128);
    expect(Array.from(half.scales)).toEqual(Array.from(pc.scales));
    expect(Array.from(dequantize(half).subarray(0, 128))).toEqual(Array.from(dequantize(pc).subarray(128, 256)));
    expect(() => checkColumnSplit([8, 256], 8, 256, 3, 'w')).toThrow(QuantLayoutError);
  });
});
