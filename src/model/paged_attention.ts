// Single-rank attention over a paged KV cache: write k/v into the cache, then decode
// attention (split-K) for the decode rows and flash-style prefill attention for the rest.
import type { Recorder } from '../gpu/recorder.js';
import { sliceView, type Tensor } from '../gpu/tensor.js';
import { decodeAttention, decodeAttentionPartitions } from '../kernels/decode_attention.js';
import { prefillAttention } from '../kernels/prefill_attention.js';
import { reshapeAndCache } from '../kernels/reshape_and_cache.js';
import type { AttentionMetadata, StepAttention, StepLayout } from './attention.js';
import type { KvCache } from './kv_cache.js';

export class PagedAttention implements StepAttention {
  private meta: AttentionMetadata | undefined;

  constructor(
    readonly cache: KvCache,
    private readonly scale: number,
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

  // q: [T, Hq, D], k/v: [T, Hk, D], out: [T, Hq, D]
  forward(rec: Recorder, layer: number, q: Tensor, k: Tensor, v: Tensor, out: Tensor): void {
    const m = this.meta;
    if (!m) throw new Error('PagedAttention.forward before setStep');
    if (m.numTokens === 0) return;
    const { k: kCache, v: vCache } = this.cache.layer(layer);
    reshapeAndCache(rec, k, v, kCache, vCache, m.slotMapping);
    if (m.numDecodes > 0) {
      decodeAttention(rec, sliceView(q, 0, m.numDecodes), kCache, vCache, m.decodeBlockTables, m.decodeSeqLens, sliceView(out, 0, m.numDecodes), {
        scale: this.scale,
        maxSeqLen: m.maxDecodeSeqLen,
      });
    }
    if (m.numPrefills > 0) {
      prefillAttention(rec, q, kCache, vCache, m.prefillQueryStartLoc, m.prefillSeqLens, m.prefillBlockTables, out, {
        scale: this.scale,
        maxQueryLen: m.maxPrefillQueryLen,
      });
    }
  }
}
