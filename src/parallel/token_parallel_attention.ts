// Token-parallel attention. Each token-parallel rank holds the paged KV cache of the requests
// placed on it. Per layer, the root (token-parallel rank 0 of each TP rank's group) has q/k/v
// for every token of the step; it keeps its own rows, scatters each other rank's rows to it,
// and gathers their attention outputs back in step order. Rows are already grouped by rank
// (scheduler contract), so scatter and gather move contiguous row ranges and need no shuffle.
// A step where no other rank has tokens moves nothing (every rank knows the counts).
import type { Gpu } from '../gpu/gpu.js';
import { Recorder } from '../gpu/recorder.js';
import { copyRows, rows, type Tensor } from '../gpu/tensor.js';
import type { KvCacheWrite } from '../kernels/split_qkv_rotary.js';
import type { AttentionMetadata, StepAttention, StepLayout } from '../model/attention.js';
import type { PagedAttention } from '../model/paged_attention.js';
import type { FlatBatch } from '../scheduler/scheduler_output.js';
import type { Communicator } from './communicator.js';

/** Where a step's time went on the root, summed over layers (ms), for --profile. */
export interface TokenParallelProfile {
  /** Waiting for the root's own GPU work up to the exchange (QKV etc.) and reading rows back. */
  rootComputeMs: number;
  scatterMs: number;
  /** From the end of the scatter until every rank's output arrived (their attention + gather). */
  gatherMs: number;
  /** Writing the gathered rows into the output tensor. */
  writeMs: number;
}

export function emptyProfile(): TokenParallelProfile {
  return { rootComputeMs: 0, scatterMs: 0, gatherMs: 0, writeMs: 0 };
}

function bytesOf(t: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }, start: number, len: number): Uint8Array {
  return new Uint8Array(t.buffer, t.byteOffset + start, len);
}

/** The root side (token-parallel rank 0). */
export class TokenParallelAttention implements StepAttention {
  private counts: number[] = [];
  private starts: number[] = [];
  profile = emptyProfile();

  constructor(
    private readonly gpu: Gpu,
    private readonly local: PagedAttention,
    private readonly comm: Communicator,
  ) {}

  setStep(layout: StepLayout, local: AttentionMetadata): void {
    this.counts = [...layout.numTokensPerRank];
    this.starts = [...layout.tokenStartPerRank];
    this.local.setStep(layout, local);
  }

  /** The root's own rows go into its cache; the others' k/v rows are read back from k and v. */
  kvCacheWrite(layer: number): KvCacheWrite {
    return this.local.kvCacheWrite(layer);
  }

  /** The local key where only this rank has rows (nothing is exchanged), else null. */
  replayKey(): string | null {
    return this.counts.every((n, r) => r === 0 || n === 0) ? this.local.replayKey() : null;
  }

  // q: [T, Hq, D], k/v: [T, Hk, D], out: [T, Hq, D]; rank r's rows are [starts[r], starts[r]+counts[r])
  async forward(rec: Recorder, layer: number, q: Tensor, k: Tensor, v: Tensor, out: Tensor): Promise<void> {
    const n0 = this.counts[0];
    const T = q.shape[0];
    const ownRows = () => {
      if (n0 > 0) this.local.forward(rec, layer, rows(q, n0), rows(k, n0), rows(v, n0), rows(out, n0));
    };
    if (T === n0) return ownRows();
    // Submit what produced q/k/v, read the other ranks' rows back first, then submit the root's
    // own attention so that it runs on the GPU while the rows travel and the ranks attend.
    let t = performance.now();
    rec.split();
    const read = this.gpu.readMany([copyRows(q, n0, T - n0), copyRows(k, n0, T - n0), copyRows(v, n0, T - n0)]);
    ownRows();
    rec.split();
    const [qh, kh, vh] = await read;
    const qRow = qh.byteLength / (T - n0);
    const kvRow = kh.byteLength / (T - n0);
    const chunks = this.counts.map((n, r) => {
      if (r === 0 || n === 0) return new Uint8Array(0);
      const first = this.starts[r] - n0;
      const c = new Uint8Array(n * (qRow + 2 * kvRow));
      c.set(bytesOf(qh, first * qRow, n * qRow), 0);
      c.set(bytesOf(kh, first * kvRow, n * kvRow), n * qRow);
      c.set(bytesOf(vh, first * kvRow, n * kvRow), n * (qRow + kvRow));
      return c;
    });
    const p = this.profile;
    p.rootComputeMs += performance.now() - t;
    t = performance.now();
    await this.comm.scatterv(chunks, 0);
    p.scatterMs += performance.now() - t;
    t = performance.now();
    const outs = (await this.comm.gatherv(new Uint8Array(0), 0))!;
    p.gatherMs += performance.now() - t;
    t = performance.now();
    const rowElems = out.shape[1] * out.shape[2];
    for (let r = 1; r < outs.length; r++) {
      if (this.counts[r] === 0) continue;
      const o = outs[r];
      this.gpu.write(out, new Uint16Array(o.buffer.slice(o.byteOffset, o.byteOffset + o.byteLength)), this.starts[r] * rowElems);
    }
    p.writeMs += performance.now() - t;
  }
}

