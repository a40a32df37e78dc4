// LLMEngine and LLM behaviour on a real model (tiny-llama): named errors for bad requests that
// leave accepted requests untouched, abort, stop strings and stop token ids, maxTokens, seeded
// sampling, request-id reuse, streaming deltas, and engine configuration errors.
// Expected tokens are never hard-coded: they come from runs of the same request alone (greedy
// decoding is batch-invariant, test/engine/batch_invariance.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineConfigError } from '../../src/engine/config.js';
import { LLM } from '../../src/engine/llm.js';
import { LLMEngine, type PromptInput, type RequestOutput } from '../../src/engine/llm_engine.js';
import { SamplingParamsError, type SamplingParamsInput } from '../../src/engine/sampling_params.js';
import { RequestError } from '../../src/scheduler/request.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { drive, kvBytesForBlocks, loadFixture, testEngine, type DriveOptions, type Trace } from '../helpers/engine.js';

const gpu = await testGpu();
const MAX_MODEL_LEN = 64;

describe.skipIf(!gpu)(`LLMEngine / LLM API (tiny-llama) ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const fx = loadFixture('tiny-llama');
  const [short, long, chat] = fx.prompts;
  const greedy = (maxTokens: number): SamplingParamsInput => ({ temperature: 0, maxTokens, ignoreEos: true });
  let engine: LLMEngine;
  let totalBlocks: number;

  /** Drives the engine to idle; checks every request's streamed deltas add up to its text and that no KV block leaks. */
  async function finish(opts: DriveOptions = {}): Promise<Map<string, Trace>> {
    const traces = await drive(engine, opts);
    for (const [id, t] of traces) {
      expect(t.final, `${id} finished`).toBeDefined();
      expect(t.outputs.filter((o) => o.finished).length, `${id} finished once`).toBe(1);
      expect(t.outputs.at(-1)!.finished, `${id}: nothing after its final output`).toBe(true);
      expect(t.outputs.map((o) => o.delta).join(''), `${id} deltas`).toBe(t.final!.text);
      expect(t.outputs.flatMap((o) => o.newTokenIds), `${id} newTokenIds`).toEqual(t.final!.tokenIds);
    }
    expect(engine.scheduler.hasUnfinishedRequests()).toBe(false);
    expect(engine.scheduler.numFreeBlocks(0)).toBe(totalBlocks);
    engine.scheduler.kvManager(0).checkInvariants();
    return traces;
  }

  /** The final output of `prompt` run alone. */
  async function solo(prompt: PromptInput, params: SamplingParamsInput): Promise<RequestOutput> {
    const id = engine.addRequest(prompt, params);
    return (await finish()).get(id)!.final!;
  }

  beforeAll(async () => {
    engine = await testEngine(fx.dir, { maxModelLen: MAX_MODEL_LEN, maxNumSeqs: 6 });
    totalBlocks = engine.scheduler.numFreeBlocks(0);
  });

  afterAll(async () => {
    await engine?.shutdown();
  });

  it('bad sampling params, out-of-vocab ids, too-long / empty prompts and duplicate ids throw named errors; accepted requests are untouched', async () => {
    const alone = await solo(short.text, greedy(8));
    engine.addRequest(short.text, greedy(8), 'accepted');
    const bad: [string, () => unknown, new (...a: never[]) => Error, RegExp][] = [
      ['temperature < 0', () => engine.addRequest(long.text, { temperature: -1 }), SamplingParamsError, /temperature/],
      ['topP 0', () => engine.addRequest(long.text, { topP: 0 }), SamplingParamsError, /topP/],
      ['maxTokens 0', () => engine.addRequest(long.text, { maxTokens: 0 }), SamplingParamsError, /maxTokens/],
      ['unknown field', () => engine.addRequest(long.text, { bestOf: 2 } as SamplingParamsInput), SamplingParamsError, /bestOf/],
      ['empty stop string', () => engine.addRequest(long.text, { stop: [''] }), SamplingParamsError, /stop/],
      ['token id = vocab', () => engine.addRequest({ promptTokenIds: [0, 5, fx.vocabSize] }), RequestError, /vocabulary/],
      ['negative token id', () => engine.addRequest({ promptTokenIds: [0, -1] }), RequestError, /vocabulary/],
      ['fractional token id', () => engine.addRequest({ promptTokenIds: [0, 1.5] }), RequestError, /token id 1.5 is not an integer/],
      ['prompt > maxModelLen', () => engine.addRequest({ promptTokenIds: new Array(MAX_MODEL_LEN + 1).fill(7) }), RequestError, /maxModelLen/],
      ['empty prompt', () => engine.addRequest({ promptTokenIds: [] }), RequestError, /empty/],
      ['duplicate id', () => engine.addRequest(long.text, {}, 'accepted'), RequestError, /already exists/],
    ];
    let checked = 0;
    const traces = await finish({
      // Before step 1: 'accepted' is prefilled and holds KV blocks.
      beforeStep: (step) => {
        if (step !== 1) return;
        for (const [what, fn, type, message] of bad) {
          let err: unknown;
          try {
            fn();
          } catch (e) {
            err = e;
          }
          expect(err, what).toBeInstanceOf(type);
          expect((err as Error).name, what).toBe(type.name);
          expect((err as Error).message, what).toMatch(message);
          checked++;
        }
      },
    });
    expect(checked).toBe(bad.length);
    expect([...traces.keys()]).toEqual(['accepted']); // no output for a rejected request
    expect(traces.get('accepted')!.final!.tokenIds).toEqual(alone.tokenIds);
    expect(traces.get('accepted')!.final!.finishReason).toBe('length');
  });

  it('abort mid-generation frees the request at once and reports finishReason "abort"; others go on', async () => {
    const aloneB = await solo(long.text, greedy(6));
    engine.addRequest(short.text, greedy(30), 'A');
    engine.addRequest(long.text, greedy(6), 'B');
    engine.addRequest(chat.messages ? { messages: chat.messages } : chat.text, greedy(4), 'C'); // aborted while waiting
    expect(engine.abortRequest('C')).toBe(true);
    let freedAt = -1;
    const traces = await finish({
      beforeStep: (step) => {
        if (step !== 3) return;
        const free = engine.scheduler.numFreeBlocks(0);
        expect(engine.abortRequest('A')).toBe(true);
        expect(engine.scheduler.numFreeBlocks(0)).toBeGreaterThan(free); // freed now, not at the next step
        expect(engine.abortRequest('A')).toBe(false);
        freedAt = step;
      },
    });
    expect(freedAt).toBe(3);
    const a = traces.get('A')!;
    expect(a.final!.finishReason).toBe('abort');
    expect(a.final!.newTokenIds).toEqual([]);
    expect(a.final!.tokenIds.length).toBe(3); // steps 0..2 each sampled one token
    expect(traces.get('C')!.final!.finishReason).toBe('abort');
    expect(traces.get('C')!.final!.tokenIds).toEqual([]);
    expect(traces.get('B')!.final!.tokenIds).toEqual(aloneB.tokenIds);
    expect(engine.abortRequest('B')).toBe(false); // finished
    expect(engine.abortRequest('nope')).toBe(false);
  });

  it('stop strings cut the output before the stop string (also across token boundaries); stop token ids finish with "stop"', async () => {
    const full = await solo(long.text, greedy(24));
    const text = full.text;
    // A 3-character stop string starting inside one token's text and ending in a later one.
    const tokenEnds: number[] = [];
    for (let k = 1; k <= full.tokenIds.length; k++) tokenEnds.push(engine.tokenizer.decode(full.tokenIds.slice(0, k)).length);
    let at = -1;
    for (const end of tokenEnds) {
      const a = end - 1;
      const s = text.slice(a, a + 3);
      if (a > 2 && s.length === 3 && !s.includes('\uFFFD') && text.indexOf(s) === a) {
        at = a;
        break;
      }
    }
    expect(at, `no usable stop string in ${JSON.stringify(text)}`).toBeGreaterThan(0);
    const stop = text.slice(at, at + 3);
    const id = engine.addRequest(long.text, { ...greedy(24), stop: ['\u0001never', stop] });
    const o = (await finish()).get(id)!.final!;
    expect(o.finishReason).toBe('stop');
    expect(o.text).toBe(text.slice(0, at));
    expect(full.tokenIds.slice(0, o.tokenIds.length)).toEqual(o.tokenIds);
    expect(o.tokenIds.length).toBeLessThan(full.tokenIds.length);

    const k = 4;
    const stopId = full.tokenIds[k];
    const first = full.tokenIds.indexOf(stopId);
    const s = engine.addRequest(long.text, { ...greedy(24), stopTokenIds: [stopId] });
    const so = (await finish()).get(s)!.final!;
    expect(so.finishReason).toBe('stop');
    expect(so.tokenIds).toEqual(full.tokenIds.slice(0, first + 1));
  });

  it('maxTokens ends a request with finishReason "length" after exactly maxTokens tokens', async () => {
    const long12 = await solo(chat.messages ? { messages: chat.messages } : chat.text, greedy(12));
    const o = await solo(chat.messages ? { messages: chat.messages } : chat.text, greedy(5));
    expect(o.finishReason).toBe('length');
    expect(o.tokenIds).toEqual(long12.tokenIds.slice(0, 5));
    expect(long12.tokenIds.length).toBe(12);
  });

  it('the same seed gives the same tokens (temperature 0.8, topK, topP), alone or in a batch', async () => {
    const params = { temperature: 0.8, topK: 40, topP: 0.9, seed: 1234, maxTokens: 12, ignoreEos: true };
    const first = await solo(short.text, params);
    engine.addRequest(long.text, greedy(5), 'other-greedy');
    const again = engine.addRequest(short.text, params);
    const otherSeed = engine.addRequest(short.text, { ...params, seed: 99 });
    const traces = await finish();
    expect(traces.get(again)!.final!.tokenIds).toEqual(first.tokenIds);
    expect(traces.get(otherSeed)!.final!.tokenIds).not.toEqual(first.tokenIds);
    const greedyRun = await solo(short.text, greedy(12));
    expect(first.tokenIds).not.toEqual(greedyRun.tokenIds); // it did sample
  });

  it('a request id may be reused once its request finished', async () => {
    const a = engine.addRequest(short.text, greedy(3), 'reused');
    const t1 = (await finish()).get(a)!.final!;
    // The scheduler reports 'reused' as finished with the next step: that must not end the new one.
    engine.addRequest(short.text, greedy(3), 'reused');
    const t2 = (await finish()).get('reused')!.final!;
    expect(t2.finishReason).toBe('length');
    expect(t2.tokenIds).toEqual(t1.tokenIds);
  });

  it('LLM.generate returns outputs in prompt order, reports a request too large for the KV cache as "error", and validates every request before queueing any', async () => {
    const expected = [await solo(short.text, greedy(4)), await solo(long.text, greedy(6))];
    // 6 KV blocks (96 tokens) but maxModelLen 128: a 100-token prompt passes addRequest and fails at admission.
    const llm = await LLM.create({ model: fx.dir, quiet: true, maxModelLen: 128, maxNumSeqs: 4, kvCacheBytes: kvBytesForBlocks(fx.dir, 6) });
    try {
      const tooBig = { promptTokenIds: new Array(100).fill(0).map((_, i) => 10 + i) };
      const outs = await llm.generate([short.text, tooBig, long.text], [greedy(4), greedy(4), greedy(6)]);
      expect(outs.map((o) => o.finishReason)).toEqual(['length', 'error', 'length']);
      expect(outs[1].error).toMatch(/KV blocks/);
      expect(outs[1].tokenIds).toEqual([]);
      expect([outs[0].tokenIds, outs[2].tokenIds]).toEqual(expected.map((o) => o.tokenIds));
      await expect(llm.generate([short.text, long.text], [greedy(4), { temperature: -2 }])).rejects.toThrow(SamplingParamsError);
      expect(llm.engine.hasUnfinishedRequests()).toBe(false);
      expect(llm.engine.scheduler.numFreeBlocks(0)).toBe(6);
    } finally {
      await llm.shutdown();
    }
  });

  it('bad engine configurations are refused with EngineConfigError naming the field, before any GPU work', async () => {
    // tensorParallelSize / tokenParallelSize > 1 run on the distributed executor (src/parallel, since
    // 8f24f6a) and are covered by test/parallel/token_parallel.test.ts, not here.
    const cases: [Partial<Parameters<typeof LLMEngine.create>[0]>, string][] = [
      [{ maxNumSeqs: 0 }, 'maxNumSeqs'],
      [{ tensorParallelSize: 0 }, 'tensorParallelSize'],
      [{ tokenParallelSize: 1.5 }, 'tokenParallelSize'],
      [{ gpuMemoryUtilization: 1.5 }, 'gpuMemoryUtilization'],
      [{ maxNumBatchedTokens: -1 }, 'maxNumBatchedTokens'],
      [{ model: '' }, 'model'],
      [{ submitEveryLayers: -1 }, 'submitEveryLayers'],
      [{ enforceEager: 'yes' as unknown as boolean }, 'enforceEager'],
    ];
    for (const [bad, field] of cases) {
      const err = await LLMEngine.create({ model: fx.dir, quiet: true, ...bad }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, field).toBeInstanceOf(EngineConfigError);
      expect((err as EngineConfigError).field).toBe(field);
    }
  });
});
