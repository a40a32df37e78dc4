// Every architecture tknp runs, end to end on tiny random checkpoints (test/helpers/model_dir: the
// tensor names transformers uses), against a float64 forward written from transformers' modeling
// files (test/helpers/reference_forward): greedy decoding with the logits of every step compared,
// a prompt longer than the sliding windows, prefill in chunks of 8 tokens. Covers Qwen3's q/k norms,
// Phi-3's fused projections with partial rotary and longrope, Gemma 2's GeGLU, (1 + w) norms, scaled
// embeddings, query_pre_attn_scalar, attention and final soft-capping and alternating windows,
// Gemma 3's q/k norms and local RoPE, Mistral's window, Qwen2 with YaRN, an rms_norm_eps the logits
// depend on, and a 2,100-token context (prefill in chunks of 512, decode over 5 partitions). The
// transformers fixtures (parity.test.ts) anchor the same paths to transformers itself.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../src/loader/model_config.js';
import { attentionLayers } from '../../src/model/attention.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { greedyRandomPrompt, maxAbsDiff, sameBits } from '../helpers/engine.js';
import { makeTinyModel, tinyConfig, tinyTensors, type TinyArch } from '../helpers/model_dir.js';
import { referenceLogits } from '../helpers/reference_forward.js';
import type { EngineConfig } from '../../src/engine/config.js';

const gpu = await testGpu();
const MAX_MODEL_LEN = 256;
const PROMPT = 20;
const STEPS = 5;
// f16 weights, activations and KV against f64: measured errors are at most 0.0085 on these logits (lavapipe); the tolerance is ~3x that.
const TOL = 0.03;

const CASES: [string, TinyArch, Record<string, unknown>][] = [
  ['Qwen3 (q/k norms)', 'Qwen3ForCausalLM', { rms_norm_eps: 1e-6 }],
  [
    'Phi-3 (fused projections, partial rotary 0.5, longrope, window 9)',
    'Phi3ForCausalLM',
    {
      partial_rotary_factor: 0.5,
      sliding_window: 9,
      original_max_position_embeddings: 64,
      rope_scaling: { type: 'longrope', short_factor: Array.from({ length: 16 }, (_, i) => 1 + i / 10), long_factor: Array.from({ length: 16 }, (_, i) => 2 + i) },
    },
  ],
  [
    'Gemma 2 (GeGLU, soft-caps, scalar 48, windows on even layers)',
    'Gemma2ForCausalLM',
    { query_pre_attn_scalar: 48, sliding_window: 8, attn_logit_softcapping: 2, final_logit_softcapping: 3, hidden_activation: 'gelu_pytorch_tanh' },
  ],
  [
    'Gemma 3 (q/k norms, local rope, window on layer 0)',
    'Gemma3ForCausalLM',
    { query_pre_attn_scalar: 64, sliding_window: 8, sliding_window_pattern: 2, rope_theta: 10000, rope_scaling: { rope_type: 'linear', factor: 2 }, rope_local_base_freq: 100 },
  ],
  ['Mistral (window 8)', 'MistralForCausalLM', { sliding_window: 8 }],
  ['Qwen2 (yarn)', 'Qwen2ForCausalLM', { rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 32 } }],
  // Embeddings of std 0.1 (mean square 0.01) against eps 0.05: a kernel handed another eps is far off.
  ['Llama (rms_norm_eps 0.05, which the logits depend on)', 'LlamaForCausalLM', { rms_norm_eps: 0.05 }],
];

/** Greedy STEPS tokens after `length` random ids, prefill in chunks of 8: the prompt and the trace of request 'r'. */
const greedy = (dir: string, overrides: Partial<EngineConfig> & { kvBlocks?: number } = {}, length = PROMPT) =>
  greedyRandomPrompt(dir, { length, steps: STEPS, maxModelLen: MAX_MODEL_LEN }, overrides);

