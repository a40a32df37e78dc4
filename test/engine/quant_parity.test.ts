// Quantized weights end to end (issue 17), three ways:
//   * against a float64 forward (test/helpers/reference_forward) of the DEQUANTIZED weights: the
//     tiny Llama quantized at load (int8, int4, w8a8) and AWQ / GPTQ checkpoints written by
//     test/helpers/quant_model in their formats; the engine computes with exactly those weights, so
//     the f16 path's tolerance applies (W8A8 adds its per-token int8 activations: looser);
//   * the AWQ and GPTQ fixtures of tools/make_quant_fixtures.py (transformers, float32 forward of the
//     dequantized weights), as parity.test.ts runs the float ones (skipped, with the reason, while absent);
//   * greedy agreement of int8 / int4 / w8a8 with the f16 engine on the float fixtures: measured and
//     printed; asserted only where the f16 reference margin dwarfs the quantization error;
//   * tknp 2 bitwise identical to tknp 1, tp 2 within tolerance (quantized projections split by rank).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EngineConfig } from '../../src/engine/config.js';
import { parseModelConfig } from '../../src/loader/model_config.js';
import type { RawTensor } from '../../src/loader/safetensors_writer.js';
import { dequantize, quantize, type PackedWeight } from '../../src/quant/packed_weight.js';
import { f32ToF16Bits, fromF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { argmaxOf, commonPrefix, drive, driveFixture, greedyRandomPrompt, loadFixture, maxAbsDiff, missingFixture, QUANT_FIXTURE_NAMES, testEngine, FIXTURE_NAMES } from '../helpers/engine.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { makeTinyModel, tinyConfig, tinyTensors } from '../helpers/model_dir.js';
import { makeQuantModel, type QuantModelOptions, type QuantTruth } from '../helpers/quant_model.js';
import { referenceLogits } from '../helpers/reference_forward.js';
import { expectBitwiseEqual, maxLogitDiff, runWorkload, type WorkloadRequest } from '../helpers/workload.js';

const gpu = await testGpu();

const missing = gpu ? '' : noGpuReason();
const skipNote = missing ? ` (skipped: ${missing})` : '';

const MAX_MODEL_LEN = 256;
const PROMPT = 20;
const STEPS = 5;
// f16 activations and KV against f64 with the same (dequantized) weights: the f16 path's tolerance
// (architectures.test.ts measures <= 0.0085 there and allows 0.03).
const TOL = 0.03;
// W8A8: the reference rounds every projection's input to int8 per token too (the kernels' rule,
// kernels/ref/w8a8_linear: s = max|x| / 127, q = round(x / s)), but it cannot follow the engine's
// rounding: the f16 engine's activations differ from f64 ones by ~1e-3 relative, and wherever that
// moves x / s across a half level, q differs by one whole level (s · w in the product): up to a quarter
// of the largest inputs do. Measured on lavapipe (tiny Llama, 5 steps): <= 0.195, against <= 0.013
// for the weight-only formats; the tolerance is ~1.5x that, still 25x below the logit spread.
const W8A8_TOL = 0.3;

/** Per-token int8 quantization of a projection's input, as the W8A8 kernels do it (in f64). */
function int8Row(x: Float64Array): Float64Array {
  let amax = 0;
  for (const v of x) amax = Math.max(amax, Math.abs(v));
  if (amax === 0) return x;
  const s = amax / 127;
  return x.map((v) => Math.max(-127, Math.min(127, Math.round(v / s))) * s);
}

/** Greedy STEPS tokens after PROMPT random ids (prefill in chunks of 8): prompt and trace. */
const greedy = (dir: string, overrides: Partial<EngineConfig> = {}) => greedyRandomPrompt(dir, { length: PROMPT, steps: STEPS, maxModelLen: MAX_MODEL_LEN }, overrides);

function f32Tensor(values: Float32Array, shape: number[]): RawTensor {
  return { dtype: 'F32', shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/** The checkpoint tensors with each projection replaced by its dequantized weight (F32). */
function dequantized(tensors: Record<string, RawTensor>, packedOf: (module: string, shape: [number, number]) => PackedWeight): Record<string, RawTensor> {
  const out: Record<string, RawTensor> = {};
  for (const [name, t] of Object.entries(tensors)) {
    const m = /^(model\.layers\.\d+\.(self_attn|mlp)\.\w+_proj)\.weight$/.exec(name);
    out[name] = m ? f32Tensor(dequantize(packedOf(m[1], t.shape as [number, number])), [...t.shape]) : t;
  }
  return out;
}

function truthPacked(t: QuantTruth, bits: 4 | 8): PackedWeight {
  // Unsigned q with real zeros: the asymmetric layout (dequantize does not pack: the values are what count).
  const zeros = Uint16Array.from(t.zeros, (z) => f32ToF16Bits(z));
  const words = new Uint32Array((t.shape[0] * t.shape[1] * bits) / 32);
  const per = 32 / bits;
  t.q.forEach((v, i) => (words[Math.floor(i / per)] |= v << (bits * (i % per))));
  return { bits, symmetric: false, groupSize: t.groupSize, shape: t.shape, qweight: words, scales: t.scales, zeros };
}

describe.skipIf(!!missing)(`quantized engine against a float64 forward of the dequantized weights${skipNote}`, () => {
  const cfg = tinyConfig();
  const tensors = tinyTensors(cfg, 'F16', 3);
  for (const q of ['int8', 'int4', 'w8a8'] as const) {
    it(`${q} at load (tiny Llama)`, async () => {
      const dir = makeTinyModel({ seed: 3 });
      const c = parseModelConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>);
      const deq = dequantized(tensors, (module, shape) => {
        const d = tensors[`${module}.weight`].data;
        const w = fromF16(new Uint16Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength)));
        return q === 'int4' ? quantize(w, shape, 4, 128, false) : quantize(w, shape, 8, shape[1], true);
      });
      const { prompt, trace } = await greedy(dir, { quantization: q });
      const got = trace.final!.tokenIds;
      const ref = referenceLogits(c, deq, [...prompt, ...got.slice(0, STEPS - 1)], MAX_MODEL_LEN, q === 'w8a8' ? int8Row : undefined);
      const errs = trace.logits.map((l, k) => maxAbsDiff(l, ref[PROMPT - 1 + k]));
      const tol = q === 'w8a8' ? W8A8_TOL : TOL;
      console.log(`${q}: max |logit - f64 reference of the dequantized weights| per step ${errs.map((e) => e.toFixed(4)).join(' ')} (tolerance ${tol})`);
      errs.forEach((e, k) => expect(e, `${q} step ${k}`).toBeLessThanOrEqual(tol));
    });
  }

  const CHECKPOINTS: [string, QuantModelOptions][] = [
    ['AWQ 4-bit g64', { method: 'awq' }],
    ['GPTQ 4-bit g64 symmetric v1', { method: 'gptq', bits: 4, sym: true }],
    ['GPTQ 8-bit per channel asymmetric v2', { method: 'gptq', bits: 8, sym: false, groupSize: -1, checkpointFormat: 'gptq_v2' }],
  ];
  for (const [name, o] of CHECKPOINTS) {
    it(name, async () => {
      const { dir, truth } = makeQuantModel(o);
      const c = parseModelConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>);
      const deq = dequantized(tinyTensors(tinyConfig()), (module) => truthPacked(truth.get(module)!, o.bits ?? 4));
      const { prompt, trace } = await greedy(dir);
      const got = trace.final!.tokenIds;
      const ref = referenceLogits(c, deq, [...prompt, ...got.slice(0, STEPS - 1)], MAX_MODEL_LEN);
      const errs = trace.logits.map((l, k) => maxAbsDiff(l, ref[PROMPT - 1 + k]));
      console.log(`${name}: max |logit - f64 reference of the dequantized weights| per step ${errs.map((e) => e.toFixed(4)).join(' ')} (tolerance ${TOL})`);
      errs.forEach((e, k) => expect(e, `${name} step ${k}`).toBeLessThanOrEqual(TOL));
      const spread = Math.max(...ref[PROMPT - 1]) - Math.min(...ref[PROMPT - 1]);
      expect(spread, 'the logits are not flat').toBeGreaterThan(10 * TOL);
    });
  }
});

