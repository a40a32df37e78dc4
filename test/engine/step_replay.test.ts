// Step replay in the engine (the default; EngineConfig.enforceEager turns it off): a decode step
// whose shape was seen before replays that step's captured forward pass. Outputs and logits must be
// bitwise those of recording every step, with a sampled request and a batch that shrinks as requests
// finish (new shapes, captured then replayed), and with a submit after every layer; and a capture
// must equal a fresh recording of a later step under the same key (the key covers what the
// recording depends on: same pipelines, bind groups, workgroup counts, buffers and uniform bytes).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalExecutor } from '../../src/engine/executor_factory.js';
import type { LLMEngine } from '../../src/engine/llm_engine.js';
import type { CapturedOp, StepCapture } from '../../src/gpu/step_capture.js';
import type { ModelRunner } from '../../src/runner/model_runner.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { drive, loadFixture, sameBits, testEngine, type Trace } from '../helpers/engine.js';

const gpu = await testGpu();

function runnerOf(engine: LLMEngine): ModelRunner {
  return (engine.executor as LocalExecutor).runner;
}

/** Where two captures differ first, or 'none'. */
function firstDifference(a: StepCapture, b: StepCapture): string {
  if (a.ops.length !== b.ops.length) return `${a.ops.length} ops vs ${b.ops.length}`;
  const same = (x: CapturedOp, y: CapturedOp): boolean => {
    if (x.kind !== y.kind) return false;
    switch (x.kind) {
      case 'dispatch': {
        const o = y as typeof x;
        return x.pipeline === o.pipeline && x.group === o.group && x.x === o.x && x.y === o.y && x.z === o.z;
      }
      case 'copy': {
        const o = y as typeof x;
        return x.src === o.src && x.srcOffset === o.srcOffset && x.dst === o.dst && x.dstOffset === o.dstOffset && x.bytes === o.bytes;
      }
      case 'arena': {
        const o = y as typeof x;
        return x.buffer === o.buffer && x.bytes!.length === o.bytes!.length && x.bytes!.every((v, i) => v === o.bytes![i]);
      }
      case 'scratch':
        return x.buffer === (y as typeof x).buffer;
      case 'split':
        return true;
    }
  };
  const i = a.ops.findIndex((x, j) => !same(x, b.ops[j]));
  return i < 0 ? 'none' : `op ${i} (${a.ops[i].kind})`;
}

describe.skipIf(!gpu)(`step replay (tiny-llama) ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const fx = loadFixture('tiny-llama');
  const rng = new Rng(606);
  const prompt = (n: number) => Array.from({ length: n }, () => rng.int(3, fx.vocabSize - 1));
  // The last one crosses decode attention's 512-token partition while it decodes (a new shape).
  const prompts = [prompt(19), prompt(4), prompt(40), prompt(505)];
  let eager: LLMEngine;
  let replay: LLMEngine;

  async function run(engine: LLMEngine): Promise<Map<string, Trace>> {
    return drive(engine, {
      returnLogits: true,
      beforeStep: (step) => {
        if (step !== 0) return;
        prompts.forEach((p, i) => engine.addRequest({ promptTokenIds: p }, { temperature: i === 1 ? 0.8 : 0, seed: 5, maxTokens: 6 + 3 * i, ignoreEos: true }, `r${i}`));
      },
    });
  }

  beforeAll(async () => {
    // No prefix cache: the second test runs the workload again and needs the same steps.
    eager = await testEngine(fx.dir, { enforceEager: true, submitEveryLayers: 1, maxModelLen: 1024, enablePrefixCaching: false });
    replay = await testEngine(fx.dir, { submitEveryLayers: 1, maxModelLen: 1024, enablePrefixCaching: false });
  });

  afterAll(async () => {
    await eager?.shutdown();
    await replay?.shutdown();
  });

  it('replays decode steps and gives the tokens and logits of recording every step, bit for bit', async () => {
    const want = await run(eager);
    const got = await run(replay);
    expect(runnerOf(eager).steps).toBeNull();
    const steps = runnerOf(replay).steps!;
    for (const [id, t] of want) {
      const r = got.get(id)!;
      expect(r.final!.tokenIds, id).toEqual(t.final!.tokenIds);
      expect(r.logits.length).toBe(t.logits.length);
      t.logits.forEach((l, k) => expect(sameBits(r.logits[k], l), `${id}: logits of token ${k}`).toBe(true));
    }
    // Decode-only steps (the others share steps with the long prompt's chunks) of 2 requests, then
    // of the long one alone before and after its context crosses 512 tokens: each captured once
    // (keys: tokens, logits, skipLogits, attention's tokens, decodes and partitions), then replayed.
    expect(steps.keys()).toEqual(['2 2 0 2 2 1', '1 1 0 1 1 1', '1 1 0 1 1 2']);
    expect([steps.misses, steps.hits]).toEqual([3, 11]);
  });

  it('a capture is what recording a later step of the same key makes', async () => {
    const steps = runnerOf(replay).steps!;
    const before = new Map(steps.keys().map((k) => [k, steps.get(k)!.capture]));
    steps.clear();
    await run(replay); // the same workload: the same keys, recorded afresh
    expect(steps.keys().sort()).toEqual([...before.keys()].sort());
    for (const [key, capture] of before) expect(firstDifference(capture, steps.get(key)!.capture), `key ${key}`).toBe('none');
  });
});
