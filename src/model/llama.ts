// The Llama-family forward pass, single-rank, top to bottom: Llama 2/3, Mistral, Qwen2 and, from
// the same code driven by ModelConfig's fields (loader/architectures.ts), Qwen3 (q/k norms), Phi-3
// (partial rotary; its fused checkpoints load into the fused layout used here anyway) and Gemma 2/3
// (scaled embeddings, GeGLU, norms after attention and the MLP, q/k norms, a local RoPE on sliding
// layers, logit soft-capping). All computation on the GPU; one call runs a mixed batch of decode
// tokens and prefill chunks. Attention goes through the `Attention` interface (per-layer scale,
// window and soft-cap: attentionLayers), so token parallelism wraps the model instead of living
// inside it.
import type { Gpu } from '../gpu/gpu.js';
import type { Recorder } from '../gpu/recorder.js';
import { reshape, rows, type Tensor } from '../gpu/tensor.js';
import { embedding } from '../kernels/embedding.js';
import { linear, linearDeferred, type LinearMode, type PartialSums } from '../kernels/linear.js';
import type { LinearWeight } from '../kernels/quantized_weight.js';
import { logitSoftcap } from '../kernels/logit_softcap.js';
import { fusedAddRmsNorm, rmsNorm } from '../kernels/rms_norm.js';
import { siluAndMul } from '../kernels/silu_and_mul.js';
import { splitQkvNormRotary } from '../kernels/split_qkv_norm_rotary.js';
import { splitQkvRotary } from '../kernels/split_qkv_rotary.js';
import type { ModelConfig } from '../loader/model_config.js';
import { NO_REDUCE, type Attention, type RowParallelReduce } from './attention.js';
import { ropeParamsOf, ropeTable } from './rope.js';
import type { LayerWeights, ModelWeights } from './weights.js';

/** One step's token-level inputs on the GPU. */
export interface ForwardInputs {
  readonly numTokens: number;
  readonly inputIds: Tensor; // [numTokens] u32
  readonly positions: Tensor; // [numTokens] u32
  /** Rows whose next-token logits are needed (last token of each sequence that samples). */
  readonly numLogits: number;
  readonly logitsIndices: Tensor; // [numLogits] u32
}

/** Activation buffers, sized once for the largest step and viewed at each step's size. */
interface Activations {
  hidden: Tensor; // [T, H]
  residual: Tensor; // [T, H]
  normed: Tensor; // [T, H]
  qkv: Tensor; // [T, (Hq + 2·Hk)·D] (in gateUp's buffer where it fits: the two are never live together)
  q: Tensor; // [T, Hq*D]
  k: Tensor; // [T, Hk*D]
  v: Tensor; // [T, Hk*D]
  attn: Tensor; // [T, Hq*D]
  gateUp: Tensor; // [T, 2I]
  act: Tensor; // [T, I]
  lastHidden: Tensor; // [S, H]
  lastNormed: Tensor; // [S, H]
  logits: Tensor; // [S, V] f32
}

export class LlamaModel {
  private readonly a: Activations;
  private readonly cosSin: Tensor; // [maxModelLen, rotaryDim] f32
  /** Gemma 3's sliding layers rotate with their own RoPE (config.localRope); else the same table. */
  private readonly cosSinLocal: Tensor; // [maxModelLen, rotaryDim] f32

