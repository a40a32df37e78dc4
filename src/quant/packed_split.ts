// Cutting and joining packed weights (src/quant/packed_weight.ts's layout) along their two axes:
//   rows (out features, N): a row of a packed weight is whole (its words, scales and zeros), so the
//       column-parallel split (q/k/v, gate/up by heads / MLP columns) and the fused q|k|v and gate|up
//       stacking are plain row ranges and row concatenations;
//   in features (K): the row-parallel split (o_proj, down_proj) must cut on word and group
//       boundaries; a per-channel weight (one group a row) keeps its scale on every part.
import { QuantLayoutError, type PackedWeight } from './packed_weight.js';

function groupsOf(p: PackedWeight): number {
  return p.shape[1] / p.groupSize;
}

/** Rows [r0, r0 + n) of a packed weight. */
export function packedRows(p: PackedWeight, r0: number, n: number): PackedWeight {
  const [N, K] = p.shape;
  if (!(Number.isInteger(r0) && Number.isInteger(n) && r0 >= 0 && n >= 0 && r0 + n <= N)) throw new QuantLayoutError(`rows [${r0}, ${r0 + n}) outside a packed [${N}, ${K}] weight`);
  const words = (K * p.bits) / 32;
  const g = groupsOf(p);
  return {
    ...p,
    shape: [n, K],
    qweight: p.qweight.slice(r0 * words, (r0 + n) * words),
    scales: p.scales.slice(r0 * g, (r0 + n) * g),
    zeros: p.zeros ? p.zeros.slice(r0 * g, (r0 + n) * g) : null,
  };
}

/** Stacks packed weights of one format and in_features by rows: [Σ N_i, K]. */
export function concatPackedRows(parts: readonly PackedWeight[], what: string): PackedWeight {
  const first = parts[0];
  for (const p of parts) {
    if (p.bits !== first.bits || p.symmetric !== first.symmetric || p.groupSize !== first.groupSize || p.shape[1] !== first.shape[1] || (p.zeros === null) !== (first.zeros === null)) {
      throw new QuantLayoutError(`${what}: its parts are quantized differently (${describe(first)} and ${describe(p)}); a fused projection needs one format`);
    }
  }
  if (parts.length === 1) return first;
  const cat = <T extends Uint32Array | Uint16Array>(arrays: readonly T[], make: (n: number) => T): T => {
    const out = make(arrays.reduce((n, a) => n + a.length, 0));
    let at = 0;
    for (const a of arrays) {
      out.set(a, at);
      at += a.length;
    }
    return out;
  };
  return {
    ...first,
    shape: [parts.reduce((n, p) => n + p.shape[0], 0), first.shape[1]],
    qweight: cat(parts.map((p) => p.qweight), (n) => new Uint32Array(n)),
    scales: cat(parts.map((p) => p.scales), (n) => new Uint16Array(n)),
    zeros: first.zeros ? cat(parts.map((p) => p.zeros!), (n) => new Uint16Array(n)) : null,
  };
}

function describe(p: PackedWeight): string {
  return `${p.bits}-bit g${p.groupSize} ${p.symmetric ? 'symmetric' : 'asymmetric'} [${p.shape}]`;
}

/**
 * Checks that in_features K of a [N, K] weight of `bits` with group `groupSize` splits into `parts` equal
 * slices on group boundaries, each a multiple of 8 values (per channel, groupSize = K: any cut at a multiple
 * of 8); QuantLayoutError naming the shape.
 */
export function checkColumnSplit(shape: readonly [number, number], bits: number, groupSize: number, parts: number, what: string): void {
  const [N, K] = shape;
  if (parts === 1) return;
  const per = K / parts;
  // Whole groups, and whole runs of 8 values (the quantized kernels read 8 weights at a time; a word holds 4 or 8).
  const unit = groupSize === K ? 8 : Math.max(groupSize, 8);
  if (!Number.isInteger(per) || per % unit !== 0) {
    throw new QuantLayoutError(
      `${what}: a [${N}, ${K}] ${bits}-bit weight with groups of ${groupSize === K ? `${K} (per channel)` : groupSize} cannot be split by in_features into ${parts} tensor-parallel parts of ${per}: each part must be a whole number of ${groupSize === K ? 'runs of 8 values' : `groups of ${groupSize}`}`,
    );
  }
}

/** In features [part · K/parts, (part + 1) · K/parts) of a packed weight (checkColumnSplit's rule). */
export function packedColumns(p: PackedWeight, part: number, parts: number, what: string): PackedWeight {
  if (parts === 1) return p;
  checkColumnSplit(p.shape, p.bits, p.groupSize, parts, what);
  const [N, K] = p.shape;
  const per = K / parts;
  const words = (K * p.bits) / 32;
  const perWords = (per * p.bits) / 32;
  const perChannel = p.groupSize === K;
  const g = groupsOf(p);
  const perGroups = perChannel ? 1 : per / p.groupSize;
  const qweight = new Uint32Array(N * perWords);
  const scales = new Uint16Array(N * perGroups);
  const zeros = p.zeros ? new Uint16Array(N * perGroups) : null;
  for (let n = 0; n < N; n++) {
    qweight.set(p.qweight.subarray(n * words + part * perWords, n * words + (part + 1) * perWords), n * perWords);
    const g0 = perChannel ? 0 : part * perGroups;
    scales.set(p.scales.subarray(n * g + g0, n * g + g0 + perGroups), n * perGroups);
    zeros?.set(p.zeros!.subarray(n * g + g0, n * g + g0 + perGroups), n * perGroups);
  }
  return { ...p, groupSize: perChannel ? per : p.groupSize, shape: [N, per], qweight, scales, zeros };
}