/** A non-root token-parallel rank: no weights, its KV cache, attention for its own requests. */
export class AttentionRank {
  private readonly q: Tensor;
  private readonly k: Tensor;
  private readonly v: Tensor;
  private readonly out: Tensor;
  /** GPU time of attention on this rank (ms, wall clock around submit + readback), for --profile. */
  attentionMs = 0;

  constructor(
    private readonly gpu: Gpu,
    private readonly local: PagedAttention,
    private readonly comm: Communicator,
    private readonly dims: { numLayers: number; numHeads: number; numKvHeads: number; headDim: number },
    maxTokens: number,
  ) {
    const { numHeads, numKvHeads, headDim } = dims;
    this.q = gpu.tensor([maxTokens, numHeads, headDim], 'f16', 'tknp.q');
    this.k = gpu.tensor([maxTokens, numKvHeads, headDim], 'f16', 'tknp.k');
    this.v = gpu.tensor([maxTokens, numKvHeads, headDim], 'f16', 'tknp.v');
    this.out = gpu.tensor([maxTokens, numHeads, headDim], 'f16', 'tknp.out');
  }

  /** Takes part in every layer's scatter and gather of a step (does nothing if only the root has tokens). */
  async runStep(flat: FlatBatch, myRank: number, meta: AttentionMetadata): Promise<void> {
    const n0 = flat.ranks[0].numTokens;
    if (flat.numTokens === n0) return;
    const n = flat.ranks[myRank].numTokens;
    this.local.setStep(null, meta);
    const { numHeads, numKvHeads, headDim } = this.dims;
    const qLen = n * numHeads * headDim;
    const kvLen = n * numKvHeads * headDim;
    for (let layer = 0; layer < this.dims.numLayers; layer++) {
      const chunk = await this.comm.scatterv(null, 0);
      let result: Uint8Array = new Uint8Array(0);
      if (n > 0) {
        const t = performance.now();
        const h = new Uint16Array(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength));
        this.gpu.write(this.q, h.subarray(0, qLen));
        this.gpu.write(this.k, h.subarray(qLen, qLen + kvLen));
        this.gpu.write(this.v, h.subarray(qLen + kvLen, qLen + 2 * kvLen));
        const rec = new Recorder(this.gpu, `tknp attention ${layer}`);
        this.local.writeKv(rec, layer, rows(this.k, n), rows(this.v, n));
        this.local.forward(rec, layer, rows(this.q, n), rows(this.k, n), rows(this.v, n), rows(this.out, n));
        rec.submit();
        const o = (await this.gpu.read(rows(this.out, n))) as Uint16Array;
        result = new Uint8Array(o.buffer, o.byteOffset, o.byteLength);
        this.attentionMs += performance.now() - t;
      }
      await this.comm.gatherv(result, 0);
    }
  }
}
