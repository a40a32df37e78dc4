// Dummy weights (loadFormat 'dummy', like vLLM's): the tensors loadWeights would make, with the
// same shapes and layout (q/k/v and gate/up stacked), allocated on the GPU and filled in place with
// seeded random f16 values by kernels/fill_random. Nothing is read from disk and no weight
// passes through JavaScript, so an 8B-parameter model is ready in about the time its memory
// takes to write. Each value is a hash of (seed, tensor name, index in the full tensor), so a
// tensor-parallel rank's shard (WeightLayout) holds exactly its slice of the tp = 1 tensor.
import type { Gpu } from '../gpu/gpu.js';
import { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { fillRandom, fillRandomKey } from '../kernels/fill_random.js';
import type { LinearWeight } from '../kernels/quantized_weight.js';
import { ModelLoadError } from '../loader/errors.js';
import { F16_FORMAT, type WeightFormat } from '../quant/weight_format.js';
import { dummyQuantized } from './dummy_quant.js';
import type { ModelConfig } from '../loader/model_config.js';
import { layerTensors, WHOLE_LAYOUT, type LayerWeights, type ModelWeights, type ShardRole, type TensorPart, type WeightLayout } from './weights.js';

/** Seed of the dummy weights when none is given. */
export const DUMMY_WEIGHT_SEED = 0;

/**
 * Amplitude of the uniform values: 1/8 keeps every f16 level normal (no subnormals: see
 * shaders/fill_random.wgsl) and activations of a 32-layer, 4096-wide model well inside f16 range.
 */
export const DUMMY_WEIGHT_AMPLITUDE = 0.125;

export interface DummyWeightOptions {
  readonly seed?: number;
  readonly amplitude?: number;
  /** This rank's part of each tensor (tensor parallelism); default: whole tensors. */
  readonly layout?: WeightLayout;
  /** The projections' format (default f16): quantized ones are made by model/dummy_quant.ts. */
  readonly format?: WeightFormat;
}

/**
 * The (name, shape) of each part as the dummy fill keys it: a separate tensor by its name, a row range of a
 * fused one (Phi-3) as a tensor of its own, `<fused name>#<part>` (values need not match any checkpoint).
 */
function partsOf(parts: readonly TensorPart[], labels: readonly string[]): [string, number[]][] {
  return parts.map((p, k) => (p.rows ? [`${p.name}#${labels[k]}`, [p.rows[1], ...p.shape.slice(1)]] : [p.name, p.shape]));
}

/** Allocates every weight of `c` (the full, unsharded config) and fills it on the GPU. */
export async function createDummyWeights(gpu: Gpu, c: ModelConfig, opts: DummyWeightOptions = {}): Promise<ModelWeights> {
  const seed = opts.seed ?? DUMMY_WEIGHT_SEED;
  const amplitude = opts.amplitude ?? DUMMY_WEIGHT_AMPLITUDE;
  const layout = opts.layout ?? WHOLE_LAYOUT;
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  let rec = new Recorder(gpu, 'dummy weights');
  // Fills elements [start, start + count) of `t` with this rank's part of full tensor `name`.
  const fill = (t: Tensor, name: string, role: ShardRole, shape: number[], start = 0) => {
    const w = layout(name, role, shape);
    const count = w.shape.reduce((a, b) => a * b, 1);
    if (!w.zero) fillRandom(rec, t, { key: fillRandomKey(seed, name), amplitude, window: w, start, count }); // zero: fresh buffers are zeroed
    return w.shape;
  };
  // Every kernel binds a weight whole: one larger than a binding cannot be used on this device.
  const allocate = (shape: number[], name: string, dtype: 'f16' | 'u32' = 'f16') => {
    const bytes = shape.reduce((a, b) => a * b, dtype === 'f16' ? 2 : 4);
    const max = Number(gpu.limits.maxStorageBufferBindingSize);
    if (bytes > max) throw new ModelLoadError(name, `${(bytes / 2 ** 20).toFixed(0)} MiB exceeds this adapter's largest storage binding (${(max / 2 ** 20).toFixed(0)} MiB): the model does not fit this device`);
    return gpu.allocate(shape, dtype, name);
  };
  const format = opts.format ?? F16_FORMAT;
  const quant = { format, seed, amplitude, layout, allocate: (shape: number[], dtype: 'u32' | 'f16', name: string) => allocate(shape, name, dtype) };
  // A projection: f16 (as the other weights), or quantized.
  const column = (parts: [string, number[]][], label: string): Promise<LinearWeight> =>
    format.source === 'f16' ? stacked(parts, label) : dummyQuantized(gpu, rec, parts, 'column', label, quant);
  const row = (name: string, shape: number[]): Promise<LinearWeight> => (format.source === 'f16' ? make(name, shape, 'row') : dummyQuantized(gpu, rec, [[name, shape]], 'row', name, quant));
  const make = async (name: string, shape: number[], role: ShardRole = 'replicated'): Promise<Tensor> => {
    const t = await allocate(layout(name, role, shape).shape, name);
    fill(t, name, role, shape);
    return t;
  };
  // Column-parallel parts (q, k, v or gate, up; weights [rows, cols] or biases [rows]), each split by
  // rows, stacked in order: [Σ local rows, cols] (as loadWeights stacks them).
  const stacked = async (parts: readonly (readonly [string, number[]])[], label: string): Promise<Tensor> => {
    const local = parts.map(([name, shape]) => layout(name, 'column', shape).shape);
    const rows = local.reduce((n, s) => n + s[0], 0);
    const t = await allocate(local[0].length > 1 ? [rows, local[0][1]] : [rows], label);
    let at = 0;
    parts.forEach(([name, shape], i) => {
      fill(t, name, 'column', shape, at);
      at += local[i].reduce((a, b) => a * b, 1);
    });
    return t;
  };
  const flush = async () => {
    rec.submit();
    await gpu.flush(); // surface allocation and dispatch errors per layer
    rec = new Recorder(gpu, 'dummy weights');
  };
  const embed = await make('model.embed_tokens.weight', [c.vocabSize, H]);
  await flush();
  const layers: LayerWeights[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const n = layerTensors(c, i);
    const optional = (name: string | null, shape: number[]) => (name ? make(name, shape) : Promise.resolve(null));
    layers.push({
      inputNorm: await make(n.inputNorm, [H]),
      qNorm: await optional(n.qNorm, [c.headDim]),
      kNorm: await optional(n.kNorm, [c.headDim]),
      qkv: await column(partsOf(n.qkv, ['q', 'k', 'v']), `${n.qkv[0].name}(qkv)`),
      qkvBias: n.qkvBias ? await stacked(partsOf(n.qkvBias, ['q', 'k', 'v']), `${n.qkvBias[0].name}(qkv)`) : null,
      o: await row(n.o, [H, qDim]),
      oBias: n.oBias ? await make(n.oBias, [H], 'rowBias') : null,
      attnOutNorm: await optional(n.attnOutNorm, [H]),
      postNorm: await make(n.postNorm, [H]),
      gateUp: await column(partsOf(n.gateUp, ['gate', 'up']), `${n.gateUp[0].name}(gate_up)`),
      down: await row(n.down, [H, I]),
      mlpOutNorm: await optional(n.mlpOutNorm, [H]),
    });
    await flush();
  }
  const finalNorm = await make('model.norm.weight', [H]);
  const lmHead = c.tieWordEmbeddings ? embed : await make('lm_head.weight', [c.vocabSize, H]);
  await flush();
  return { embed, layers, finalNorm, lmHead };
}
