// The OpenAI/vLLM request fields of `tknp serve` beyond the basics (tiny-llama): logprobs and
// top_logprobs (completions and chat, streamed and not; equal to the engine's own logprobs of the
// same request), n choices (distinct streams, reproducible with a seed, choice 0 = the n = 1
// request), penalties (the engine's result), GET /v1/models/{id}, vLLM's validation (max_tokens
// against max_model_len, a prompt of exactly max_model_len, chat roles, non-integer token ids;
// messages without internal ids), a WebSocket message over the limit answered before the close,
// logprobs on the WebSocket, and /health answering 503 while the server shuts down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LLM } from '../../src/engine/llm.js';
import type { RequestOutput, TokenLogprobs } from '../../src/engine/llm_engine.js';
import type { SamplingParamsInput } from '../../src/engine/sampling_params.js';
import { TknpServer } from '../../src/server/server.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { serverEngineOptions, type Json } from '../helpers/server.js';

const gpu = await testGpu();
const INTERNAL_ID = /\b(cmpl|chatcmpl|ws|req)-\d+\b/;

/** SSE `data:` events of a streamed response, until [DONE]. */
async function sseEvents(res: Response): Promise<Json[]> {
  const text = await res.text();
  const events = text.split('\n\n').filter(Boolean).map((b) => b.slice('data: '.length));
  expect(events.at(-1)).toBe('[DONE]');
  return events.slice(0, -1).map((e) => JSON.parse(e) as Json);
}

