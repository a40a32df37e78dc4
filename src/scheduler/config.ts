// Scheduler configuration and its validation. `validateSchedulerConfig` is pure: it fills
// defaults, checks every value and returns a frozen, complete SchedulerConfig, or throws a
// ConfigError naming the field.

/** A configuration value is missing or out of range. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`scheduler config ${field}=${Array.isArray(value) ? `[${value}]` : String(value)}: ${reason}`);
  }
}

export interface SchedulerConfig {
  /** Tokens per KV block; fixed at 16 by the kernels' cache layout. */
  readonly blockSize: number;
  /** Token-parallel ranks; each holds its own requests' KV cache. = numBlocksPerRank.length. */
  readonly tokenParallelSize: number;
  /** KV blocks of each rank (ranks may differ). Total capacity is their sum. */
  readonly numBlocksPerRank: readonly number[];
  /** Token budget of one step, summed over all ranks (decode tokens + prefill chunks). */
  readonly maxNumBatchedTokens: number;
  /** Most requests running at once (holding KV blocks), over all ranks; so also most per step. */
  readonly maxNumSeqs: number;
  /** Most tokens (prompt + output) of a request; it finishes with FINISHED_LENGTH at this length. */
  readonly maxModelLen: number;
  /** Longest prefill chunk of one request in one step; 0 = only the step budget limits it. */
  readonly longPrefillTokenThreshold: number;
  /** Automatic prefix caching: reuse the KV of full 16-token blocks a request shares with earlier ones. */
  readonly enablePrefixCaching: boolean;
  /** What else decides the KV contents (model, weights, kernel mode): the root of every block hash. */
  readonly prefixCacheSalt: string;
}

export interface SchedulerConfigInput {
  blockSize?: number;
  /** Optional; must equal numBlocksPerRank.length when given. */
  tokenParallelSize?: number;
  numBlocksPerRank: readonly number[];
  /** Default 2048. */
  maxNumBatchedTokens?: number;
  /** Default 256. */
  maxNumSeqs?: number;
  maxModelLen: number;
  /** Default 0 (off). */
  longPrefillTokenThreshold?: number;
  /** Default true. */
  enablePrefixCaching?: boolean;
  /** Default ''. */
  prefixCacheSalt?: string;
}

export const DEFAULT_MAX_NUM_BATCHED_TOKENS = 2048;
export const DEFAULT_MAX_NUM_SEQS = 256;

export function validateSchedulerConfig(input: SchedulerConfigInput): SchedulerConfig {
  if (input === null || typeof input !== 'object') throw new ConfigError('(config)', input, 'must be an object');
  const blockSize = intField('blockSize', input.blockSize ?? 16, 1);
  if (blockSize !== 16) throw new ConfigError('blockSize', blockSize, 'must be 16 (the KV cache layout of the kernels)');

  const perRank = input.numBlocksPerRank;
  if (!Array.isArray(perRank) || perRank.length === 0) {
    throw new ConfigError('numBlocksPerRank', perRank, 'must be a non-empty array (one entry per token-parallel rank)');
  }
  perRank.forEach((n, i) => intField(`numBlocksPerRank[${i}]`, n, 1));
  const tokenParallelSize = intField('tokenParallelSize', input.tokenParallelSize ?? perRank.length, 1);
  if (tokenParallelSize !== perRank.length) {
    throw new ConfigError('tokenParallelSize', tokenParallelSize, `must equal numBlocksPerRank.length (${perRank.length})`);
  }

  const config: SchedulerConfig = {
    blockSize,
    tokenParallelSize,
    numBlocksPerRank: Object.freeze([...perRank]),
    maxNumBatchedTokens: intField('maxNumBatchedTokens', input.maxNumBatchedTokens ?? DEFAULT_MAX_NUM_BATCHED_TOKENS, 1),
    maxNumSeqs: intField('maxNumSeqs', input.maxNumSeqs ?? DEFAULT_MAX_NUM_SEQS, 1),
    maxModelLen: intField('maxModelLen', input.maxModelLen, 1),
    longPrefillTokenThreshold: intField('longPrefillTokenThreshold', input.longPrefillTokenThreshold ?? 0, 0),
    enablePrefixCaching: boolField('enablePrefixCaching', input.enablePrefixCaching ?? true),
    prefixCacheSalt: input.prefixCacheSalt ?? '',
  };
  if (typeof config.prefixCacheSalt !== 'string') throw new ConfigError('prefixCacheSalt', config.prefixCacheSalt, 'must be a string');
  return Object.freeze(config);
}

/** The block-table width the runner pads to: enough blocks for maxModelLen tokens. */
export function maxBlocksPerSeq(config: SchedulerConfig): number {
  return Math.ceil(config.maxModelLen / config.blockSize);
}

function boolField(field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(field, v, 'must be true or false');
  return v;
}

function intField(field: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ConfigError(field, v, 'must be an integer');
  if (v < min) throw new ConfigError(field, v, `must be >= ${min}`);
  return v;
}
