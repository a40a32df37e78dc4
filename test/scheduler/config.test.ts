import { describe, expect, it } from 'vitest';
import { ConfigError, maxBlocksPerSeq, validateSchedulerConfig, type SchedulerConfigInput } from '../../src/scheduler/config.js';

const base: SchedulerConfigInput = { numBlocksPerRank: [100, 50], maxModelLen: 1000 };

describe('validateSchedulerConfig', () => {
  it('fills defaults and returns a frozen complete config', () => {
    const c = validateSchedulerConfig(base);
    expect(c).toEqual({ blockSize: 16, tokenParallelSize: 2, numBlocksPerRank: [100, 50], maxNumBatchedTokens: 2048, maxNumSeqs: 256, maxModelLen: 1000, longPrefillTokenThreshold: 0, enablePrefixCaching: true, prefixCacheSalt: '' });
    expect(Object.isFrozen(c) && Object.isFrozen(c.numBlocksPerRank)).toBe(true);
    expect(maxBlocksPerSeq(c)).toBe(63);
    expect(validateSchedulerConfig({ ...base, tokenParallelSize: 2, maxNumBatchedTokens: 1, maxNumSeqs: 1, longPrefillTokenThreshold: 5 })).toMatchObject({ maxNumBatchedTokens: 1, maxNumSeqs: 1, longPrefillTokenThreshold: 5 });
  });

  it.each<[Partial<SchedulerConfigInput>, string]>([
    [{ maxNumBatchedTokens: 0 }, 'maxNumBatchedTokens'],
    [{ maxNumBatchedTokens: 1.5 }, 'maxNumBatchedTokens'],
    [{ maxNumSeqs: 0 }, 'maxNumSeqs'],
    [{ maxModelLen: 0 }, 'maxModelLen'],
    [{ maxModelLen: Number.NaN }, 'maxModelLen'],
    [{ blockSize: 32 }, 'blockSize'],
    [{ blockSize: 0 }, 'blockSize'],
    [{ numBlocksPerRank: [] }, 'numBlocksPerRank'],
    [{ numBlocksPerRank: [10, 0] }, 'numBlocksPerRank[1]'],
    [{ numBlocksPerRank: [10, -3] }, 'numBlocksPerRank[1]'],
    [{ tokenParallelSize: 3 }, 'tokenParallelSize'],
    [{ longPrefillTokenThreshold: -1 }, 'longPrefillTokenThreshold'],
    [{ maxNumSeqs: '8' as unknown as number }, 'maxNumSeqs'],
    [{ enablePrefixCaching: 'yes' as unknown as boolean }, 'enablePrefixCaching'],
    [{ prefixCacheSalt: 3 as unknown as string }, 'prefixCacheSalt'],
  ])('%j throws a ConfigError naming %s', (patch, field) => {
    let err: unknown;
    try {
      validateSchedulerConfig({ ...base, ...patch });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe(field);
    expect((err as ConfigError).message).toContain(field);
  });
});