// The transformers fixtures: logits.bin is a float32 forward of the dequantized weights.
const presentQuant = QUANT_FIXTURE_NAMES.filter((name) => {
  const why = missingFixture(name);
  if (why) console.log(`[quant_parity.test] ${name} skipped: ${why}`);
  return !why;
});

describe.skipIf(!!missing || presentQuant.length === 0).each(presentQuant)(`parity with transformers (dequantized float32): %s${skipNote}`, (name) => {
  it('last prompt position and 4 teacher-forced steps within tolerance; greedy ids up to a low-margin step', async () => {
    const fx = loadFixture(name);
    const engine = await testEngine(fx.dir);
    try {
      const traces = await driveFixture(engine, fx);
      fx.prompts.forEach((p, i) => {
        const t = traces.get(`forced-${p.name}`)!;
        expect(t.final!.promptTokenIds).toEqual(p.ids);
        const errs = t.logits.map((l, k) => maxAbsDiff(l, fx.refLogits(i, k)));
        console.log(`${name} ${p.name}: max |logit - reference| per step ${errs.map((e) => e.toFixed(4)).join(' ')} (tolerance ${TOL})`);
        errs.forEach((e, k) => expect(e, `${name} ${p.name} step ${k}`).toBeLessThanOrEqual(TOL));
        const g = traces.get(`greedy-${p.name}`)!.final!.tokenIds;
        const same = commonPrefix(g, fx.greedy[i].ids);
        if (same < g.length) expect(fx.greedy[i].margins[same], `${name} ${p.name}: greedy id ${same} differs at a margin above the tolerance`).toBeLessThan(TOL);
      });
    } finally {
      await engine.shutdown();
    }
  });
});