describe('attentionLayers', () => {
  it("gives each layer the config's scale, window and soft-cap; a window as long as the served length is none", () => {
    const c = { attentionScale: 1 / 12, layerWindows: [8, null, 4096], attnLogitSoftcap: 50 };
    expect(attentionLayers(c)).toEqual([
      { scale: 1 / 12, slidingWindow: 8, softcap: 50 },
      { scale: 1 / 12, softcap: 50 },
      { scale: 1 / 12, slidingWindow: 4096, softcap: 50 },
    ]);
    expect(attentionLayers({ ...c, attnLogitSoftcap: null }, 4096).map((l) => l.slidingWindow)).toEqual([8, undefined, undefined]);
    expect(attentionLayers({ ...c, attnLogitSoftcap: null }, 4097)[2]).toEqual({ scale: 1 / 12, slidingWindow: 4096 });
  });
});

describe.skipIf(!gpu)(`architectures against a float64 forward ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it.each(CASES)('%s: greedy steps with the reference logits', async (name, arch, config) => {
    const dir = makeTinyModel({ arch, config, seed: 3 });
    const c = parseModelConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>);
    const tensors = tinyTensors(tinyConfig({ arch, config }), 'F16', 3); // what makeTinyModel wrote
    {
      const { prompt, trace } = await greedy(dir);
      const got = trace.final!.tokenIds;
      expect(got).toHaveLength(STEPS);
      const ref = referenceLogits(c, tensors, [...prompt, ...got.slice(0, STEPS - 1)], MAX_MODEL_LEN);
      const errs = trace.logits.map((l, k) => maxAbsDiff(l, ref[PROMPT - 1 + k]));
      console.log(`${name}: max |logit - f64 reference| per step ${errs.map((e) => e.toFixed(4)).join(' ')}`);
      errs.forEach((e, k) => expect(e, `${name} step ${k}`).toBeLessThanOrEqual(TOL));
      const spread = Math.max(...ref[PROMPT - 1]) - Math.min(...ref[PROMPT - 1]);
      expect(spread, 'the logits are not flat').toBeGreaterThan(20 * TOL);
      if (c.rmsNormEps >= 0.01) {
        // The case is sensitive to eps: the reference with eps 1e-6 is far outside the tolerance.
        const other = referenceLogits({ ...c, rmsNormEps: 1e-6 }, tensors, [...prompt], MAX_MODEL_LEN);
        expect(maxAbsDiff(other[PROMPT - 1], ref[PROMPT - 1])).toBeGreaterThan(10 * TOL);
      }
    }
  });

  // A long context: a 2,100-token prompt prefilled in chunks of 512, then decode steps whose context spans
  // 5 partitions of 512 (Qwen2 with YaRN over an original 1024 of 4096 positions).
  it('long context (2,100 tokens: prefill in 5 chunks, decode over 5 partitions) with the reference logits', async () => {
    const config = { max_position_embeddings: 4096, rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 1024 } };
    const dir = makeTinyModel({ arch: 'Qwen2ForCausalLM', config, seed: 6 });
    const c = parseModelConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>);
    const tensors = tinyTensors(tinyConfig({ arch: 'Qwen2ForCausalLM', config }), 'F16', 6);
    const n = 2100;
    const { prompt, trace } = await greedy(dir, { maxNumBatchedTokens: 512, maxModelLen: 4096, kvBlocks: 160 }, n);
    const got = trace.final!.tokenIds;
    const ref = referenceLogits(c, tensors, [...prompt, ...got.slice(0, STEPS - 1)], 4096);
    const errs = trace.logits.map((l, k) => maxAbsDiff(l, ref[n - 1 + k]));
    console.log(`long context: max |logit - f64 reference| per step ${errs.map((e) => e.toFixed(4)).join(' ')}`);
    errs.forEach((e, k) => expect(e, `step ${k}`).toBeLessThanOrEqual(TOL));
  });

  // The q/k-norm prologue (split, norms, rotary, cache write) and per-layer tables under step replay:
  // replayed decode steps give the bits of steps recorded afresh.
  it.each(CASES.filter(([name]) => name.startsWith('Gemma 3') || name.startsWith('Phi-3')))('%s: step replay gives the bits of --enforce-eager', async (_name, arch, config) => {
    const dir = makeTinyModel({ arch, config, seed: 3 });
    const replayed = (await greedy(dir)).trace;
    const eager = (await greedy(dir, { enforceEager: true })).trace;
    expect(replayed.final!.tokenIds).toEqual(eager.final!.tokenIds);
    replayed.logits.forEach((l, k) => expect(sameBits(l, eager.logits[k]), `step ${k}`).toBe(true));
  });
});