describe.skipIf(!gpu)(`tknp serve: logprobs, n, penalties, validation (tiny-llama) ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  let llm: LLM;
  let server: TknpServer;
  let base: string;
  const prompt = 'The secret of the old lighthouse';
  const chatMessages = [{ role: 'user', content: 'Tell me a short story.' }];
  const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body) });

  /** The engine's own per-token outputs of one request run alone. */
  async function engineRun(p: string | { messages: { role: string; content: string }[] }, sp: SamplingParamsInput): Promise<{ ids: number[]; lps: TokenLogprobs[]; final: RequestOutput }> {
    const e = llm.engine;
    const id = e.addRequest(p, sp);
    const ids: number[] = [];
    const lps: TokenLogprobs[] = [];
    let final: RequestOutput | undefined;
    while (e.hasUnfinishedRequests()) {
      for (const o of await e.step()) {
        if (o.requestId !== id) continue;
        ids.push(...o.newTokenIds);
        lps.push(...(o.logprobs ?? []));
        if (o.finished) final = o;
      }
    }
    return { ids, lps, final: final! };
  }
  const text = (id: number) => llm.engine.tokenizer.decode([id]);
  const refs: Record<string, Awaited<ReturnType<typeof engineRun>>> = {};

  beforeAll(async () => {
    llm = await LLM.create(serverEngineOptions());
    refs.completion = await engineRun(prompt, { temperature: 0.9, seed: 7, maxTokens: 6, ignoreEos: true, logprobs: 3 });
    refs.chat = await engineRun({ messages: chatMessages }, { temperature: 0, maxTokens: 5, ignoreEos: true, logprobs: 2 });
    refs.penalised = await engineRun(prompt, { temperature: 0, maxTokens: 10, ignoreEos: true, presencePenalty: 1.5, frequencyPenalty: 1, repetitionPenalty: 1.7 });
    refs.seeded = await engineRun(prompt, { temperature: 1, seed: 99, maxTokens: 8, ignoreEos: true });
    server = await TknpServer.start(llm.engine, { port: 0, log: () => {} });
    base = server.url;
  });
  afterAll(async () => {
    await server?.close();
    await llm?.shutdown();
  });

  it('completions logprobs: the engine logprobs of the request; streamed chunks carry the same', async () => {
    const body = { prompt, temperature: 0.9, seed: 7, max_tokens: 6, ignore_eos: true, logprobs: 3 };
    const j = (await (await post('/v1/completions', body)).json()) as Json;
    const lp = j.choices[0].logprobs;
    const r = refs.completion;
    expect(lp.tokens).toEqual(r.ids.map(text));
    expect(lp.token_logprobs).toEqual(r.lps.map((l) => l.logprob));
    lp.top_logprobs.forEach((top: Record<string, number>, k: number) => {
      expect(Object.keys(top).length).toBeLessThanOrEqual(3);
      for (const t of r.lps[k].top) expect(top[text(t.tokenId)]).toBeGreaterThanOrEqual(t.logprob);
    });
    expect(lp.text_offset[0]).toBe(0);
    expect(lp.text_offset[1]).toBe(lp.tokens[0].length);
    const events = await sseEvents(await post('/v1/completions', { ...body, stream: true }));
    const streamed = events.flatMap((e) => e.choices[0]?.logprobs?.token_logprobs ?? []);
    expect(streamed).toEqual(r.lps.map((l) => l.logprob));
  });

  it('chat logprobs (logprobs: true, top_logprobs): content entries with bytes, streamed and not', async () => {
    const body = { messages: chatMessages, temperature: 0, max_tokens: 5, ignore_eos: true, logprobs: true, top_logprobs: 2 };
    const j = (await (await post('/v1/chat/completions', body)).json()) as Json;
    const content = j.choices[0].logprobs.content as Json[];
    const r = refs.chat;
    expect(content.map((c) => c.token)).toEqual(r.ids.map(text));
    expect(content.map((c) => c.logprob)).toEqual(r.lps.map((l) => l.logprob));
    expect(content[0].bytes).toEqual([...Buffer.from(content[0].token, 'utf8')]);
    expect(content.map((c) => c.top_logprobs.map((t: Json) => t.logprob))).toEqual(r.lps.map((l) => l.top.map((t) => t.logprob)));
    // Greedy: the sampled token is the most likely one.
    expect(content.every((c) => c.top_logprobs[0].logprob === c.logprob)).toBe(true);
    const events = await sseEvents(await post('/v1/chat/completions', { ...body, stream: true }));
    expect(events.flatMap((e) => e.choices[0]?.logprobs?.content ?? []).map((c: Json) => c.logprob)).toEqual(r.lps.map((l) => l.logprob));
    const plain = (await (await post('/v1/chat/completions', { ...body, logprobs: false, top_logprobs: undefined })).json()) as Json;
    expect(plain.choices[0].logprobs).toBeNull();
    const bad = await post('/v1/chat/completions', { ...body, logprobs: false });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json).error.param).toBe('top_logprobs');
  });

  it('n choices: distinct random streams, choice 0 is the n = 1 request, reproducible with a seed; usage counts the prompt once', async () => {
    const body = { prompt, temperature: 1, seed: 99, max_tokens: 8, ignore_eos: true, n: 4 };
    const a = (await (await post('/v1/completions', body)).json()) as Json;
    expect(a.choices.map((c: Json) => c.index)).toEqual([0, 1, 2, 3]);
    expect(a.choices[0].text).toBe(refs.seeded.final.text);
    expect(new Set(a.choices.map((c: Json) => c.text)).size).toBe(4);
    const again = (await (await post('/v1/completions', body)).json()) as Json;
    expect(again.choices.map((c: Json) => c.text)).toEqual(a.choices.map((c: Json) => c.text));
    expect(a.usage.prompt_tokens).toBe(refs.seeded.final.promptTokenIds.length);
    expect(a.usage.completion_tokens).toBe(32);
    // Two prompts × n = 2: indices prompt × n + j; streamed chunks name them.
    const events = await sseEvents(await post('/v1/completions', { prompt: [prompt, 'Another'], temperature: 1, max_tokens: 3, ignore_eos: true, n: 2, stream: true }));
    expect(new Set(events.map((e) => e.choices[0].index))).toEqual(new Set([0, 1, 2, 3]));
  });

  it('penalties: the engine result of the same request', async () => {
    const j = (await (await post('/v1/completions', { prompt, temperature: 0, max_tokens: 10, ignore_eos: true, presence_penalty: 1.5, frequency_penalty: 1, repetition_penalty: 1.7 })).json()) as Json;
    expect(j.choices[0].text).toBe(refs.penalised.final.text);
    const bad = await post('/v1/completions', { prompt, presence_penalty: 3 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json).error.param).toBe('presence_penalty');
  });

  it('GET /v1/models/{id}: the model, or 404 model_not_found', async () => {
    const ok = (await (await fetch(`${base}/v1/models/tiny-llama`)).json()) as Json;
    expect(ok).toMatchObject({ id: 'tiny-llama', object: 'model', max_model_len: 256 });
    const nf = await fetch(`${base}/v1/models/gpt-4`);
    expect(nf.status).toBe(404);
    expect(((await nf.json()) as Json).error.code).toBe('model_not_found');
  });

  it("validation as vLLM's: max_tokens past max_model_len, a prompt of max_model_len tokens, unknown roles, non-integer token ids; no internal ids in messages", async () => {
    const cases: [string, string, unknown, string, RegExp][] = [
      ['max_tokens 1e9', '/v1/completions', { prompt: [5, 6, 7], max_tokens: 1e9 }, 'max_tokens', /maximum context length is 256 tokens\. However, you requested 1000000003 tokens \(3 in the prompt, 1000000000 in the completion\)/],
      ['prompt of max_model_len', '/v1/completions', { prompt: new Array(256).fill(7) }, 'prompt', /your prompt has 256 tokens, which leaves no room/],
      ['chat max_tokens', '/v1/chat/completions', { messages: chatMessages, max_completion_tokens: 300 }, 'max_tokens', /in the messages, 300 in the completion/],
      ['role wizard', '/v1/chat/completions', { messages: [{ role: 'wizard', content: 'hi' }] }, 'messages', /role "wizard" is not one of system, developer, user, assistant, tool/],
      ['token id 1.5', '/v1/completions', { prompt: [5, 1.5] }, 'prompt', /prompt\[1\]: token id 1\.5 is not an integer/],
      ['token id 1024', '/v1/completions', { prompt: [[5], [6, 1024]] }, 'prompt', /prompt\[1\]\[1\]: token id 1024 is outside the vocabulary \(0\.\.1023\)/],
    ];
    for (const [what, path, body, param, message] of cases) {
      const r = await post(path, body);
      expect(r.status, what).toBe(400);
      const e = ((await r.json()) as Json).error;
      expect(e.param, what).toBe(param);
      expect(e.message, what).toMatch(message);
      expect(e.message, what).not.toMatch(INTERNAL_ID);
    }
    // A request that fits by default gets what is left: chat without max_tokens, completions with a big prompt.
    const fill = (await (await post('/v1/completions', { prompt: new Array(250).fill(7), ignore_eos: true, temperature: 0 })).json()) as Json;
    expect(fill.usage.completion_tokens).toBe(6);
    expect(server.loop.numActive).toBe(0);
  });

  it('WebSocket: logprobs in token messages; a message over 1 MiB gets an error message, then close 1009', async () => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/stream`);
    const messages: Json[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(d.toString()) as Json));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ type: 'generate', id: 'lp', messages: chatMessages, params: { temperature: 0, maxTokens: 5, ignoreEos: true, logprobs: 2 } }));
    for (let i = 0; i < 500 && !messages.some((m) => m.type === 'done'); i++) await new Promise((r) => setTimeout(r, 10));
    const tokens = messages.filter((m) => m.type === 'token');
    expect(tokens.flatMap((t) => t.logprobs.map((l: Json) => l.logprob))).toEqual(refs.chat.lps.map((l) => l.logprob));
    expect(tokens[0].logprobs[0].top[0]).toEqual({ tokenId: refs.chat.lps[0].top[0].tokenId, token: text(refs.chat.lps[0].top[0].tokenId), logprob: refs.chat.lps[0].top[0].logprob });
    ws.send(JSON.stringify({ type: 'generate', prompt: 'x'.repeat(1.5 * 2 ** 20) }));
    expect(await closed).toBe(1009);
    const err = messages.at(-1)!;
    expect(err.type).toBe('error');
    expect(err.error.name).toBe('ProtocolError');
    expect(err.error.message).toMatch(/exceeds the limit of 1048576 bytes/);
  });

  it('/health answers 503 while the server shuts down (new requests too), until it stops listening', async () => {
    const executor = llm.engine.executor as { execute: (...a: unknown[]) => Promise<unknown> };
    const original = executor.execute.bind(executor);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inStep = new Promise<void>((r) => (entered = r));
    executor.execute = async (...a: unknown[]) => {
      entered();
      await gate;
      return original(...a);
    };
    try {
      const pending = post('/v1/completions', { prompt, max_tokens: 50, ignore_eos: true });
      await inStep;
      const closing = server.close();
      const health = await fetch(`${base}/health`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as Json).error.message).toMatch(/shutting down/);
      expect((await post('/v1/completions', { prompt })).status).toBe(503);
      release();
      await closing;
      const r = await pending;
      expect(r.status).toBe(200);
      expect(((await r.json()) as Json).choices[0].finish_reason).toBe('abort');
      await expect(fetch(`${base}/health`)).rejects.toThrow();
    } finally {
      executor.execute = original;
    }
  });
});
