// Loading quantized projections onto the GPU (model/quant_weights.ts, model/dummy_quant.ts): AWQ and
// GPTQ checkpoints written by test/helpers/quant_model.ts (the formats' packing, written there) come
// back in tknp's packed layout with exactly the integers and scales they were made from, whole and
// as tensor-parallel shards; f16 checkpoints quantized at load equal the CPU quantizer's output; and
// dummy quantized weights of a TP rank are that rank's slice of the tp = 1 words.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { isQuantized, type LinearWeight, type QuantizedWeight } from '../../src/kernels/quantized_weight.js';
import { Checkpoint } from '../../src/loader/checkpoint.js';
import { createDummyWeights } from '../../src/model/dummy_weights.js';
import { openModelCheckpoint } from '../../src/model/weight_names.js';
import { layerTensors, loadWeights, type ModelWeights } from '../../src/model/weights.js';
import { tensorParallelLayout, tensorParallelPackedShard, tensorParallelShard } from '../../src/parallel/tensor_parallel.js';
import { packValues, quantize, type PackedWeight } from '../../src/quant/packed_weight.js';
import { concatPackedRows, packedColumns, packedRows } from '../../src/quant/packed_split.js';
import { resolveWeightFormat, type Quantization } from '../../src/quant/weight_format.js';
import { readModelConfig } from '../../src/runner/model_runner.js';
import { f32ToF16Bits, fromF16 } from '../../src/util/f16.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { makeTinyModel } from '../helpers/model_dir.js';
import { makeQuantModel, type QuantModelOptions, type QuantTruth } from '../helpers/quant_model.js';

const gpu = await testGpu();
const skip = gpu ? '' : ` (skipped: ${noGpuReason()})`;

/** What a checkpoint's integers must become in tknp's layout. */
function expected(t: QuantTruth, bits: 4 | 8, sym: boolean): PackedWeight {
  const q = bits === 8 && sym ? Int32Array.from(t.q, (v) => v - 128) : t.q;
  return { bits, symmetric: sym, groupSize: t.groupSize, shape: t.shape, qweight: packValues(q, t.shape, bits), scales: t.scales, zeros: sym ? null : Uint16Array.from(t.zeros, (z) => f32ToF16Bits(z)) };
}

async function readPacked(g: Gpu, w: LinearWeight): Promise<PackedWeight> {
  expect(isQuantized(w)).toBe(true);
  const qw = w as QuantizedWeight;
  const [qweight, scales, zeros] = await g.readMany([qw.qweight, qw.scales, ...(qw.zeros ? [qw.zeros] : [])]);
  return { bits: qw.bits, symmetric: qw.symmetric, groupSize: qw.groupSize, shape: [qw.shape[0], qw.shape[1]], qweight: qweight as Uint32Array, scales: scales as Uint16Array, zeros: qw.zeros ? (zeros as Uint16Array) : null };
}

function same(got: PackedWeight, want: PackedWeight, what: string): void {
  expect({ ...got, qweight: null, scales: null, zeros: null }, what).toEqual({ ...want, qweight: null, scales: null, zeros: null });
  expect(Buffer.from(got.qweight.buffer, got.qweight.byteOffset, got.qweight.byteLength).equals(Buffer.from(want.qweight.buffer, want.qweight.byteOffset, want.qweight.byteLength)), `${what} qweight`).toBe(true);
  expect(Array.from(got.scales), `${what} scales`).toEqual(Array.from(want.scales));
  expect(got.zeros && Array.from(got.zeros), `${what} zeros`).toEqual(want.zeros && Array.from(want.zeros));
}

/** Each layer's four projections in tknp's layout, built from per-module packed weights (and this rank's part of each). */
function stacked(dir: string, byModule: (module: string) => PackedWeight, rank: number, tp: number) {
  const c = readModelConfig(dir);
  const split = tensorParallelPackedShard(rank, tp);
  return Array.from({ length: c.numLayers }, (_, i) => {
    const n = layerTensors(c, i);
    const column = (parts: readonly { name: string }[]) => concatPackedRows(parts.map((p) => split(p.name, 'column', byModule(p.name.replace(/\.weight$/, '')))), 'x');
    return { qkv: column(n.qkv), o: split(n.o, 'row', byModule(n.o.replace(/\.weight$/, ''))), gateUp: column(n.gateUp), down: split(n.down, 'row', byModule(n.down.replace(/\.weight$/, ''))) };
  });
}

async function load(dir: string, quantization: Quantization, rank = 0, tp = 1): Promise<ModelWeights> {
  const c = readModelConfig(dir);
  const ckpt = await openModelCheckpoint(dir, c);
  try {
    const format = resolveWeightFormat(quantization, c.quantization);
    return await loadWeights(gpu!, ckpt, c, { quiet: true, format, transform: tensorParallelShard(rank, tp), packedTransform: tensorParallelPackedShard(rank, tp) });
  } finally {
    await ckpt.close();
  }
}

async function compareLayers(w: ModelWeights, want: ReturnType<typeof stacked>, what: string): Promise<void> {
  for (let i = 0; i < want.length; i++) {
    for (const key of ['qkv', 'o', 'gateUp', 'down'] as const) same(await readPacked(gpu!, w.layers[i][key]), want[i][key], `${what} layer ${i} ${key}`);
  }
}

