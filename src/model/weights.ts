// Model weights on the GPU, in the layout the forward pass uses: q, k and v concatenated into one
// [(Hq + 2·Hk)·D, hidden] linear (q rows, then k, then v: split again by kernels/split_qkv), and gate
// and up into one [2 * intermediate, hidden] linear (gate rows first): Phi-3 checkpoints store them so
// (qkv_proj, gate_up_proj), the others separately. Under tensor parallelism each part (q, k, v; gate,
// up) is split by rows first, then this rank's parts are concatenated. Gemma's RMSNorm multiplies by
// (1 + weight): its norm weights are loaded as 1 + weight, so every norm kernel multiplies by the weight.
import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { isQuantized, type LinearWeight } from '../kernels/quantized_weight.js';
import type { Checkpoint } from '../loader/checkpoint.js';
import type { ModelConfig } from '../loader/model_config.js';
import { Progress } from '../loader/progress.js';
import { F16_FORMAT, type WeightFormat } from '../quant/weight_format.js';
import { fromF16, toF16 } from '../util/f16.js';
import { QuantPool, quantThreads } from '../quant/quant_pool.js';
import { AtLoadQuantizer, type AtLoadTensor } from './at_load_quantizer.js';
import { quantizedLinears, type PackedTransform } from './quant_weights.js';

export interface LayerWeights {
  readonly inputNorm: Tensor; // [H]
  readonly qNorm: Tensor | null; // [D] (Qwen3, Gemma 3)
  readonly kNorm: Tensor | null; // [D]
  readonly attnOutNorm: Tensor | null; // [H] (Gemma: post_attention_layernorm, on the attention output)
  readonly mlpOutNorm: Tensor | null; // [H] (Gemma: post_feedforward_layernorm, on the MLP output)
  readonly qkv: LinearWeight; // [(Hq + 2·Hk)·D, H]: q rows, k rows, v rows
  readonly qkvBias: Tensor | null; // [(Hq + 2·Hk)·D]
  readonly o: LinearWeight; // [H, Hq*D]
  readonly oBias: Tensor | null; // [H]
  readonly postNorm: Tensor; // [H] (the norm before the MLP: Llama's post_attention_layernorm, Gemma's pre_feedforward_layernorm)
  readonly gateUp: LinearWeight; // [2I, H]
  readonly down: LinearWeight; // [H, I]
}

export interface ModelWeights {
  readonly embed: Tensor; // [V, H]
  readonly layers: readonly LayerWeights[];
  readonly finalNorm: Tensor; // [H]
  readonly lmHead: Tensor; // [V, H] (the embedding when tied)
  /** [V] f16 added to the logits: 0, or -inf for ids the tokenizer lacks (a padded vocabulary); null: none. */
  readonly logitsMask?: Tensor | null;
  /** At-load quantization's cost (AtLoadQuantizer.summary()), for the start-up line; absent: none. */
  readonly quantizedAtLoad?: string;
}

/** How tensor parallelism splits a weight (dist/ supplies the split; single-rank keeps all). */
export type ShardRole = 'replicated' | 'column' | 'row' | 'rowBias';

/** Maps a full checkpoint tensor to this rank's part (shape [rows, cols] or [n]). */
export type WeightTransform = (name: string, role: ShardRole, data: Uint16Array, shape: readonly number[]) => { data: Uint16Array; shape: number[] };

const KEEP: WeightTransform = (_n, _r, data, shape) => ({ data, shape: [...shape] });

/**
 * This rank's part of a full tensor without its data (dummy weights are made in place on the
 * GPU): its local shape, and where it sits in the full tensor seen as [rows, fullCols] (local
 * element i is full element base + floor(i / cols) * fullCols + i % cols); `zero`: the part is
 * all zeros (a row-parallel bias off TP rank 0).
 */
export interface ShardWindow {
  readonly shape: number[];
  readonly base: number;
  readonly cols: number;
  readonly fullCols: number;
  readonly zero: boolean;
}