  constructor(
    gpu: Gpu,
    readonly config: ModelConfig,
    private readonly w: ModelWeights,
    private readonly attention: Attention,
    readonly maxTokens: number,
    readonly maxLogits: number,
    private readonly tp: RowParallelReduce = NO_REDUCE,
    /** 'fast': GEMV for few rows (≤ 4 with tensor cores, else ≤ 8; not batch invariant; EngineConfig.batchInvariant = false). */
    private readonly linearMode: LinearMode = 'invariant',
    /** Submit what is recorded every N layers (0: never inside forward), overlapping recording with the GPU. */
    private readonly submitEveryLayers: number,
    /** Longest sequence served (the effective max_model_len): sizes the rope table. */
    maxModelLen: number,
  ) {
    const c = config;
    const T = maxTokens;
    const t = (shape: number[], label: string, dtype: 'f16' | 'f32' = 'f16') => gpu.tensor(shape, dtype, label);
    const gateUp = t([T, 2 * c.intermediateSize], 'gateUp');
    const qkvDim = qkvWidth(c);
    this.a = {
      hidden: t([T, c.hiddenSize], 'hidden'),
      residual: t([T, c.hiddenSize], 'residual'),
      normed: t([T, c.hiddenSize], 'normed'),
      qkv: qkvDim <= 2 * c.intermediateSize ? { ...gateUp, shape: [T, qkvDim] } : t([T, qkvDim], 'qkv'),
      q: t([T, c.numHeads * c.headDim], 'q'),
      k: t([T, c.numKvHeads * c.headDim], 'k'),
      v: t([T, c.numKvHeads * c.headDim], 'v'),
      attn: t([T, c.numHeads * c.headDim], 'attn'),
      gateUp,
      act: t([T, c.intermediateSize], 'act'),
      lastHidden: t([maxLogits, c.hiddenSize], 'lastHidden'),
      lastNormed: t([maxLogits, c.hiddenSize], 'lastNormed'),
      logits: t([maxLogits, w.lmHead.shape[0]], 'logits', 'f32'), // lm_head's rows (a padded vocabulary: masked by w.logitsMask)
    };
    this.cosSin = gpu.upload(ropeTable(ropeParamsOf(c, maxModelLen), maxModelLen), [maxModelLen, c.rotaryDim], 'f32', 'cosSin');
    this.cosSinLocal = c.localRope
      ? gpu.upload(ropeTable(ropeParamsOf({ ...c, rope: c.localRope }, maxModelLen), maxModelLen), [maxModelLen, c.rotaryDim], 'f32', 'cosSinLocal')
      : this.cosSin;
  }

  /**
   * Records the whole forward pass; returns the logits view [numLogits, vocab] f32 (or null
   * with `skipLogits`, on tensor-parallel ranks other than the sampling one).
   */
  async forward(rec: Recorder, x: ForwardInputs, opts: { skipLogits?: boolean } = {}): Promise<Tensor | null> {
    const c = this.config;
    const T = x.numTokens;
    const hidden = rows(this.a.hidden, T);
    const residual = rows(this.a.residual, T);
    embedding(rec, x.inputIds, this.w.embed, hidden, c.embedScale); // hidden: [T, H]
    // A block's output: hidden, or (single rank) its last linear's partial sums, folded by the next norm.
    let blockOut: Tensor | PartialSums = hidden;
    for (let i = 0; i < c.numLayers; i++) {
      const lw = this.w.layers[i];
      // Pre-attention norm; from layer 1 on it also adds the previous block's output.
      if (i === 0) {
        rec.copy(hidden, residual);
        rmsNorm(rec, hidden, lw.inputNorm, rows(this.a.normed, T), c.rmsNormEps);
      } else {
        fusedAddRmsNorm(rec, blockOut, residual, lw.inputNorm, rows(this.a.normed, T), c.rmsNormEps);
      }
      // Each block returns a promise only where it waits for other ranks (token-parallel attention,
      // the tensor-parallel all-reduce): a single rank records the whole step without yielding.
      const attending = this.attentionBlock(rec, i, lw, x, hidden); // attention output
      blockOut = attending instanceof Promise ? await attending : attending;
      if (lw.attnOutNorm) rmsNorm(rec, blockOut as Tensor, lw.attnOutNorm, blockOut as Tensor, c.rmsNormEps); // Gemma: written out, not deferred
      fusedAddRmsNorm(rec, blockOut, residual, lw.postNorm, rows(this.a.normed, T), c.rmsNormEps);
      // The last MLP output is gathered below by row, so it is written out (hidden).
      const mlp = this.mlpBlock(rec, lw, T, hidden, i + 1 < c.numLayers); // MLP output
      blockOut = mlp instanceof Promise ? await mlp : mlp;
      if (lw.mlpOutNorm) rmsNorm(rec, blockOut as Tensor, lw.mlpOutNorm, blockOut as Tensor, c.rmsNormEps);
      if (this.submitEveryLayers > 0 && (i + 1) % this.submitEveryLayers === 0 && i + 1 < c.numLayers) rec.split();
    }
    if (opts.skipLogits) return null;
    // Only rows that sample need the final norm and the vocabulary projection.
    const S = x.numLogits;
    const last = rows(this.a.lastHidden, S);
    const lastResidual = rows(this.a.lastNormed, S);
    embedding(rec, x.logitsIndices, hidden, last); // gather rows: last = hidden[logitsIndices]
    embedding(rec, x.logitsIndices, residual, lastResidual);
    fusedAddRmsNorm(rec, last, lastResidual, this.w.finalNorm, last, c.rmsNormEps);
    const logits = rows(this.a.logits, S);
    linear(rec, last, this.w.lmHead, this.w.logitsMask ?? null, logits, { mode: this.linearMode }); // logits: [S, V] f32
    if (c.finalLogitSoftcap !== null) logitSoftcap(rec, logits, c.finalLogitSoftcap); // Gemma 2 (masked ids stay -inf)
    return logits;
  }