// Margins above which a quantized engine must pick the reference's token (where the runs still share
// their tokens). Measured on the CPU (float64 forward of the tiny Llama, 20 tokens): dequantized int8
// weights move the last logits by 0.085, int4 g128 by 1.44 (logit spread 7.3); the margins are ~6x
// and ~4x those (W8A8: twice int8's, for its activations).
const SAFE_MARGIN = { int8: 0.5, w8a8: 1, int4: 6 } as const;

describe.skipIf(!!missing)(`greedy agreement with the f16 engine on the float fixtures${skipNote}`, () => {
  for (const name of FIXTURE_NAMES) {
    const why = missingFixture(name);
    it.skipIf(!!why)(`${name}: int8, int4, w8a8${why ? ` (skipped: ${why})` : ''}`, async () => {
      const fx = loadFixture(name);
      const rows: string[] = [];
      for (const q of ['int8', 'int4', 'w8a8'] as const) {
        const engine = await testEngine(fx.dir, { quantization: q });
        try {
          fx.prompts.forEach((p) => engine.addRequest(p.messages ? { messages: p.messages } : p.text, { temperature: 0, maxTokens: fx.greedy[0].ids.length, ignoreEos: true }, p.name));
          const traces = await drive(engine, { returnLogits: true });
          fx.prompts.forEach((p, i) => {
            const t = traces.get(p.name)!;
            const got = t.final!.tokenIds;
            const ref = fx.greedy[i];
            const same = commonPrefix(got, ref.ids);
            const agree = got.filter((id, k) => id === ref.ids[k]).length;
            rows.push(`${name} ${q} ${p.name}: first ${same}/${ref.ids.length} greedy ids identical, ${agree} equal by position; first-step max |logit - f32 reference| ${maxAbsDiff(t.logits[0], fx.refLogits(i, 0)).toFixed(3)}`);
            // Up to the first difference both runs saw the same tokens; it must come at a margin the quantization can flip.
            if (same < got.length) expect(ref.margins[same], `${name} ${q} ${p.name}: id ${same} differs at reference margin ${ref.margins[same]}`).toBeLessThan(SAFE_MARGIN[q]);
            expect(argmaxOf(t.logits[0]) === ref.ids[0] || ref.margins[0] < SAFE_MARGIN[q]).toBe(true);
          });
        } finally {
          await engine.shutdown();
        }
      }
      console.log(rows.join('\n'));
    });
  }
});

