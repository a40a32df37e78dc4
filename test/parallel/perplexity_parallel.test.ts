// `tknp bench perplexity` through the distributed executor (ranks as processes over sockets on the
// software adapter): every row's logits come back from the root rank as from one rank, so the
// per-token NLLs at tknp 2 are bitwise those of tknp 1, and tp 2 (its all-reduce changes the
// summation order) is within the parity tolerance of twice 0.02 per NLL (test/bench/perplexity.test.ts).
import { describe, expect, it } from 'vitest';
import { runPerplexity, type PerplexityReport } from '../../src/bench/perplexity.js';
import { kvBytesForBlocks, loadFixture } from '../helpers/engine.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

describe.skipIf(!gpu)(`bench perplexity under token and tensor parallelism ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const fx = loadFixture('tiny-llama');
  // Two windows of 20 over the fixture prompts and their greedy continuations.
  const stream = fx.prompts.flatMap((p, i) => [...p.ids, ...fx.greedy[i].ids]).slice(0, 41);
  const run = (tp: number, tknp: number): Promise<PerplexityReport> =>
    runPerplexity({
      engine: { model: fx.dir, quiet: true, kvCacheBytes: kvBytesForBlocks(fx.dir, 16), tensorParallelSize: tp, tokenParallelSize: tknp, communicator: 'socket', commTimeoutMs: 60_000 },
      stream,
      window: 20,
      keepTokenNlls: true,
    });

  it('tknp 2 gives bitwise the NLLs of tknp 1; tp 2 is within tolerance', async () => {
    const one = await run(1, 1);
    expect(one.windows).toBe(2);
    expect(one.tokenNlls!.length).toBe(40);
    const tknp2 = await run(1, 2);
    expect(tknp2.tokenParallelSize).toBe(2);
    expect(tknp2.tokenNlls).toEqual(one.tokenNlls);
    expect(tknp2.meanNll).toBe(one.meanNll);
    const tp2 = await run(2, 1);
    const diff = Math.max(...tp2.tokenNlls!.map((x, i) => Math.abs(x - one.tokenNlls![i])));
    console.log(`[perplexity_parallel.test] max |NLL(tp 2) - NLL(tp 1)| = ${diff.toExponential(2)}; mean NLL ${one.meanNll.toFixed(5)} vs ${tp2.meanNll.toFixed(5)}`);
    expect(diff).toBeLessThanOrEqual(0.04);
  });
});