const CHECKPOINTS: [string, QuantModelOptions][] = [
  ['AWQ 4-bit g64', { method: 'awq' }],
  ['GPTQ 4-bit g64 symmetric (v1)', { method: 'gptq', bits: 4, sym: true }],
  ['GPTQ 4-bit g32 asymmetric (v1)', { method: 'gptq', bits: 4, sym: false, groupSize: 32 }],
  ['GPTQ 4-bit asymmetric gptq_v2', { method: 'gptq', bits: 4, sym: false, checkpointFormat: 'gptq_v2' }],
  ['GPTQ 8-bit per channel symmetric', { method: 'gptq', bits: 8, sym: true, groupSize: -1 }],
  ['GPTQ 8-bit g64 asymmetric', { method: 'gptq', bits: 8, sym: false }],
];

describe('quantized checkpoints load into the packed layout', () => {
  for (const [name, o] of CHECKPOINTS) {
    it.skipIf(!gpu)(`${name}: every projection's integers and scales, whole and as tp 2 shards${skip}`, async () => {
      const { dir, truth } = makeQuantModel(o);
      const bits = o.bits ?? 4;
      const sym = o.method === 'gptq' && (o.sym ?? true);
      const byModule = (m: string) => expected(truth.get(m)!, bits, sym);
      await compareLayers(await load(dir, 'none'), stacked(dir, byModule, 0, 1), name);
      for (const rank of [0, 1]) await compareLayers(await load(dir, 'none', rank, 2), stacked(dir, byModule, rank, 2), `${name} tp rank ${rank}`);
    });
  }

  it.skipIf(!gpu)(`keeps a module AWQ's modules_to_not_convert names in f16${skip}`, async () => {
    const { dir, truth } = makeQuantModel({ method: 'awq', extra: { modules_to_not_convert: ['mlp.down_proj'] } });
    expect(truth.has('model.layers.0.mlp.down_proj')).toBe(false);
    const w = await load(dir, 'none');
    const down = w.layers[0].down;
    expect(isQuantized(down)).toBe(false);
    const ckpt = await Checkpoint.open(dir);
    const want = await ckpt.readF16('model.layers.0.mlp.down_proj.weight', [128, 128]);
    await ckpt.close();
    expect(Array.from((await gpu!.read(down as Tensor)) as Uint16Array)).toEqual(Array.from(want));
    same(await readPacked(gpu!, w.layers[0].gateUp), concatPackedRows(['gate_proj', 'up_proj'].map((m) => expected(truth.get(`model.layers.0.mlp.${m}`)!, 4, false)), 'gu'), 'gate_up');
  });
});

describe('f16 checkpoints quantized at load', () => {
  for (const q of ['int8', 'int4', 'w8a8'] as const) {
    it.skipIf(!gpu)(`${q}: equals the CPU quantizer on each whole tensor, whole and as tp 2 shards${skip}`, async () => {
      const dir = makeTinyModel();
      const c = readModelConfig(dir);
      const ckpt = await Checkpoint.open(dir);
      const format = resolveWeightFormat(q, null);
      const cache = new Map<string, PackedWeight>();
      for (const name of ckpt.names()) {
        const info = ckpt.info(name);
        if (!/_proj\.weight$/.test(name)) continue;
        const [N, K] = info.shape as [number, number];
        cache.set(name.replace(/\.weight$/, ''), quantize(fromF16(await ckpt.readF16(name, [N, K])), [N, K], q === 'int4' ? 4 : 8, q === 'int4' ? 128 : K, q !== 'int4'));
      }
      await ckpt.close();
      const byModule = (m: string) => cache.get(m)!;
      const whole = await load(dir, q);
      await compareLayers(whole, stacked(dir, byModule, 0, 1), q);
      expect((whole.layers[0].qkv as QuantizedWeight).int8Activations).toBe(q === 'w8a8');
      for (const rank of [0, 1]) await compareLayers(await load(dir, q, rank, 2), stacked(dir, byModule, rank, 2), `${q} tp rank ${rank}`);
      expect(c.numLayers).toBe(2);
    });
  }
});

describe('dummy quantized weights', () => {
  for (const q of ['int4', 'int8'] as const) {
    it.skipIf(!gpu)(`${q}: a tp rank's words are its slice of the tp = 1 words; scales positive, zeros mid-range${skip}`, async () => {
      const c = readModelConfig(makeTinyModel());
      const format = resolveWeightFormat(q, null);
      const full = await createDummyWeights(gpu!, c, { seed: 4, format });
      const f = await readPacked(gpu!, full.layers[1].gateUp);
      expect(f.shape).toEqual([2 * c.intermediateSize, c.hiddenSize]);
      expect(new Set(f.scales).size).toBe(1);
      expect(fromF16(f.scales.subarray(0, 1))[0]).toBe(q === 'int4' ? 0.125 / 8 : 0.125 / 128);
      if (q === 'int4') expect(new Set(fromF16(f.zeros!))).toEqual(new Set([8]));
      expect(new Set(f.qweight).size).toBeGreaterThan(f.qweight.length / 2); // random words
      const fo = await readPacked(gpu!, full.layers[1].o);
      const I = c.intermediateSize;
      for (const rank of [0, 1]) {
        const shard = await createDummyWeights(gpu!, c, { seed: 4, format, layout: tensorParallelLayout(rank, 2) });
        const s = await readPacked(gpu!, shard.layers[1].gateUp);
        const want = concatPackedRows([packedRows(f, rank * (I / 2), I / 2), packedRows(f, I + rank * (I / 2), I / 2)], 'gate_up');
        expect(Array.from(s.qweight), `gate_up rank ${rank}`).toEqual(Array.from(want.qweight));
        const so = await readPacked(gpu!, shard.layers[1].o);
        const wo = packedColumns(fo, rank, 2, 'o');
        expect(Array.from(so.qweight), `o rank ${rank}`).toEqual(Array.from(wo.qweight));
        expect(so.shape).toEqual(wo.shape);
      }
    });
  }
});
