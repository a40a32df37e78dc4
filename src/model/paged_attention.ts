// Single-rank attention over a paged KV cache: decode attention (split-K) for the decode rows and
// flash-style prefill attention for the rest, over a cache that already holds this step's k/v (the
// model writes them fused with rotary: kvCacheWrite; a token-parallel rank that receives its rows
// writes them with writeKv).
import type { Recorder } from '../gpu/recorder.js';
import { sliceView, type Tensor } from '../gpu/tensor.js';
import type { Gpu } from '../gpu/gpu.js';
import { decodeAttention, decodeAttentionPartitions, planDecodeAttention } from '../kernels/decode_attention.js';
import { checkPrefillAttention, prefillAttention } from '../kernels/prefill_attention.js';
import { reshapeAndCache } from '../kernels/reshape_and_cache.js';
import type { KvCacheWrite } from '../kernels/split_qkv_rotary.js';
import type { AttentionLayer, AttentionMetadata, StepAttention, StepLayout } from './attention.js';
import type { KvCache } from './kv_cache.js';

/**
 * Refuses at load (ShapeError) attention shapes this device's kernels cannot run, which would otherwise
 * fail the first request: decode attention's lane plan (subgroup sizes) and prefill's tile and memory.
 */
export function checkAttentionDevice(gpu: Gpu, shape: { readonly numHeads: number; readonly numKvHeads: number; readonly headDim: number }): void {
  planDecodeAttention(shape.numHeads, shape.numKvHeads, shape.headDim, gpu.caps.subgroupMinSize || 4);
  checkPrefillAttention(gpu, shape.numHeads / shape.numKvHeads, shape.headDim);
}

export class PagedAttention implements StepAttention {
  private meta: AttentionMetadata | undefined;

  constructor(
    readonly cache: KvCache,
    /** Per layer: scale, sliding window, soft-cap (attentionLayers). */
    private readonly layers: readonly AttentionLayer[],
  ) {}

  /** Sets the metadata of the step about to be recorded (the layout is other ranks' business). */
  setStep(_layout: StepLayout | null, meta: AttentionMetadata): void {
    this.meta = meta;
  }

  /**
   * Decode-only steps: the row counts and decode attention's partition count (its one dependence on
   * the sequence lengths: the lengths themselves are read from buffers). Steps with prefill chunks
   * are not replayed (their query lengths seldom repeat).
   */
  replayKey(): string | null {
    const m = this.meta;
    if (!m || m.numPrefills > 0) return null;
    return `${m.numTokens} ${m.numDecodes} ${decodeAttentionPartitions(m.maxDecodeSeqLen)}`;
  }

  kvCacheWrite(layer: number): KvCacheWrite {
    const m = this.step('kvCacheWrite');
    const { k: kCache, v: vCache } = this.cache.layer(layer);
    return { kCache, vCache, slotMapping: m.slotMapping };
  }

  /** Writes this step's k/v rows (k/v: [T, Hk, D]) into layer `layer`'s cache (rows received from the root). */
  writeKv(rec: Recorder, layer: number, k: Tensor, v: Tensor): void {
    const { kCache, vCache, slotMapping } = this.kvCacheWrite(layer);
    reshapeAndCache(rec, k, v, kCache, vCache, slotMapping);
  }

  private step(caller: string): AttentionMetadata {
    if (!this.meta) throw new Error(`PagedAttention.${caller} before setStep`);
    return this.meta;
  }

  // q: [T, Hq, D], out: [T, Hq, D]; this step's k/v rows are in the cache (k, v unused)
  forward(rec: Recorder, layer: number, q: Tensor, _k: Tensor, _v: Tensor, out: Tensor): void {
    const m = this.step('forward');
    if (m.numTokens === 0) return;
    const { k: kCache, v: vCache } = this.cache.layer(layer);
    const how = this.layers[layer];
    if (m.numDecodes > 0) {
      decodeAttention(rec, sliceView(q, 0, m.numDecodes), kCache, vCache, m.decodeBlockTables, m.decodeSeqLens, sliceView(out, 0, m.numDecodes), {
        ...how,
        maxSeqLen: m.maxDecodeSeqLen,
      });
    }
    if (m.numPrefills > 0) {
      prefillAttention(rec, q, kCache, vCache, m.prefillQueryStartLoc, m.prefillSeqLens, m.prefillBlockTables, out, {
        ...how,
        maxQueryLen: m.maxPrefillQueryLen,
      });
    }
  }
}
