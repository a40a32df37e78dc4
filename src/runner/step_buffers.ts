// GPU copies of one step's inputs, sized once for the largest step and rewritten every step
// with queue.writeBuffer (one step is in flight at a time, so no double-buffering is needed).
import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import type { AttentionMetadata } from '../model/attention.js';
import type { ForwardInputs } from '../model/llama.js';
import type { FlatBatch, RankBatch } from '../scheduler/scheduler_output.js';

/** Token-level inputs of the model (root ranks). */
export class TokenBuffers {
  private readonly inputIds: Tensor;
  private readonly positions: Tensor;
  private readonly logitsIndices: Tensor;

  constructor(
    private readonly gpu: Gpu,
    readonly maxTokens: number,
    readonly maxSeqs: number,
  ) {
    this.inputIds = gpu.tensor([maxTokens], 'u32', 'inputIds');
    this.positions = gpu.tensor([maxTokens], 'u32', 'positions');
    this.logitsIndices = gpu.tensor([maxSeqs], 'u32', 'logitsIndices');
  }

  upload(flat: FlatBatch): ForwardInputs {
    const T = flat.numTokens;
    const S = flat.logitsIndices.length;
    if (T > this.maxTokens || S > this.maxSeqs) throw new Error(`step of ${T} tokens / ${S} sequences exceeds buffers (${this.maxTokens} / ${this.maxSeqs})`);
    this.gpu.write(this.inputIds, flat.inputIds);
    this.gpu.write(this.positions, flat.positions);
    if (S) this.gpu.write(this.logitsIndices, flat.logitsIndices);
    return {
      numTokens: T,
      inputIds: { ...this.inputIds, shape: [T] },
      positions: { ...this.positions, shape: [T] },
      numLogits: S,
      logitsIndices: { ...this.logitsIndices, shape: [S] },
    };
  }
}

/** One rank's attention metadata. */
export class AttentionBuffers {
  private readonly slotMapping: Tensor;
  private readonly decodeSeqLens: Tensor;
  private readonly decodeBlockTables: Tensor;
  private readonly prefillQueryStartLoc: Tensor;
  private readonly prefillSeqLens: Tensor;
  private readonly prefillBlockTables: Tensor;

  constructor(
    private readonly gpu: Gpu,
    maxTokens: number,
    maxSeqs: number,
    readonly maxBlocksPerSeq: number,
  ) {
    this.slotMapping = gpu.tensor([maxTokens], 'u32', 'slotMapping');
    this.decodeSeqLens = gpu.tensor([maxSeqs], 'u32', 'decodeSeqLens');
    this.decodeBlockTables = gpu.tensor([maxSeqs, maxBlocksPerSeq], 'u32', 'decodeBlockTables');
    this.prefillQueryStartLoc = gpu.tensor([maxSeqs + 1], 'u32', 'prefillQueryStartLoc');
    this.prefillSeqLens = gpu.tensor([maxSeqs], 'u32', 'prefillSeqLens');
    this.prefillBlockTables = gpu.tensor([maxSeqs, maxBlocksPerSeq], 'u32', 'prefillBlockTables');
  }

  upload(b: RankBatch): AttentionMetadata {
    const W = this.maxBlocksPerSeq;
    const D = b.numDecodes;
    const P = b.numPrefills;
    if (b.numTokens) this.gpu.write(this.slotMapping, b.slotMapping);
    if (D) {
      this.gpu.write(this.decodeSeqLens, b.seqLens.subarray(0, D));
      this.gpu.write(this.decodeBlockTables, b.blockTables.subarray(0, D * W));
    }
    if (P) {
      this.gpu.write(this.prefillQueryStartLoc, b.queryStartLoc);
      this.gpu.write(this.prefillSeqLens, b.seqLens.subarray(D, D + P));
      this.gpu.write(this.prefillBlockTables, b.blockTables.subarray(D * W, (D + P) * W));
    }
    return {
      numTokens: b.numTokens,
      slotMapping: { ...this.slotMapping, shape: [b.numTokens] },
      numDecodes: D,
      decodeBlockTables: { ...this.decodeBlockTables, shape: [D, W] },
      decodeSeqLens: { ...this.decodeSeqLens, shape: [D] },
      maxDecodeSeqLen: b.maxDecodeSeqLen,
      numPrefills: P,
      prefillQueryStartLoc: { ...this.prefillQueryStartLoc, shape: [P + 1] },
      prefillSeqLens: { ...this.prefillSeqLens, shape: [P] },
      prefillBlockTables: { ...this.prefillBlockTables, shape: [P, W] },
      maxPrefillQueryLen: b.maxPrefillQueryLen,
    };
  }
}
