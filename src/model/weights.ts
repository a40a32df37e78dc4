// Model weights on the GPU, in the layout the forward pass uses: q, k and v concatenated into one
// [(Hq + 2·Hk)·D, hidden] linear (q rows, then k, then v: split again by kernels/split_qkv), and gate
// and up into one [2 * intermediate, hidden] linear (gate rows first). Under tensor parallelism each
// part is split by rows first, then this rank's parts are concatenated.
import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import type { Checkpoint } from '../loader/checkpoint.js';
import type { ModelConfig } from '../loader/model_config.js';
import { Progress } from '../loader/progress.js';

export interface LayerWeights {
  readonly inputNorm: Tensor; // [H]
  readonly qkv: Tensor; // [(Hq + 2·Hk)·D, H]: q rows, k rows, v rows
  readonly qkvBias: Tensor | null; // [(Hq + 2·Hk)·D]
  readonly o: Tensor; // [H, Hq*D]
  readonly oBias: Tensor | null; // [H]
  readonly postNorm: Tensor; // [H]
  readonly gateUp: Tensor; // [2I, H]
  readonly down: Tensor; // [H, I]
}

export interface ModelWeights {
  readonly embed: Tensor; // [V, H]
  readonly layers: readonly LayerWeights[];
  readonly finalNorm: Tensor; // [H]
  readonly lmHead: Tensor; // [V, H] (the embedding when tied)
  /** [V] f16 added to the logits: 0, or -inf for ids the tokenizer lacks (a padded vocabulary); null: none. */
  readonly logitsMask?: Tensor | null;
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

/** Where each tensor lives in a Hugging Face Llama-family checkpoint. */
export function layerTensorNames(i: number) {
  const p = `model.layers.${i}.`;
  return {
    inputNorm: `${p}input_layernorm.weight`,
    q: `${p}self_attn.q_proj.weight`,
    k: `${p}self_attn.k_proj.weight`,
    v: `${p}self_attn.v_proj.weight`,
    qBias: `${p}self_attn.q_proj.bias`,
    kBias: `${p}self_attn.k_proj.bias`,
    vBias: `${p}self_attn.v_proj.bias`,
    o: `${p}self_attn.o_proj.weight`,
    oBias: `${p}self_attn.o_proj.bias`,
    postNorm: `${p}post_attention_layernorm.weight`,
    gate: `${p}mlp.gate_proj.weight`,
    up: `${p}mlp.up_proj.weight`,
    down: `${p}mlp.down_proj.weight`,
  };
}

/** Reads every weight from the checkpoint (checking shapes) and uploads it as f16. */
export async function loadWeights(gpu: Gpu, ckpt: Checkpoint, c: ModelConfig, opts: { quiet?: boolean; transform?: WeightTransform } = {}): Promise<ModelWeights> {
  const transform = opts.transform ?? KEEP;
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const tensorsPerLayer = 9 + (c.qkvBias ? 3 : 0) + (c.oBias ? 1 : 0);
  const total = c.numLayers * tensorsPerLayer + 2 + (c.tieWordEmbeddings ? 0 : 1);
  const progress = new Progress('loading weights', total, ckpt.totalBytes(), process.stderr, opts.quiet);
  const read = async (name: string, shape: number[], role: ShardRole) => {
    const data = await ckpt.readF16(name, shape);
    progress.tick(data.byteLength);
    return transform(name, role, data, shape);
  };
  const load = async (name: string, shape: number[], role: ShardRole = 'replicated'): Promise<Tensor> => {
    const t = await read(name, shape, role);
    return gpu.upload(t.data, t.shape, 'f16', name);
  };
  // Column-parallel parts (q, k, v or gate, up; weights [rows, cols] or biases [rows]), each split by
  // rows, stacked in order: [Σ local rows, cols].
  const concatRows = async (parts: readonly (readonly [string, number[]])[], label: string): Promise<Tensor> => {
    const got = [];
    for (const [name, shape] of parts) got.push(await read(name, shape, 'column'));
    const all = new Uint16Array(got.reduce((n, t) => n + t.data.length, 0));
    let at = 0;
    for (const t of got) {
      all.set(t.data, at);
      at += t.data.length;
    }
    const rows = got.reduce((n, t) => n + t.shape[0], 0);
    return gpu.upload(all, got[0].shape.length > 1 ? [rows, got[0].shape[1]] : [rows], 'f16', label);
  };
  const embed = await load('model.embed_tokens.weight', [c.vocabSize, H]);
  const layers: LayerWeights[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const n = layerTensorNames(i);
    layers.push({
      inputNorm: await load(n.inputNorm, [H]),
      qkv: await concatRows([[n.q, [qDim, H]], [n.k, [kvDim, H]], [n.v, [kvDim, H]]], `${n.q}+k+v`),
      qkvBias: c.qkvBias ? await concatRows([[n.qBias, [qDim]], [n.kBias, [kvDim]], [n.vBias, [kvDim]]], `${n.qBias}+k+v`) : null,
      o: await load(n.o, [H, qDim], 'row'),
      oBias: c.oBias ? await load(n.oBias, [H], 'rowBias') : null,
      postNorm: await load(n.postNorm, [H]),
      gateUp: await concatRows([[n.gate, [I, H]], [n.up, [I, H]]], `${n.gate}+up`),
      down: await load(n.down, [H, I], 'row'),
    });
    await gpu.flush(); // surface allocation errors per layer, and keep staging memory bounded
  }
  const finalNorm = await load('model.norm.weight', [H]);
  const lmHead = c.tieWordEmbeddings && !ckpt.has('lm_head.weight') ? embed : await load('lm_head.weight', [c.vocabSize, H]);
  progress.finish();
  return { embed, layers, finalNorm, lmHead };
}

/** Bytes the weights occupy on the GPU. */
export function weightBytes(w: ModelWeights): number {
  const all: (Tensor | null)[] = [w.embed, w.finalNorm, ...(w.lmHead.buffer === w.embed.buffer ? [] : [w.lmHead]), w.logitsMask ?? null]; // tied: one buffer (lm_head may be a view of its first rows)
  for (const l of w.layers) all.push(...Object.values(l));
  return all.reduce((n, t) => n + (t ? t.buffer.size : 0), 0);
}
