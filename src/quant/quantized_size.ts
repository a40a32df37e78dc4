// Whole-model checks and sizes of a WeightFormat, before anything is read or allocated:
// every projection must pack in its format (in_features a multiple of the group and of the
// values a word holds; group and in_features multiples of 8, as the kernels read them) and, under tensor parallelism, the row-parallel ones (o_proj, down_proj)
// must split by in features on group and word boundaries; the memory plan's weight bytes.
import type { ModelConfig } from '../loader/model_config.js';
import { checkpointGroupSize } from './checkpoint_tensors.js';
import { checkPackable, QuantLayoutError } from './packed_weight.js';
import { checkColumnSplit } from './packed_split.js';
import { groupSizeFor, type WeightFormat } from './weight_format.js';

interface Projection {
  readonly what: string;
  readonly shape: [number, number]; // [N, K], the whole (tp = 1) weight
  readonly rowParallel: boolean;
}

/** Layer 0's projections of `c` (every layer has the same shapes). */
function projections(c: ModelConfig): Projection[] {
  const H = c.hiddenSize;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  return [
    { what: 'q_proj', shape: [qDim, H], rowParallel: false },
    { what: 'k_proj', shape: [kvDim, H], rowParallel: false },
    { what: 'v_proj', shape: [kvDim, H], rowParallel: false },
    { what: 'o_proj', shape: [H, qDim], rowParallel: true },
    { what: 'gate_proj', shape: [I, H], rowParallel: false },
    { what: 'up_proj', shape: [I, H], rowParallel: false },
    { what: 'down_proj', shape: [H, I], rowParallel: true },
  ];
}

/**
 * Refuses (QuantLayoutError naming the projection and its shape) a model whose projections cannot be
 * packed in `f`, or split over `tp` ranks by in features. `c` is the whole (tp = 1) config.
 */
export function checkQuantizedShapes(c: ModelConfig, f: WeightFormat, tp: number, configFile = 'config.json'): void {
  if (f.source === 'f16') return;
  const bits = f.bits as 4 | 8;
  for (const p of projections(c)) {
    // A checkpoint's group size is config.json's field: refused as such where it does not divide in_features.
    const g = f.checkpoint ? checkpointGroupSize(f.checkpoint, p.shape[1], p.what, configFile) : groupSizeFor(f, p.shape[1], p.what);
    checkPackable(p.shape, bits, g, p.what);
    if (p.shape[1] % 8 !== 0 || g % 8 !== 0) throw new QuantLayoutError(`${p.what}: in_features ${p.shape[1]} with groups of ${g}: the quantized kernels read 8 weights of one group at a time (both must be multiples of 8)`);
    if (p.rowParallel) checkColumnSplit(p.shape, bits, g, tp, `${p.what} (row-parallel)`);
  }
}

/** Bytes of the weights of `c` (a rank's config under TP) in format `f`: projections packed, the rest f16. */
export function weightBytesOf(c: ModelConfig, f: WeightFormat): number {
  const H = c.hiddenSize;
  const f16Params = c.vocabSize * H * (c.tieWordEmbeddings ? 1 : 2) + H + c.numLayers * ((c.sandwichNorms ? 4 : 2) * H + (c.qkNorm ? 2 * c.headDim : 0));
  let perLayer = 0;
  for (const { shape } of projections(c)) {
    const [N, K] = shape;
    if (f.source === 'f16') {
      perLayer += N * K * 2;
      continue;
    }
    const groups = Math.ceil(K / (f.groupSize ?? K)); // an estimate where a smaller group is used

    perLayer += (N * K * (f.bits as number)) / 8 + N * groups * 2 * (f.symmetric ? 1 : 2);
  }
  return f16Params * 2 + c.numLayers * perLayer;
}