/** The shape-only counterpart of WeightTransform: same roles, same split (dist/ supplies it). */
export type WeightLayout = (name: string, role: ShardRole, shape: readonly number[]) => ShardWindow;

/** A whole tensor: [rows, cols] or [n] (as [n, 1]). */
export function wholeWindow(shape: readonly number[]): ShardWindow {
  const cols = shape.length > 1 ? shape[shape.length - 1] : 1;
  return { shape: [...shape], base: 0, cols, fullCols: cols, zero: false };
}

export const WHOLE_LAYOUT: WeightLayout = (_n, _r, shape) => wholeWindow(shape);

/** A [rows, cols] tensor, or a row range of one (a part of Phi-3's fused projections). */
export interface TensorPart {
  readonly name: string;
  readonly shape: number[];
  /** [first row, row count] of the tensor: this part; absent: the whole tensor. */
  readonly rows?: readonly [number, number];
}

/**
 * Where each tensor of layer i lives in a Hugging Face checkpoint of `c`'s architecture, with its shape:
 * q/k/v and gate/up as parts (separate tensors, or row ranges of Phi-3's qkv_proj and gate_up_proj),
 * the norms the architecture has (null: none).
 */
export function layerTensors(c: ModelConfig, i: number) {
  const p = `model.layers.${i}.`;
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const fused = (name: string, cols: number, sizes: readonly number[]): TensorPart[] => {
    const total = sizes.reduce((a, b) => a + b, 0);
    return sizes.map((n, k) => ({ name, shape: [total, cols], rows: [sizes.slice(0, k).reduce((a, b) => a + b, 0), n] as const }));
  };
  const parts = (names: readonly string[], cols: number | null, sizes: readonly number[]): TensorPart[] =>
    names.map((name, k) => ({ name, shape: cols === null ? [sizes[k]] : [sizes[k], cols] }));
  const attn = `${p}self_attn.`;
  const norm = (name: string) => `${p}${name}.weight`;
  return {
    inputNorm: norm('input_layernorm'),
    // The norm before the MLP: Gemma's pre_feedforward_layernorm (its post_attention_layernorm follows attention).
    postNorm: norm(c.sandwichNorms ? 'pre_feedforward_layernorm' : 'post_attention_layernorm'),
    attnOutNorm: c.sandwichNorms ? norm('post_attention_layernorm') : null,
    mlpOutNorm: c.sandwichNorms ? norm('post_feedforward_layernorm') : null,
    qNorm: c.qkNorm ? `${attn}q_norm.weight` : null,
    kNorm: c.qkNorm ? `${attn}k_norm.weight` : null,
    qkv: c.fusedProjections ? fused(`${attn}qkv_proj.weight`, H, [qDim, kvDim, kvDim]) : parts(['q', 'k', 'v'].map((x) => `${attn}${x}_proj.weight`), H, [qDim, kvDim, kvDim]),
    qkvBias: c.qkvBias ? parts(['q', 'k', 'v'].map((x) => `${attn}${x}_proj.bias`), null, [qDim, kvDim, kvDim]) : null,
    o: `${attn}o_proj.weight`,
    oBias: c.oBias ? `${attn}o_proj.bias` : null,
    gateUp: c.fusedProjections ? fused(`${p}mlp.gate_up_proj.weight`, H, [I, I]) : parts([`${p}mlp.gate_proj.weight`, `${p}mlp.up_proj.weight`], H, [I, I]),
    down: `${p}mlp.down_proj.weight`,
  };
}

/** Every checkpoint tensor of layer i with its shape (a fused tensor once). */
export function layerTensorShapes(c: ModelConfig, i: number): Map<string, number[]> {
  const n = layerTensors(c, i);
  const H = c.hiddenSize;
  const out = new Map<string, number[]>();
  for (const name of [n.inputNorm, n.postNorm, n.attnOutNorm, n.mlpOutNorm]) if (name) out.set(name, [H]);
  for (const name of [n.qNorm, n.kNorm]) if (name) out.set(name, [c.headDim]);
  for (const part of [...n.qkv, ...(n.qkvBias ?? []), ...n.gateUp]) out.set(part.name, part.shape);
  out.set(n.o, [H, c.numHeads * c.headDim]);
  if (n.oBias) out.set(n.oBias, [H]);
  out.set(n.down, [H, c.intermediateSize]);
  return out;
}

