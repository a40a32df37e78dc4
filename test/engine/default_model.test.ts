// The embedded default model (models/default, a 7.6 M-parameter Llama trained for tknp) against
// its float32 transformers reference (reference.json, docs/MODELS.md): prompt tokenization (plain
// text with BOS, and the chat template), the summary of the last prompt position's logits, and
// greedy generation stopping at EOS with the reference's ids and text. One request per prompt, all
// in one batch; generation is capped one token past the latest reference EOS (the prompt without
// an EOS ends by length there): the plain linear kernel makes a step of this model cost ~0.1-0.5 s
// on lavapipe, so the test does not run the reference's 48 tokens past EOS.
//
// Tolerance: f16 weights/activations/KV vs float32. Measured max |logit error| over the recorded
// values (first 8 logits, top-5 values, max, log-sum-exp) on lavapipe: 0.0046. Tolerance 0.02;
// greedy ids may part from the reference only at a step whose reference margin is below it
// (a flip needs margin < err(top1) + err(top2)).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LLMEngine } from '../../src/engine/llm_engine.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { commonPrefix, DEFAULT_MODEL_DIR, drive, loadDefaultReference, testEngine, type Trace } from '../helpers/engine.js';

const gpu = await testGpu();
const TOL = 0.02;

function logSumExp(l: Float32Array): number {
  let m = -Infinity;
  for (const v of l) m = Math.max(m, v);
  let s = 0;
  for (const v of l) s += Math.exp(v - m);
  return m + Math.log(s);
}

describe.skipIf(!gpu)(`default model vs reference.json ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const ref = loadDefaultReference();
  const maxTokens = Math.max(...ref.prompts.map((p) => p.firstEosIndex ?? 0)) + 2;
  let engine: LLMEngine;
  let traces: Map<string, Trace>;

  beforeAll(async () => {
    engine = await testEngine(DEFAULT_MODEL_DIR, { maxNumSeqs: ref.prompts.length });
    for (const p of ref.prompts) {
      const prompt = p.messages ? { messages: p.messages } : p.text;
      engine.addRequest(prompt, { temperature: 0, maxTokens }, p.name);
    }
    traces = await drive(engine, { returnLogits: true });
  });

  afterAll(async () => {
    await engine?.shutdown();
  });

  it.each(ref.prompts.map((p) => [p.name, p] as const))('%s: prompt ids and last-position logits match the reference', (name, p) => {
    const t = traces.get(name)!;
    expect(t.final!.promptTokenIds).toEqual(p.promptIds);
    const l = t.logits[0];
    const r = p.lastLogits;
    const got = [...l.slice(0, 8), ...r.top5Ids.map((id) => l[id]), Math.max(...l), logSumExp(l)];
    const want = [...r.first8, ...r.top5Values, r.max, r.logSumExp];
    const err = Math.max(...got.map((g, i) => Math.abs(g - want[i])));
    console.log(`default ${name}: max |logit - reference| over first8/top5/max/logSumExp ${err.toFixed(4)} (tolerance ${TOL})`);
    expect(err).toBeLessThanOrEqual(TOL);
    expect(l.length).toBe(engine.modelConfig.vocabSize);
  });

  it.each(ref.prompts.map((p) => [p.name, p] as const))('%s: greedy ids equal the reference (up to a low-margin step) and stop at EOS with its text', (name, p) => {
    const o = traces.get(name)!.final!;
    const eos = p.firstEosIndex;
    const n = eos === null ? maxTokens : eos + 1; // EOS is an output token (not text)
    const same = commonPrefix(o.tokenIds, p.greedyIds);
    if (same < n) {
      console.log(`default ${name}: greedy ids identical for ${same}/${n}; step ${same} differs (got ${o.tokenIds[same]}, reference ${p.greedyIds[same]}, margin ${p.greedyMargins[same]}): not compared further`);
      expect(p.greedyMargins[same], `default ${name}: greedy id ${same} differs at a margin above the tolerance`).toBeLessThan(TOL);
      return;
    }
    expect(o.tokenIds).toEqual(p.greedyIds.slice(0, n));
    expect(o.finishReason).toBe(eos === null ? 'length' : 'stop');
    if (eos !== null) expect(o.text).toBe(p.greedyTextUntilEos);
    else expect(o.text).toBe(engine.tokenizer.decode(p.greedyIds.slice(0, n)));
  });
});
