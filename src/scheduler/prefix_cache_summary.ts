// One line on the prefix cache of a scheduler, for start-up/stats lines and benchmark output:
// hit rate over the tokens admissions looked up, and cached blocks, in total and per rank.
import type { PrefixCacheStats } from '../kv/kv_cache_manager.js';
import type { Scheduler } from './scheduler.js';

/** hits / queries as a percentage ('-' before any query). */
export function hitRate(s: PrefixCacheStats): string {
  return s.queries > 0 ? `${((100 * s.hits) / s.queries).toFixed(1)}%` : '-';
}

export function prefixCacheSummary(sched: Scheduler): string {
  if (!sched.config.enablePrefixCaching) return 'prefix cache off';
  const total = sched.prefixCacheStats();
  const ranks = Array.from({ length: sched.tokenParallelSize }, (_, k) => sched.kvManager(k));
  const cached = ranks.reduce((a, kv) => a + kv.numCachedBlocks, 0);
  const head = `prefix cache hit rate ${hitRate(total)} (${total.hits} of ${total.queries} tokens looked up by ${total.requests} admission${total.requests === 1 ? '' : 's'}), ${cached} block${cached === 1 ? '' : 's'} cached`;
  if (ranks.length === 1) return head;
  return `${head}; ${ranks.map((kv, k) => `rank ${k}: ${hitRate(kv.prefixCacheStats)}, ${kv.numCachedBlocks} cached`).join('; ')}`;
}
