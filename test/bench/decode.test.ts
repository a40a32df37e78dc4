// `tknp bench decode` on the tiny preset with dummy weights (the real scheduler, executors and
// kernels), the dummy-weight path it relies on, and its CPU-only planning.
import { describe, expect, it } from 'vitest';
import { runDecodeBench, type DecodeBenchReport } from '../../src/bench/decode.js';
import { fitBatch, prefillChunks, stepStats } from '../../src/bench/decode_plan.js';
import { renderDecodeTable } from '../../src/bench/decode_report.js';
import { decodeSummary, sideLines } from '../../src/bench/decode_summary.js';
import { presetModelDir } from '../../src/bench/presets.js';
import { tensorParallelLayout, tensorParallelShard } from '../../src/parallel/tensor_parallel.js';
import { EngineConfigError, resolveEngineConfig } from '../../src/engine/config.js';
import { createExecutor } from '../../src/engine/executor_factory.js';
import { normalizeSamplingParams } from '../../src/engine/sampling_params.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { createDummyWeights } from '../../src/model/dummy_weights.js';
import { layerTensors, type ShardRole } from '../../src/model/weights.js';
import { readModelConfig } from '../../src/runner/model_runner.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { flattenSchedulerOutput } from '../../src/scheduler/scheduler_output.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();
const tiny = presetModelDir('tiny');
const bytes = (a: Uint16Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const small = { kvCacheBytes: 2 << 20, maxNumBatchedTokens: 64, maxNumSeqs: 8, quiet: true, commTimeoutMs: 60_000 };

describe('bench decode planning (CPU)', () => {
  it('fitBatch places sequences like the scheduler and stops before any rank would preempt', () => {
    const limits = { maxNumSeqs: 256, maxNumBatchedTokens: 2048 };
    // 40 + 6 tokens = 3 blocks per sequence: 10 blocks hold 3 sequences.
    expect(fitBatch([10], 40, 6, 2, limits)).toEqual({ maxBatch: 2, seqsPerRank: [2], limitedBy: null });
    expect(fitBatch([10], 40, 6, 5, limits)).toEqual({ maxBatch: 3, seqsPerRank: [3], limitedBy: 'kv' });
    expect(fitBatch([10, 31], 40, 6, 100, limits)).toEqual({ maxBatch: 13, seqsPerRank: [3, 10], limitedBy: 'kv' });
    expect(fitBatch([100], 40, 6, 50, { maxNumSeqs: 7, maxNumBatchedTokens: 2048 })).toMatchObject({ maxBatch: 7, limitedBy: 'maxNumSeqs' });
    expect(fitBatch([2], 40, 6, 1, limits)).toMatchObject({ maxBatch: 0, limitedBy: 'kv' });
    // Prompt blocks fit (2 each) but the final 3 would not: 7 blocks hold 2 sequences, not 3.
    expect(fitBatch([7], 32, 1, 4, limits).maxBatch).toBe(2);
  });

  it('prefillChunks cuts whole prompts into budget-sized steps that replay them exactly', () => {
    const rng = new Rng(5);
    for (let trial = 0; trial < 20; trial++) {
      const tknp = rng.int(1, 3);
      const s = new Scheduler({ numBlocksPerRank: Array.from({ length: tknp }, () => 200), maxNumBatchedTokens: 100_000, maxNumSeqs: 64, maxModelLen: 512 });
      const n = rng.int(1, 9);
      const params = normalizeSamplingParams({ temperature: 0 }, {}, () => 0);
      for (let i = 0; i < n; i++) s.addRequest(`r${i}`, Array.from({ length: rng.int(1, 120) }, () => rng.int(0, 999)), params);
      const out = s.schedule();
      const maxTokens = rng.int(1, 70);
      const maxSeqs = rng.int(1, 4);
      const chunks = prefillChunks(out, maxTokens, maxSeqs);
      const seen = new Map<string, { tokens: number[]; slots: number[]; logits: number }>();
      for (const c of chunks) {
        expect(c.numScheduledTokens).toBeLessThanOrEqual(maxTokens);
        expect(c.requests.length).toBeLessThanOrEqual(maxSeqs);
        const flat = flattenSchedulerOutput(c, s.maxBlocksPerSeq); // checks the token-order contract
        expect(flat.numTokens).toBe(c.numScheduledTokens);
        for (const p of c.requests) {
          const e = seen.get(p.requestId) ?? { tokens: [], slots: [], logits: 0 };
          expect(p.positionStart).toBe(e.tokens.length);
          expect(p.blockTable.length).toBe(Math.ceil(p.seqLen / 16));
          e.tokens.push(...p.tokenIds);
          e.slots.push(...p.slotMapping);
          e.logits += Number(p.needsLogits);
          seen.set(p.requestId, e);
        }
      }
      for (const r of out.requests) {
        const e = seen.get(r.requestId)!;
        expect(e.tokens).toEqual(r.tokenIds);
        expect(e.slots).toEqual(r.slotMapping);
        expect(e.logits).toBe(1);
      }
    }
  });

  it('stepStats and the loadFormat field of EngineConfig', () => {
    expect(stepStats([4, 1, 3, 2, 10])).toEqual({ mean: 4, p50: 3, p90: 10, min: 1, max: 10 });
    expect(resolveEngineConfig({ model: tiny }).loadFormat).toBe('safetensors');
    expect(resolveEngineConfig({ model: tiny, loadFormat: 'dummy' }).loadFormat).toBe('dummy');
    expect(() => resolveEngineConfig({ model: tiny, loadFormat: 'gguf' as never })).toThrow(EngineConfigError);
    expect(() => resolveEngineConfig({ model: tiny, enablePrefixCaching: 'no' as never })).toThrow(/enablePrefixCaching/);
    expect(resolveEngineConfig({ model: tiny }).enablePrefixCaching).toBe(true);
  });

  it('--ttft-cached-prefix is refused up front without --ttft or outside [16, ttft)', async () => {
    const base = { batches: [1], contexts: [8], steps: 1, engine: { model: tiny, ...small } };
    await expect(runDecodeBench({ ...base, ttftCachedPrefix: 32 })).rejects.toThrow(/needs ttft/);
    await expect(runDecodeBench({ ...base, ttft: 64, ttftCachedPrefix: 64 })).rejects.toThrow(/\[16, ttft 64\)/);
    await expect(runDecodeBench({ ...base, ttft: 64, ttftCachedPrefix: 8 })).rejects.toThrow(RangeError);
  });
});

describe.skipIf(!gpu)(`bench decode on the tiny preset ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const check = (rep: DecodeBenchReport, tknp: number) => {
    expect(rep.loadFormat).toBe('dummy');
    expect(rep.worldSize).toBe(tknp);
    expect(rep.kv.numBlocksPerRank).toHaveLength(tknp);
    for (const n of rep.kv.numBlocksPerRank) expect(n).toBeGreaterThan(0);
    expect(rep.results).toHaveLength(1);
    const r = rep.results[0];
    expect(r.skipped).toBeUndefined();
    expect(r).toMatchObject({ batch: 2, context: 40, ranBatch: 2, fit: true });
    expect(r.seqsPerRank.reduce((a, b) => a + b, 0)).toBe(2);
    expect(r.prefill).toMatchObject({ mode: 'compute', tokens: 80 });
    expect(Number.isFinite(r.tokensPerSecond) && r.tokensPerSecond! > 0).toBe(true);
    expect(r.tokensPerSecondPerGpu).toBeCloseTo(r.tokensPerSecond! / tknp, 6);
    expect(r.stepMs!.min).toBeGreaterThan(0);
    expect(renderDecodeTable(rep)).toMatch(/tokens\/s/);
    return r;
  };

  it('tknp 1 and tknp 2: finite positive throughput, per-rank KV capacity, CPU record time with 1 rank, profile breakdown with 2 ranks', async () => {
    const opts = { batches: [2], contexts: [40], steps: 3, warmupSteps: 1, preset: 'tiny' };
    const rep1 = await runDecodeBench({ ...opts, engine: { model: tiny, ...small }, ttft: 60, ttftCachedPrefix: 40 });
    const one = check(rep1, 1);
    expect(one.profile).toBeUndefined();
    // --ttft with a cached prefix: the timed prompts find the prefix's 2 whole blocks cached
    expect(rep1.ttft).toMatchObject({ tokens: 60, cached: { prefixTokens: 40, cachedTokens: 32 } });
    expect(rep1.ttft!.cached!.runsMs).toHaveLength(3);
    expect(rep1.ttft!.cached!.speedup).toBeCloseTo(rep1.ttft!.ms! / rep1.ttft!.cached!.ms, 10);
    expect(sideLines(decodeSummary(rep1, undefined, undefined)).join('\n')).toMatch(/first 32 of 60 tokens in the prefix cache \(a 40-token shared prefix\)/);
    // The CPU part of a step (recording) is measured with one rank, and is part of the step.
    expect(one.recordMs).toBeGreaterThan(0);
    expect(one.recordMs!).toBeLessThan(one.stepMs!.mean);
    const two = check(await runDecodeBench({ ...opts, engine: { model: tiny, ...small, tokenParallelSize: 2 } }), 2);
    expect(two.recordMs).toBeUndefined();
    expect(two.seqsPerRank).toEqual([1, 1]);
    expect(two.profile).toHaveLength(2);
    expect(Object.keys(two.profile![0])).toContain('gatherMs');
    expect(Object.keys(two.profile![1])).toContain('attentionMs');
  });

  it('--cases runs exactly those cases in order; --ttft times whole-prompt prefills in one step', async () => {
    const cases = [
      { batch: 2, context: 48 },
      { batch: 1, context: 20 },
    ];
    const rep = await runDecodeBench({ batches: [2, 1], contexts: [48, 20], cases, ttft: 100, steps: 2, warmupSteps: 1, prefill: 'skip', preset: 'tiny', engine: { model: tiny, ...small } });
    expect(rep.results.map((r) => [r.batch, r.context, r.ranBatch])).toEqual([
      [2, 48, 2],
      [1, 20, 1],
    ]);
    // The prompt of --ttft must fit one step: the token budget was raised from 64 to 100.
    expect(rep.maxNumBatchedTokens).toBe(100);
    expect(rep.ttft!.tokens).toBe(100);
    expect(rep.ttft!.runsMs).toHaveLength(3);
    const sorted = [...rep.ttft!.runsMs!].sort((a, b) => a - b);
    expect(rep.ttft!.ms).toBe(sorted[1]);
    expect(rep.ttft!.tokensPerSecond).toBeCloseTo(100 / (sorted[1] / 1000), 6);
    // A prompt longer than the rank's KV cache (256 KiB at 1 KiB per token: 16 blocks) is skipped
    // with the reason, after the decode cases ran.
    const big = await runDecodeBench({ batches: [1], contexts: [20], ttft: 500, steps: 1, warmupSteps: 0, prefill: 'skip', preset: 'tiny', engine: { model: tiny, ...small, kvCacheBytes: 256 << 10 } });
    expect(big.results[0].ranBatch).toBe(1);
    expect(big.ttft).toEqual({ tokens: 500, skipped: 'a 500-token prompt needs 32 KV blocks; ranks hold 16' });
  });

  it('one rank with --profile: GPU ms per kernel of each step, inside the step time', async () => {
    const opts = { batches: [2], contexts: [40], steps: 3, warmupSteps: 1, preset: 'tiny' };
    const r = check(await runDecodeBench({ ...opts, engine: { model: tiny, ...small, profile: true } }), 1);
    expect(r.profile).toHaveLength(1);
    const perKernel = r.profile![0];
    for (const k of ['embedding', 'rms_norm', 'split_qkv_rotary', 'decode_attention', 'silu_and_mul', 'argmax']) {
      expect(perKernel[k], k).toBeGreaterThan(0);
    }
    expect(Object.keys(perKernel).some((k) => k.startsWith('linear'))).toBe(true);
    const total = Object.values(perKernel).reduce((a, b) => a + b, 0);
    expect(total).toBeLessThan(r.stepMs!.mean);
  });

  it('dummy weights are deterministic: two engines give bitwise-identical, non-trivial logits', async () => {
    const prompt = Array.from({ length: 23 }, (_, i) => (i * 37 + 5) % 1024);
    const logitsOf = async () => {
      const ex = await createExecutor(resolveEngineConfig({ model: tiny, loadFormat: 'dummy', ...small }));
      try {
        const s = new Scheduler({ numBlocksPerRank: ex.numBlocksPerRank, maxNumBatchedTokens: 64, maxNumSeqs: 8, maxModelLen: ex.maxModelLen });
        s.addRequest('r', prompt, normalizeSamplingParams({ temperature: 0 }, {}, () => 0));
        const out = s.schedule();
        const flat = flattenSchedulerOutput(out, s.maxBlocksPerSeq);
        const res = await ex.execute(out, flat, [{ temperature: 0, topK: 0, topP: 1, seed: 0, step: 0 }], { returnLogits: true });
        return res.logits!;
      } finally {
        await ex.shutdown();
      }
    };
    const a = await logitsOf();
    const b = await logitsOf();
    expect(a.length).toBe(1024);
    expect(a.every(Number.isFinite)).toBe(true);
    expect(Math.max(...a) - Math.min(...a)).toBeGreaterThan(1e-3); // weights really were filled
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) throw new Error(`logit ${i}: ${a[i]} vs ${b[i]}`);
  });

  it('tensor-parallel dummy shards are exactly tensorParallelShard of the tp = 1 weights', async () => {
    const c = readModelConfig(tiny);
    const full = await createDummyWeights(gpu!, c, { seed: 9 });
    const read = async (t: Tensor) => (await gpu!.read(t)) as Uint16Array;
    const H = c.hiddenSize;
    const I = c.intermediateSize;
    const n = layerTensors(c, 1);
    for (const rank of [0, 1]) {
      const shard = await createDummyWeights(gpu!, c, { seed: 9, layout: tensorParallelLayout(rank, 2) });
      const split = tensorParallelShard(rank, 2);
      const same = async (what: string, role: ShardRole, f: Tensor, s: Tensor, shape: number[]) => {
        const want = split(what, role, await read(f), shape);
        expect(s.shape, what).toEqual(want.shape);
        expect(bytes(await read(s)).equals(bytes(want.data)), `${what} rank ${rank}`).toBe(true);
      };
      const L = 1;
      // qkv: rank's q rows, then its k rows, then its v rows, each a column shard of the full q / k / v.
      const qDim = c.numHeads * c.headDim;
      const kvDim = c.numKvHeads * c.headDim;
      const fqkv = await read(full.layers[L].qkv as Tensor);
      const parts = [
        split(n.qkv[0].name, 'column', fqkv.subarray(0, qDim * H), [qDim, H]),
        split(n.qkv[1].name, 'column', fqkv.subarray(qDim * H, (qDim + kvDim) * H), [kvDim, H]),
        split(n.qkv[2].name, 'column', fqkv.subarray((qDim + kvDim) * H), [kvDim, H]),
      ];
      expect(shard.layers[L].qkv.shape).toEqual([parts.reduce((r, p) => r + p.shape[0], 0), H]);
      expect(bytes(await read(shard.layers[L].qkv as Tensor)).equals(Buffer.concat(parts.map((p) => bytes(p.data)))), `qkv rank ${rank}`).toBe(true);
      await same(n.o, 'row', full.layers[L].o as Tensor, shard.layers[L].o as Tensor, [H, c.numHeads * c.headDim]);
      await same(n.down, 'row', full.layers[L].down as Tensor, shard.layers[L].down as Tensor, [H, I]);
      await same(n.postNorm, 'replicated', full.layers[L].postNorm, shard.layers[L].postNorm, [H]);
      await same('model.embed_tokens.weight', 'replicated', full.embed, shard.embed, [c.vocabSize, H]);
      // gate_up: rank's gate rows then its up rows, each a column shard of the full gate / up.
      const fg = await read(full.layers[L].gateUp as Tensor);
      const gate = split(n.gateUp[0].name, 'column', fg.subarray(0, I * H), [I, H]);
      const up = split(n.gateUp[1].name, 'column', fg.subarray(I * H), [I, H]);
      const got = await read(shard.layers[L].gateUp as Tensor);
      expect(shard.layers[L].gateUp.shape).toEqual([I, H]);
      expect(bytes(got).equals(Buffer.concat([bytes(gate.data), bytes(up.data)]))).toBe(true);
    }
  });
});
