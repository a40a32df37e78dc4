// Logprobs and penalties through the whole engine (tiny-llama): a request's logprobs are the
// float64 log_softmax of its raw logits (vLLM's default logprobs_mode), its top entries are the
// largest raw logits; penalties change the greedy token exactly as the CPU reference applied to
// the raw logits says; both are batch-invariant (a request alone and among others gives the same
// tokens and logprobs) and sampling with penalties stays on the GPU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LLMEngine, RequestOutput } from '../../src/engine/llm_engine.js';
import { SamplingParamsError, type SamplingParamsInput } from '../../src/engine/sampling_params.js';
import { PenaltyTokens } from '../../src/kernels/penalties.js';
import { logprobsRowRef } from '../../src/kernels/ref/logprobs.js';
import { applyPenaltiesRef } from '../../src/kernels/ref/penalties.js';
import { argmaxRef } from '../../src/kernels/ref/sampling.js';
import { drive, loadFixture, testEngine } from '../helpers/engine.js';
import { expectClose, noGpuReason, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

describe.skipIf(!gpu)(`logprobs and penalties in the engine (tiny-llama) ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const fx = loadFixture('tiny-llama');
  const [a, b, c] = fx.prompts;
  let engine: LLMEngine;
  beforeAll(async () => {
    engine = await testEngine(fx.dir);
  });
  afterAll(async () => engine?.shutdown());

  /** Runs requests together; returns each one's outputs and the raw logits of each of its steps. */
  async function runTogether(reqs: [number[], SamplingParamsInput][]) {
    const ids = reqs.map(([p, sp]) => engine.addRequest({ promptTokenIds: p }, sp));
    const traces = await drive(engine, { returnLogits: true });
    return ids.map((id) => ({ outputs: traces.get(id)!.outputs.filter((o) => o.newTokenIds.length > 0), logits: traces.get(id)!.logits, final: traces.get(id)!.final! }));
  }

  it('logprobs are the log_softmax of the raw logits; the top entries are the largest logits', async () => {
    const sp: SamplingParamsInput = { temperature: 0.8, seed: 11, maxTokens: 6, ignoreEos: true, logprobs: 5 };
    const [r] = await runTogether([[a.ids, sp]]);
    expect(r.outputs.length).toBe(6);
    r.outputs.forEach((o: RequestOutput, k) => {
      const want = logprobsRowRef(r.logits[k], o.newTokenIds[0], 5);
      const got = o.logprobs![0];
      expect(got.top.map((t) => t.tokenId), `step ${k}`).toEqual(want.topIds);
      expectClose([got.logprob, ...got.top.map((t) => t.logprob)], [want.sampled, ...want.topLogprobs], { atol: 2e-5, rtol: 1e-5 }, `step ${k}`);
    });
    const [none] = await runTogether([[a.ids, { ...sp, logprobs: null }]]);
    expect(none.outputs.every((o) => o.logprobs === undefined)).toBe(true);
    expect(none.final.tokenIds).toEqual(r.final.tokenIds); // asking for logprobs changes nothing else
  });

  it('penalties: each greedy token is the argmax of the CPU-penalised raw logits, and they do change the output', async () => {
    const penalties = { repetitionPenalty: 2, frequencyPenalty: 2, presencePenalty: 2 };
    // A prompt holding 150 distinct tokens: the greedy token is often one of them, so the
    // penalties have work to do.
    const prompt = [...b.ids, ...Array.from({ length: 150 }, (_, i) => 250 + i)];
    const [r] = await runTogether([[prompt, { temperature: 0, maxTokens: 24, ignoreEos: true, ...penalties }]]);
    const V = fx.vocabSize;
    const tokens = new PenaltyTokens(prompt);
    let changed = 0;
    r.outputs.forEach((o, k) => {
      const penalised = applyPenaltiesRef(r.logits[k], V, [tokens.row(penalties)]);
      expect(o.newTokenIds[0], `step ${k}`).toBe(argmaxRef(penalised, 1, V)[0]);
      if (argmaxRef(r.logits[k], 1, V)[0] !== o.newTokenIds[0]) changed++;
      tokens.add(o.newTokenIds[0]);
    });
    expect(changed, 'steps where the penalties changed the greedy token').toBeGreaterThan(0);
  });

  it('batch invariance: with penalties, sampling and logprobs, a request alone and among others gives the same tokens and logprobs', async () => {
    const mine: SamplingParamsInput = { temperature: 0.9, topP: 0.9, seed: 5, maxTokens: 8, ignoreEos: true, logprobs: 3, repetitionPenalty: 1.3, presencePenalty: 0.5 };
    const [alone] = await runTogether([[c.ids, mine]]);
    const [, together] = await runTogether([
      [a.ids, { temperature: 0, maxTokens: 5, ignoreEos: true, frequencyPenalty: 1 }],
      [c.ids, mine],
      [b.ids, { temperature: 1, seed: 3, maxTokens: 9, ignoreEos: true, logprobs: 20 }],
    ]);
    expect(together.final.tokenIds).toEqual(alone.final.tokenIds);
    expect(together.outputs.map((o) => o.logprobs)).toEqual(alone.outputs.map((o) => o.logprobs));
  });

  it('bad values are named SamplingParamsErrors', () => {
    const bad: [SamplingParamsInput, string][] = [
      [{ logprobs: 21 }, 'logprobs'],
      [{ logprobs: -1 }, 'logprobs'],
      [{ presencePenalty: 2.5 }, 'presencePenalty'],
      [{ frequencyPenalty: -3 }, 'frequencyPenalty'],
      [{ repetitionPenalty: 0 }, 'repetitionPenalty'],
    ];
    for (const [sp, field] of bad) {
      const e = (() => {
        try {
          engine.addRequest('x', sp);
        } catch (err) {
          return err as SamplingParamsError;
        }
        return undefined;
      })();
      expect(e, field).toBeInstanceOf(SamplingParamsError);
      expect(e!.field).toBe(field);
    }
    expect(engine.hasUnfinishedRequests()).toBe(false);
  });
});
