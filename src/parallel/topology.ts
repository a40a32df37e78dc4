// World = tp × tknp ranks. Global rank r has tpRank = r % tp and tknpRank = floor(r / tp):
// the TP group of a token-parallel rank is contiguous (ranks k*tp .. k*tp+tp-1), and the
// token-parallel group of a TP rank strides by tp. Token-parallel rank 0 is the root: its TP
// group holds the weights; global rank 0 also runs the engine and scheduler.

export interface Topology {
  readonly worldSize: number;
  readonly tensorParallelSize: number;
  readonly tokenParallelSize: number;
  readonly rank: number;
  readonly tpRank: number;
  readonly tknpRank: number;
  /** Global ranks of this rank's TP group, in TP-rank order. */
  readonly tpGroup: readonly number[];
  /** Global ranks of this rank's token-parallel group, in token-parallel-rank order. */
  readonly tknpGroup: readonly number[];
  /** True on the ranks of the root TP group (they hold weights). */
  readonly isRoot: boolean;
  /** True on global rank 0 (the engine). */
  readonly isDriver: boolean;
}

export class TopologyError extends Error {
  override readonly name = 'TopologyError';
}

export function topology(rank: number, tensorParallelSize: number, tokenParallelSize: number): Topology {
  const worldSize = tensorParallelSize * tokenParallelSize;
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new TopologyError(`rank ${rank} outside world of ${worldSize} (tp ${tensorParallelSize} × tknp ${tokenParallelSize})`);
  }
  const tpRank = rank % tensorParallelSize;
  const tknpRank = Math.floor(rank / tensorParallelSize);
  return {
    worldSize,
    tensorParallelSize,
    tokenParallelSize,
    rank,
    tpRank,
    tknpRank,
    tpGroup: Array.from({ length: tensorParallelSize }, (_, i) => tknpRank * tensorParallelSize + i),
    tknpGroup: Array.from({ length: tokenParallelSize }, (_, i) => i * tensorParallelSize + tpRank),
    isRoot: tknpRank === 0,
    isDriver: rank === 0,
  };
}
