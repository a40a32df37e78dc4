// At-load quantization (--quantization int8|int4|w8a8) on a pool of threads (quant/quant_pool.ts),
// reading ahead of the loader: the projections are quantized in `plan` order (the order loadWeights
// takes them), each whole checkpoint tensor cut into blocks of rows that are read straight into
// their own buffers, handed to the threads by transfer (decoded, checked and quantized there) and
// stacked back in order. Rows quantize independently, so the result is bitwise that of quantizing
// the whole tensor at once, and every tensor-parallel rank, which quantizes the whole tensor and
// then takes its part, sees the same values. Memory stays bounded: tensors are started ahead only
// while the ones started and not yet taken hold fewer than `aheadElems` values.
import type { FloatDType } from '../loader/f16_decode.js';
import { checkPackable, type PackedWeight, type QuantBits } from '../quant/packed_weight.js';
import { concatPackedRows } from '../quant/packed_split.js';
import type { QuantPool } from '../quant/quant_pool.js';
import { atLoadGroupSize, type WeightFormat } from '../quant/weight_format.js';

/** A checkpoint tensor quantized at load: [N, K]. */
export interface AtLoadTensor {
  readonly name: string;
  readonly shape: readonly [number, number];
}

/** Checkpoint.readFloatRows, and the loader's progress count (bytes as f16). */
export interface RowReads {
  readonly readFloatRows: (name: string, shape: readonly number[], r0: number, r1: number) => Promise<{ raw: Uint8Array; dtype: FloatDType; path: string; indexBase: number }>;
  readonly tick: (bytes: number) => void;
}

export interface AtLoadOptions {
  /** Values in a block of rows (whole rows, at least one): 2^22 (8 MiB as f16). */
  readonly blockElems?: number;
  /** Values started ahead of the loader: 2 blocks a thread. */
  readonly aheadElems?: number;
}

export class AtLoadQuantizer {
  private readonly started = new Map<string, { shape: readonly [number, number]; packed: Promise<PackedWeight> }>();
  private next = 0;
  private aheadNow = 0;
  private tensors = 0;
  private threadMs = 0;
  private waitedMs = 0;
  private readonly blockElems: number;
  private readonly aheadElems: number;

  constructor(
    private readonly pool: QuantPool,
    private readonly reads: RowReads,
    private readonly format: WeightFormat,
    private readonly plan: readonly AtLoadTensor[],
    opts: AtLoadOptions = {},
  ) {
    this.blockElems = opts.blockElems ?? 2 ** 22;
    this.aheadElems = opts.aheadElems ?? 2 * pool.threads * this.blockElems;
  }

  /** The whole checkpoint tensor `name` [N, K], quantized. */
  async take(name: string, shape: readonly [number, number]): Promise<PackedWeight> {
    if (!this.started.has(name)) {
      const at = this.plan.findIndex((t, i) => i >= this.next && t.name === name && t.shape[0] === shape[0] && t.shape[1] === shape[1]);
      if (at >= 0) while (this.next <= at) this.startNext();
      else this.start({ name, shape });
    }
    const { packed } = this.started.get(name)!;
    this.started.delete(name);
    this.aheadNow -= shape[0] * shape[1];
    while (this.next < this.plan.length && (this.started.size === 0 || this.aheadNow < this.aheadElems)) this.startNext();
    const t0 = performance.now();
    try {
      return await packed;
    } finally {
      this.waitedMs += performance.now() - t0;
    }
  }

  /** For the load's summary line, e.g. `quantized 224 tensors on 8 threads (41.0 s of thread time; loading waited 5.2 s)`. */
  summary(): string {
    return `quantized ${this.tensors} tensors on ${this.pool.threads} thread${this.pool.threads === 1 ? '' : 's'} (${(this.threadMs / 1000).toFixed(1)} s of thread time; loading waited ${(this.waitedMs / 1000).toFixed(1)} s)`;
  }

  private startNext(): void {
    this.start(this.plan[this.next++]);
  }

  private start(t: AtLoadTensor): void {
    const packed = this.quantize(t.name, t.shape);
    packed.catch(() => {}); // a tensor started ahead whose load is abandoned must not be an unhandled rejection
    this.started.set(t.name, { shape: t.shape, packed });
    this.aheadNow += t.shape[0] * t.shape[1];
  }

  // name: [N, K] → blocks of whole rows, each read, decoded and quantized by a thread, stacked in order.
  private async quantize(name: string, shape: readonly [number, number]): Promise<PackedWeight> {
    const [N, K] = shape;
    const bits = this.format.bits as QuantBits;
    const groupSize = atLoadGroupSize(this.format, K, name);
    checkPackable(shape, bits, groupSize, name);
    const rows = Math.max(1, Math.floor(this.blockElems / K));
    const blocks: Promise<PackedWeight>[] = [];
    for (let r0 = 0; r0 < N; r0 += rows) {
      const r1 = Math.min(N, r0 + rows);
      blocks.push(
        this.reads.readFloatRows(name, shape, r0, r1).then(async ({ raw, dtype, path, indexBase }) => {
          const b = await this.pool.run({ raw, dtype, path, name, indexBase, rows: r1 - r0, K, bits, groupSize, symmetric: this.format.symmetric });
          this.threadMs += b.ms;
          return { bits, symmetric: this.format.symmetric, groupSize, shape: [r1 - r0, K], qweight: b.qweight, scales: b.scales, zeros: b.zeros };
        }),
      );
    }
    const parts = await Promise.all(blocks);
    this.reads.tick(N * K * 2);
    this.tensors++;
    return concatPackedRows(parts, name);
  }
}
