// Parity with Hugging Face transformers on the tiny fixtures (docs/MODELS.md):
//   tiny-llama   f16, llama3 rope scaling, eos list
//   tiny-mistral bf16 checkpoint (loaded as f16), head_dim 128
//   tiny-qwen2   q/k/v bias, tied embeddings
// and issue 16's (skipped, with the reason printed, until the GPU host has made them):
//   tiny-qwen3   q/k norms, GQA 3, head_dim 128, an rms_norm_eps (0.05) that moves the logits
//   tiny-phi3    fused projections, head_dim 96, partial rotary 0.75, longrope (served within its
//                original 128 tokens: short factors, as transformers uses for such sequences), window 48
//   tiny-gemma2  head_dim 256, query_pre_attn_scalar, attention and final soft-caps, window 16 on layer 0
//   tiny-gemma3  GQA 7, head_dim 80, q/k norms, local RoPE on the sliding layer
//   tiny-long    Qwen2 + YaRN, one 2,000+-token prompt: prefill in chunks of 512, decode over 5 partitions
// Per fixture, all prompts run through one engine in one batch, twice each:
//   * teacher-forced: 5 sampled steps whose logits are compared with logits.bin (the float32
//     reference). Step 0 is the last prompt position (prefill); steps 1..4 are decode steps fed
//     the reference's greedy ids: the engine has no teacher-forcing API, so between steps the test
//     overwrites the request's last sampled token (Request.outputTokenIds) with the reference id
//     before the scheduler hands it to the next decode step.
//   * free greedy: 32 tokens (ignoreEos) compared with the reference ids; they may part only at a
//     step whose reference margin (top-1 minus top-2 logit) is below the logit tolerance, and are
//     not compared past that point.
//
// Tolerance: tknp stores weights, activations and KV in f16 with f32 accumulation; the reference
// runs everything in float32 (same f16/bf16 weights, upcast). Measured max |logit error| on
// lavapipe over the 15 rows per fixture: tiny-llama 0.0075, tiny-mistral 0.0067, tiny-qwen2 0.023
// (its q/k/v biases of std 0.5 make larger attention scores, so f16 rounding of q, k and the
// scores costs more). Tolerances are ~3x those: 0.02, 0.02, 0.06. A greedy token can only
// differ from the reference where margin < |err(top1)| + |err(top2)| <= 2 x the measured error,
// which is below the tolerance, so a difference at a margin >= tolerance is a real error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LLMEngine } from '../../src/engine/llm_engine.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { argmaxOf, commonPrefix, driveFixture, loadFixture, maxAbsDiff, missingFixture, testEngine, type FixtureName, type QuantFixtureName, type Trace } from '../helpers/engine.js';
import type { EngineConfig } from '../../src/engine/config.js';

const gpu = await testGpu();

// Issue 16's fixtures, measured max |logit error| (lavapipe; H100, session 8 or 9): tiny-qwen3 0.0055; 0.0070,
// tiny-phi3 0.0027; 0.0023, tiny-long 0.0049; 0.0042, tiny-gemma2 0.0054; 0.0055, tiny-gemma3 0.0081; 0.0077
// (both made on the GPU host in session 9): tolerances ~3x the larger.
type FloatFixture = Exclude<FixtureName, QuantFixtureName>; // the quantized ones: quant_parity.test.ts
const LOGIT_TOL: Record<FloatFixture, number> = {
  'tiny-llama': 0.02,
  'tiny-mistral': 0.02,
  'tiny-qwen2': 0.06,
  'tiny-qwen3': 0.02,
  'tiny-phi3': 0.01,
  'tiny-gemma2': 0.017,
  'tiny-gemma3': 0.025,
  'tiny-long': 0.015,
};

/** Engine settings a fixture needs beyond testEngine's. */
const ENGINE: Partial<Record<FixtureName, Partial<EngineConfig> & { kvBlocks?: number }>> = {
  // Served within longrope's original 128 tokens: the short factors, which transformers uses for every
  // sequence of this fixture (at most 72 tokens).
  'tiny-phi3': { maxModelLen: 128 },
  // 2 requests of 2,000+ tokens + 32: prefill in chunks of 512, decode over 5 partitions of 512.
  'tiny-long': { maxModelLen: 4096, maxNumBatchedTokens: 512, kvBlocks: 320 },
};