export interface LoadWeightsOptions {
  readonly quiet?: boolean;
  readonly transform?: WeightTransform;
  /** The projections' format (default f16); quantized ones are split by `packedTransform`. */
  readonly format?: WeightFormat;
  readonly packedTransform?: PackedTransform;
  /** config.json's path, for messages. */
  readonly configFile?: string;
  /** Threads that quantize at load (default quant/quant_pool.ts quantThreads(): $TKNP_QUANT_THREADS or min(cores - 1, 8)). */
  readonly quantThreads?: number;
}

/**
 * Reads every weight from the checkpoint (checking shapes) and uploads it: f16, or the projections in
 * `format` (model/quant_weights.ts).
 */
export async function loadWeights(gpu: Gpu, ckpt: Checkpoint, c: ModelConfig, opts: LoadWeightsOptions = {}): Promise<ModelWeights> {
  const transform = opts.transform ?? KEEP;
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const qDim = c.numHeads * c.headDim;
  const progress = new Progress('loading weights', [...ckpt.names()].length, ckpt.totalBytes(), process.stderr, opts.quiet);
  const readWhole = async (name: string, shape: number[]) => {
    const data = await ckpt.readF16(name, shape);
    progress.tick(data.byteLength);
    return data;
  };
  const load = async (name: string, shape: number[], role: ShardRole = 'replicated'): Promise<Tensor> => {
    const t = transform(name, role, await readWhole(name, shape), shape);
    return gpu.upload(t.data, t.shape, 'f16', name);
  };
  // A norm weight; Gemma's (1 + weight) is stored as one f16 (its f32 sum rounded once).
  const loadNorm = async (name: string, shape: number[]): Promise<Tensor> => {
    let data = await readWhole(name, shape);
    if (c.normWeightOffset) data = toF16(fromF16(data).map((w) => c.normWeightOffset + w));
    return gpu.upload(data, shape, 'f16', name);
  };
  const loadOptionalNorm = (name: string | null, shape: number[]) => (name ? loadNorm(name, shape) : Promise.resolve(null));
  // Column-parallel parts (q, k, v or gate, up; weights [rows, cols] or biases [rows]), each split by
  // rows, stacked in order: [Σ local rows, cols]. A fused tensor is read once for all its parts.
  const stackParts = async (parts: readonly TensorPart[], label: string): Promise<Tensor> => {
    const whole = new Map<string, Uint16Array>();
    const got = [];
    for (const part of parts) {
      let data = whole.get(part.name);
      if (!data) whole.set(part.name, (data = await readWhole(part.name, part.shape)));
      const cols = part.shape.length > 1 ? part.shape[1] : 1;
      const [r0, n] = part.rows ?? [0, part.shape[0]];
      const shape = part.shape.length > 1 ? [n, cols] : [n];
      got.push(transform(part.name, 'column', data.subarray(r0 * cols, (r0 + n) * cols), shape));
    }
    const all = new Uint16Array(got.reduce((n, t) => n + t.data.length, 0));
    let at = 0;
    for (const t of got) {
      all.set(t.data, at);
      at += t.data.length;
    }
    const rows = got.reduce((n, t) => n + t.shape[0], 0);
    return gpu.upload(all, got[0].shape.length > 1 ? [rows, got[0].shape[1]] : [rows], 'f16', label);
  };
  const format = opts.format ?? F16_FORMAT;
  const pool = format.source === 'at-load' ? new QuantPool(opts.quantThreads ?? quantThreads()) : null;
  const quantizer = pool && new AtLoadQuantizer(pool, { readFloatRows: (name, shape, r0, r1) => ckpt.readFloatRows(name, shape, r0, r1), tick: (bytes) => progress.tick(bytes) }, format, atLoadOrder(c));
  try {
    const linears =
      format.source === 'f16'
        ? { column: stackParts, row: (name: string, shape: [number, number]) => load(name, shape, 'row') }
        : quantizedLinears(
            gpu,
            format,
            {
              file: (name) => ckpt.fileOf(name),
              configFile: opts.configFile ?? 'config.json',
              readF16: readWhole,
              quantizeAtLoad: (name, shape) => quantizer!.take(name, shape),
              readI32: async (name, shape) => {
                const data = await ckpt.readI32(name, shape);
                progress.tick(data.byteLength);
                return data;
              },
              has: (name) => ckpt.has(name),
              f16Column: stackParts,
              f16Row: (name, shape) => load(name, shape, 'row'),
            },
            opts.packedTransform,
          );
    const embed = await load('model.embed_tokens.weight', [c.vocabSize, H]);
    const layers: LayerWeights[] = [];
    for (let i = 0; i < c.numLayers; i++) {
      const n = layerTensors(c, i);
      layers.push({
        inputNorm: await loadNorm(n.inputNorm, [H]),
        qNorm: await loadOptionalNorm(n.qNorm, [c.headDim]),
        kNorm: await loadOptionalNorm(n.kNorm, [c.headDim]),
        qkv: await linears.column(n.qkv, `${n.qkv[0].name}(qkv)`),
        qkvBias: n.qkvBias ? await stackParts(n.qkvBias, `${n.qkvBias[0].name}(qkv)`) : null,
        o: await linears.row(n.o, [H, qDim]),
        oBias: n.oBias ? await load(n.oBias, [H], 'rowBias') : null,
        attnOutNorm: await loadOptionalNorm(n.attnOutNorm, [H]),
        postNorm: await loadNorm(n.postNorm, [H]),
        gateUp: await linears.column(n.gateUp, `${n.gateUp[0].name}(gate_up)`),
        down: await linears.row(n.down, [H, I]),
        mlpOutNorm: await loadOptionalNorm(n.mlpOutNorm, [H]),
      });
      await gpu.flush(); // surface allocation errors per layer, and keep staging memory bounded
    }
    const finalNorm = await loadNorm('model.norm.weight', [H]);
    const lmHead = c.tieWordEmbeddings && !ckpt.has('lm_head.weight') ? embed : await load('lm_head.weight', [c.vocabSize, H]);
    const quantizedAtLoad = quantizer?.summary();
    progress.finish(quantizedAtLoad);
    return { embed, layers, finalNorm, lmHead, ...(quantizedAtLoad ? { quantizedAtLoad } : {}) };
  } finally {
    await pool?.close();
  }
}