// Token parallelism changes no bit at fixed tp (attention runs whole on one rank, the projections on
// the root); tp 2 splits the quantized projections (rows, and in features on group boundaries) and
// changes only the summation order of the row-parallel ones.
describe.skipIf(!!missing)(`quantized weights under token and tensor parallelism${skipNote}`, () => {
  const base = { maxNumBatchedTokens: 24, maxNumSeqs: 8, kvCacheBytes: 4 << 20, commTimeoutMs: 60_000 };
  const rng = new Rng(9);
  const prompt = (n: number) => Array.from({ length: n }, () => rng.int(5, 1000));
  const work: WorkloadRequest[] = [
    { promptTokenIds: prompt(29), params: { temperature: 0, maxTokens: 6, ignoreEos: true } },
    { promptTokenIds: prompt(7), params: { temperature: 0, maxTokens: 8, ignoreEos: true }, addAtStep: 2 },
  ];
  for (const q of ['int4', 'int8'] as const) {
    it(`${q}: tknp 2 is bitwise identical to tknp 1; tp 2 within tolerance, same greedy tokens`, async () => {
      const model = join('test', 'fixtures', 'models', 'tiny-llama');
      const one = await runWorkload({ model, ...base, quantization: q }, work);
      expectBitwiseEqual(one, await runWorkload({ model, ...base, quantization: q, tokenParallelSize: 2 }, work), `${q} tknp 2`);
      const tp2 = await runWorkload({ model, ...base, quantization: q, tensorParallelSize: 2 }, work);
      for (const id of ['r0', 'r1']) expect(tp2.tokens.get(id), `${q} tp 2 ${id}`).toEqual(one.tokens.get(id));
      const diff = maxLogitDiff(one, tp2, ['r0', 'r1']);
      console.log(`${q}: max |logit(tp 2) - logit(tp 1)| = ${diff.toExponential(2)}`);
      expect(diff).toBeLessThan(5e-2);
    });
  }
});

// Dummy quantized weights (bench decode --load-format dummy) keep 32 layers' activations finite.
describe.skipIf(!!missing)(`dummy quantized weights${skipNote}`, () => {
  it.each(['none', 'int8', 'int4', 'w8a8'] as const)('%s: 32 layers give finite, non-constant logits', async (q) => {
    const dir = makeTinyModel({ config: { num_hidden_layers: 32 } });
    const engine = await testEngine(dir, { loadFormat: 'dummy', quantization: q, maxModelLen: MAX_MODEL_LEN });
    try {
      engine.addRequest({ promptTokenIds: [5, 17, 300, 42, 9] }, { temperature: 0, maxTokens: 3, ignoreEos: true }, 'r');
      const t = (await drive(engine, { returnLogits: true })).get('r')!;
      for (const l of t.logits) {
        expect(l.every((v) => Number.isFinite(v)), `${q}: finite logits`).toBe(true);
        expect(Math.max(...l) - Math.min(...l), `${q}: logits not constant`).toBeGreaterThan(0);
      }
    } finally {
      await engine.shutdown();
    }
  });
});