// Every fixture with the default (batch-invariant) kernels, and tiny-llama with batchInvariant: false
// (`--fast`: the GEMV for decode steps of few rows), which must stay within the same tolerance.
const RUNS: [FloatFixture, boolean][] = [...(Object.keys(LOGIT_TOL) as FloatFixture[]).map((n) => [n, true] as [FloatFixture, boolean]), ['tiny-llama', false]];
const present = RUNS.filter(([name]) => {
  const why = missingFixture(name);
  if (why) console.log(`[parity.test] ${name} skipped: ${why}`);
  return !why;
});

describe.skipIf(!gpu).each(present)(`parity with transformers: %s, batch invariant %s ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, (name, batchInvariant) => {
  const fx = loadFixture(name);
  const tol = LOGIT_TOL[name];
  let engine: LLMEngine;
  let traces: Map<string, Trace>;

  beforeAll(async () => {
    engine = await testEngine(fx.dir, { batchInvariant, ...ENGINE[name] });
    traces = await driveFixture(engine, fx);
  });

  afterAll(async () => {
    await engine?.shutdown();
  });

  it.each(fx.prompts.map((p, i) => [p.name, i] as const))('prompt %s: engine tokenization gives the reference prompt ids', (pname) => {
    expect(traces.get(`greedy-${pname}`)!.final!.promptTokenIds).toEqual(fx.prompts.find((p) => p.name === pname)!.ids);
  });

  it.each(fx.prompts.map((p, i) => [p.name, i] as const))(`prompt %s: logits of the last prompt position and 4 teacher-forced decode steps within ${tol}`, (pname, i) => {
    const t = traces.get(`forced-${pname}`)!;
    expect(t.final?.finishReason).toBe('length');
    expect(t.logits.length).toBe(fx.logitSteps);
    const errs = t.logits.map((l, k) => maxAbsDiff(l, fx.refLogits(i, k)));
    console.log(`${name} ${pname}: max |logit - reference| per step ${errs.map((e) => e.toFixed(4)).join(' ')} (tolerance ${tol})`);
    errs.forEach((e, k) => expect(e, `${name} ${pname} step ${k}`).toBeLessThanOrEqual(tol));
    // Forcing worked: each forced step's argmax agrees with the reference wherever its margin is safe.
    t.logits.forEach((l, k) => {
      if (fx.greedy[i].margins[k] >= tol) expect(argmaxOf(l), `${name} ${pname} step ${k} argmax`).toBe(fx.greedy[i].ids[k]);
    });
  });

  it.each(fx.prompts.map((p, i) => [p.name, i] as const))('prompt %s: greedy ids equal the reference up to a low-margin step', (pname, i) => {
    const t = traces.get(`greedy-${pname}`)!;
    const ref = fx.greedy[i];
    const got = t.final!.tokenIds;
    expect(got.length).toBe(ref.ids.length);
    // Up to the first difference both runs saw the same tokens, so every step is comparable; the
    // first difference must be at a step whose reference margin is below the tolerance (then the
    // trajectories part and the comparison stops there).
    const same = commonPrefix(got, ref.ids);
    if (same < ref.ids.length) {
      console.log(`${name} ${pname}: greedy ids identical for ${same}/${ref.ids.length} tokens; step ${same} differs (got ${got[same]}, reference ${ref.ids[same]}, reference margin ${ref.margins[same]}, tolerance ${tol}): not compared further`);
      expect(ref.margins[same], `${name} ${pname}: greedy id ${same} differs at a margin above the tolerance`).toBeLessThan(tol);
    } else {
      // Fully identical runs also give the reference text (detokenized, special tokens skipped).
      expect(t.final!.text).toBe(ref.textSkipSpecial);
    }
    // The free run's first logits row is the forced run's (same prompt): within tolerance too.
    expect(maxAbsDiff(t.logits[0], fx.refLogits(i, 0))).toBeLessThanOrEqual(tol);
  });
});