/** The projections of every layer in the order loadWeights takes them (a fused tensor once): at-load quantization reads ahead in it. */
function atLoadOrder(c: ModelConfig): AtLoadTensor[] {
  const out: AtLoadTensor[] = [];
  const add = (name: string, shape: readonly number[]) => {
    if (!out.some((t) => t.name === name)) out.push({ name, shape: [shape[0], shape[1]] });
  };
  for (let i = 0; i < c.numLayers; i++) {
    const n = layerTensors(c, i);
    for (const p of n.qkv) add(p.name, p.shape);
    add(n.o, [c.hiddenSize, c.numHeads * c.headDim]);
    for (const p of n.gateUp) add(p.name, p.shape);
    add(n.down, [c.hiddenSize, c.intermediateSize]);
  }
  return out;
}

/** Bytes the weights occupy on the GPU. */
export function weightBytes(w: ModelWeights): number {
  const all: (Tensor | null)[] = [w.embed, w.finalNorm, ...(w.lmHead.buffer === w.embed.buffer ? [] : [w.lmHead]), w.logitsMask ?? null]; // tied: one buffer (lm_head may be a view of its first rows)
  for (const l of w.layers) {
    for (const t of Object.values(l) as (LinearWeight | null)[]) {
      if (t && isQuantized(t)) all.push(t.qweight, t.scales, t.zeros);
      else all.push(t);
    }
  }
  return all.reduce((n, t) => n + (t ? t.buffer.size : 0), 0);
}