  /**
   * A block's last linear: without tensor parallelism its fold is left to the next norm where the plan
   * has one (linearDeferred; same bits); under TP the all-reduce needs the output itself.
   */
  // x: [T, K] -> out: [T, N] (or its partial sums)
  private blockLinear(rec: Recorder, x: Tensor, w: LinearWeight, bias: Tensor | null, out: Tensor, defer: boolean): Tensor | PartialSums | Promise<Tensor> {
    // Gemma's norm after each block reads the output itself (rmsNorm takes no partial sums).
    if (defer && this.tp === NO_REDUCE && !this.config.sandwichNorms) return linearDeferred(rec, x, w, bias, out, { mode: this.linearMode });
    linear(rec, x, w, bias, out, { mode: this.linearMode }); // out: partial sum under TP
    const reducing = this.tp.reduce(rec, out);
    return reducing ? reducing.then(() => out) : out;
  }

  // normed: [T, H] -> out: [T, H] (or the o_proj's partial sums)
  private attentionBlock(rec: Recorder, layer: number, lw: LayerWeights, x: ForwardInputs, out: Tensor): Tensor | PartialSums | Promise<Tensor | PartialSums> {
    const c = this.config;
    const T = x.numTokens;
    const normed = rows(this.a.normed, T);
    const qkv = rows(this.a.qkv, T);
    const q = rows(this.a.q, T);
    const k = rows(this.a.k, T);
    const v = rows(this.a.v, T);
    linear(rec, normed, lw.qkv, lw.qkvBias, qkv, { mode: this.linearMode }); // qkv: [T, (Hq + 2·Hk)·D]
    const q3 = reshape(q, [T, c.numHeads, c.headDim]);
    const k3 = reshape(k, [T, c.numKvHeads, c.headDim]);
    const v3 = reshape(v, [T, c.numKvHeads, c.headDim]);
    const cosSin = c.layerWindows[layer] !== null ? this.cosSinLocal : this.cosSin;
    // q3: [T, Hq, D], k3, v3: [T, Hk, D], q and k rotated; the rows that attend on this rank also go into its KV cache.
    if (lw.qNorm && lw.kNorm) {
      // Qwen3 / Gemma 3: each head of q and k is RMS-normed before RoPE, in the same pass.
      splitQkvNormRotary(rec, qkv, lw.qNorm, lw.kNorm, q3, k3, v3, x.positions, cosSin, { rotaryDim: c.rotaryDim, eps: c.rmsNormEps }, this.attention.kvCacheWrite(layer));
    } else {
      splitQkvRotary(rec, qkv, q3, k3, v3, x.positions, cosSin, { style: 'neox', rotaryDim: c.rotaryDim }, this.attention.kvCacheWrite(layer));
    }
    const attn = rows(this.a.attn, T);
    const attending = this.attention.forward(rec, layer, q3, k3, v3, reshape(attn, [T, c.numHeads, c.headDim]));
    return attending ? attending.then(() => this.blockLinear(rec, attn, lw.o, lw.oBias, out, true)) : this.blockLinear(rec, attn, lw.o, lw.oBias, out, true); // out: [T, H]
  }

  // normed: [T, H] -> out: [T, H] (or, with `defer`, the down projection's partial sums)
  private mlpBlock(rec: Recorder, lw: LayerWeights, T: number, out: Tensor, defer: boolean): Tensor | PartialSums | Promise<Tensor> {
    const gateUp = rows(this.a.gateUp, T);
    const act = rows(this.a.act, T);
    const gu = linearDeferred(rec, rows(this.a.normed, T), lw.gateUp, null, gateUp, { mode: this.linearMode }); // [T, 2I]
    siluAndMul(rec, gu, act, this.config.hiddenAct); // [T, I]
    return this.blockLinear(rec, act, lw.down, null, out, defer); // [T, H]
  }
}

/** Width of the fused q/k/v projection of (this rank's part of) `c`. */
export function qkvWidth(c: ModelConfig): number {
  return (c.numHeads + 2 * c.numKvHeads) * c.headDim;
}
