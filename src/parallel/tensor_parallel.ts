// Tensor parallelism inside a TP group (Megatron-style): q/k/v and gate/up split by output
// rows (attention heads / MLP columns), o_proj and down_proj split by input columns with an
// all-reduce of their partial outputs; norms, embedding and lm_head replicated.
import type { Gpu } from '../gpu/gpu.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import type { ModelConfig } from '../loader/model_config.js';
import type { RowParallelReduce } from '../model/attention.js';
import { wholeWindow, type ShardRole, type WeightLayout, type WeightTransform } from '../model/weights.js';
import type { PackedTransform } from '../model/quant_weights.js';
import type { PackedWeight } from '../quant/packed_weight.js';
import { packedColumns, packedRows } from '../quant/packed_split.js';
import type { Communicator } from './communicator.js';
import { TopologyError } from './topology.js';

/** The shapes one TP rank computes with: its share of heads and of the MLP. */
export function localModelConfig(c: ModelConfig, tp: number): ModelConfig {
  if (tp === 1) return c;
  for (const [what, n] of [
    ['num_attention_heads', c.numHeads],
    ['num_key_value_heads', c.numKvHeads],
    ['intermediate_size', c.intermediateSize],
  ] as const) {
    if (n % tp !== 0) throw new TopologyError(`tensorParallelSize ${tp} does not divide ${what} (${n})`);
  }
  return { ...c, numHeads: c.numHeads / tp, numKvHeads: c.numKvHeads / tp, intermediateSize: c.intermediateSize / tp };
}

/** Splits checkpoint tensors for TP rank `rank` of `size`. */
export function tensorParallelShard(rank: number, size: number): WeightTransform {
  return (name: string, role: ShardRole, data: Uint16Array, shape: readonly number[]) => {
    if (size === 1 || role === 'replicated') return { data, shape: [...shape] };
    if (role === 'rowBias') return { data: rank === 0 ? data : new Uint16Array(data.length), shape: [...shape] };
    if (role === 'column') {
      const rows = shape[0];
      if (rows % size !== 0) throw new TopologyError(`${name}: ${rows} rows not divisible by tensorParallelSize ${size}`);
      const per = rows / size;
      const cols = shape.length > 1 ? shape[1] : 1;
      return { data: data.slice(rank * per * cols, (rank + 1) * per * cols), shape: shape.length > 1 ? [per, cols] : [per] };
    }
    const [rows, cols] = shape;
    if (cols % size !== 0) throw new TopologyError(`${name}: ${cols} columns not divisible by tensorParallelSize ${size}`);
    const per = cols / size;
    const out = new Uint16Array(rows * per);
    for (let r = 0; r < rows; r++) out.set(data.subarray(r * cols + rank * per, r * cols + (rank + 1) * per), r * per);
    return { data: out, shape: [rows, per] };
  };
}

/**
 * tensorParallelShard's split of a quantized projection (src/quant/packed_split.ts): column-parallel by
 * rows, row-parallel by in features on group and word boundaries (refused, naming the shape, elsewhere).
 */
export function tensorParallelPackedShard(rank: number, size: number): PackedTransform {
  return (name: string, role: 'column' | 'row', p: PackedWeight) => {
    if (size === 1) return p;
    if (role === 'row') return packedColumns(p, rank, size, name);
    const rows = p.shape[0];
    if (rows % size !== 0) throw new TopologyError(`${name}: ${rows} rows not divisible by tensorParallelSize ${size}`);
    const per = rows / size;
    return packedRows(p, rank * per, per);
  };
}

/** The shape-only split of tensorParallelShard (for dummy weights made on the GPU): same parts. */
export function tensorParallelLayout(rank: number, size: number): WeightLayout {
  return (name: string, role: ShardRole, shape: readonly number[]) => {
    const whole = wholeWindow(shape);
    if (size === 1 || role === 'replicated') return whole;
    if (role === 'rowBias') return { ...whole, zero: rank !== 0 };
    if (role === 'column') {
      const rows = shape[0];
      if (rows % size !== 0) throw new TopologyError(`${name}: ${rows} rows not divisible by tensorParallelSize ${size}`);
      const per = rows / size;
      return { shape: shape.length > 1 ? [per, shape[1]] : [per], base: rank * per * whole.cols, cols: whole.cols, fullCols: whole.cols, zero: false };
    }
    const [rows, cols] = shape;
    if (cols % size !== 0) throw new TopologyError(`${name}: ${cols} columns not divisible by tensorParallelSize ${size}`);
    const per = cols / size;
    return { shape: [rows, per], base: rank * per, cols: per, fullCols: cols, zero: false };
  };
}

/** Sums the partial outputs of a row-parallel linear over the TP group (host-staged). */
export class TensorParallelReduce implements RowParallelReduce {
  /** Wall time spent in the all-reduce (ms), for --profile. */
  commMs = 0;
  constructor(
    private readonly gpu: Gpu,
    private readonly comm: Communicator,
  ) {}

  // partial: [T, H] f16, summed in place
  async reduce(rec: Recorder, partial: Tensor): Promise<void> {
    if (partial.shape[0] === 0) return;
    rec.split();
    const t0 = performance.now();
    const host = (await this.gpu.read(partial)) as Uint16Array;
    const sum = await this.comm.allReduce(new Uint8Array(host.buffer, host.byteOffset, host.byteLength), 'f16');
    this.gpu.write(partial, new Uint16Array(sum.buffer.slice(sum.byteOffset, sum.byteOffset + sum.byteLength)));
    this.commMs += performance.now() - t0;
  }
}
