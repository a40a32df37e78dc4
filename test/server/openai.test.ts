// OpenAI-compatible HTTP API of `tknp serve` against a real server on 127.0.0.1 (port 0) over the
// tiny-llama fixture: /v1/completions (non-streamed, streamed as SSE, prompt arrays),
// /v1/chat/completions streamed (through the chat template), concurrent requests that batch
// together and keep their solo text, /v1/models and /health, error codes (400/404/405/413) with
// OpenAI error bodies, a disconnected client aborting its request, and a failing engine (a dead
// rank) failing every request in flight (503, SSE error event, WebSocket close 1011) and stopping
// the server. Expected texts come from LLM.generate of the same request alone on the same engine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LLM } from '../../src/engine/llm.js';
import type { PromptInput, RequestOutput } from '../../src/engine/llm_engine.js';
import { SamplingParamsError, type SamplingParamsInput } from '../../src/engine/sampling_params.js';
import { EngineDeadError } from '../../src/server/engine_loop.js';
import { toHttpError } from '../../src/server/openai.js';
import { TknpServer } from '../../src/server/server.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { expectIdle, greedy, serverEngineOptions, type Json } from '../helpers/server.js';

const gpu = await testGpu();

/** Reads an SSE response: the parsed `data:` events until `[DONE]` (which must come last). */
async function readSse(res: Response, onEvent?: (e: Json) => void): Promise<{ events: Json[]; sawDone: boolean }> {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: Json[] = [];
  let sawDone = false;
  let buf = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      expect(block.startsWith('data: '), block).toBe(true);
      expect(sawDone, 'nothing after [DONE]').toBe(false);
      const data = block.slice(6);
      if (data === '[DONE]') sawDone = true;
      else {
        const e = JSON.parse(data) as Json;
        events.push(e);
        onEvent?.(e);
      }
    }
  }
  expect(buf).toBe('');
  return { events, sawDone };
}

describe.skipIf(!gpu)(`tknp serve: OpenAI-compatible HTTP API (tiny-llama) ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  let llm: LLM;
  let server: TknpServer;
  let base: string;
  let totalBlocks: number;
  const rng = new Rng(4242);
  const n1 = rng.int(4, 10);
  const n2 = rng.int(4, 10);
  const n3 = rng.int(4, 10);
  const texts = ['Whenever you find yourself on the side of', 'A day without sunshine is like', 'ünïcödé → 🦊🦊'];
  const chatMessages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'What does a fortune cookie say?' },
  ];
  const refs: Record<string, RequestOutput> = {};
  const post = (path: string, body: unknown, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body), ...init });

  beforeAll(async () => {
    llm = await LLM.create(serverEngineOptions());
    totalBlocks = llm.engine.scheduler.numFreeBlocks(0);
    const solo = async (p: PromptInput, sp: SamplingParamsInput) => (await llm.generate(p, sp))[0];
    refs.a = await solo(texts[0], greedy(n1));
    refs.b = await solo(texts[1], greedy(n2));
    refs.c = await solo(texts[2], greedy(n1));
    refs.chat = await solo({ messages: chatMessages }, { temperature: 0, maxTokens: n3 });
    server = await TknpServer.start(llm.engine, { port: 0, log: () => {} });
    base = server.url;
  });

  afterAll(async () => {
    await server?.close();
    await llm?.shutdown();
  });

  const idle = () => expectIdle(server, llm, totalBlocks);

  it('GET /health and /v1/models', async () => {
    const h = await fetch(`${base}/health`);
    expect(h.status).toBe(200);
    const m = (await (await fetch(`${base}/v1/models`)).json()) as Json;
    expect(m.object).toBe('list');
    expect(m.data.map((d: Json) => d.id)).toEqual(['tiny-llama']);
    expect(m.data[0].max_model_len).toBe(256);
  });

  it('POST /v1/completions (non-streamed): text, finish_reason and usage of LLM.generate; prompt arrays give one choice each', async () => {
    const r = await post('/v1/completions', { model: 'tiny-llama', prompt: texts[0], max_tokens: n1, temperature: 0, ignore_eos: true });
    expect(r.status).toBe(200);
    const j = (await r.json()) as Json;
    expect(j.object).toBe('text_completion');
    expect(j.model).toBe('tiny-llama');
    expect(j.id).toMatch(/^cmpl-/);
    expect(j.choices).toEqual([{ index: 0, text: refs.a.text, logprobs: null, finish_reason: 'length' }]);
    const p = refs.a.promptTokenIds.length;
    // the same prompt ran before (refs.a): its full blocks before the last token come from the prefix cache
    expect(j.usage).toEqual({ prompt_tokens: p, completion_tokens: n1, total_tokens: p + n1, prompt_tokens_details: { cached_tokens: Math.floor((p - 1) / 16) * 16 } });

    const arr = (await (await post('/v1/completions', { prompt: [texts[0], texts[2]], max_tokens: n1, temperature: 0, ignore_eos: true, n: 1 })).json()) as Json;
    expect(arr.choices.map((c: Json) => [c.index, c.text])).toEqual([
      [0, refs.a.text],
      [1, refs.c.text],
    ]);
    expect(arr.usage.completion_tokens).toBe(2 * n1);
    // Token-id prompts take the same path.
    const ids = (await (await post('/v1/completions', { prompt: refs.b.promptTokenIds, max_tokens: n2, temperature: 0, ignore_eos: true })).json()) as Json;
    expect(ids.choices[0].text).toBe(refs.b.text);
    await idle();
  });

  it('POST /v1/completions stream: SSE chunks add up to the text, then finish_reason, usage and [DONE]', async () => {
    const r = await post('/v1/completions', { prompt: texts[2], max_tokens: n1, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } });
    const { events, sawDone } = await readSse(r);
    expect(sawDone).toBe(true);
    const usage = events.at(-1)!;
    expect(usage.choices).toEqual([]);
    expect(usage.usage.completion_tokens).toBe(n1);
    const chunks = events.slice(0, -1);
    expect(new Set(chunks.map((e) => e.id)).size).toBe(1);
    expect(chunks.every((e) => e.object === 'text_completion' && e.choices.length === 1)).toBe(true);
    expect(chunks.map((e) => e.choices[0].text).join('')).toBe(refs.c.text);
    expect(chunks.slice(0, -1).every((e) => e.choices[0].finish_reason === null)).toBe(true);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('length');
    expect(chunks.length).toBeGreaterThan(1); // streamed, not one block
    await idle();
  });

  it('POST /v1/chat/completions stream uses the chat template; two concurrent requests keep their solo text', async () => {
    const chatReq = post('/v1/chat/completions', { messages: chatMessages, max_tokens: n3, temperature: 0, stream: true });
    const other = post('/v1/completions', { prompt: texts[1], max_tokens: n2, temperature: 0, ignore_eos: true });
    const [{ events, sawDone }, o] = await Promise.all([chatReq.then((r) => readSse(r)), other.then((r) => r.json() as Promise<Json>)]);
    expect(sawDone).toBe(true);
    expect(events[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(events.every((e) => e.object === 'chat.completion.chunk')).toBe(true);
    expect(events.map((e) => e.choices[0].delta.content ?? '').join('')).toBe(refs.chat.text);
    expect(events.at(-1)!.choices[0].finish_reason).toBe(refs.chat.finishReason);
    expect(o.choices[0].text).toBe(refs.b.text);
    // The prompt went through the template (the reference used encodeChat), not plain encoding.
    const nonStream = (await (await post('/v1/chat/completions', { messages: chatMessages, max_tokens: n3, temperature: 0 })).json()) as Json;
    expect(nonStream.object).toBe('chat.completion');
    expect(nonStream.choices[0].message).toEqual({ role: 'assistant', content: refs.chat.text });
    expect(nonStream.usage.prompt_tokens).toBe(llm.engine.tokenizer.encodeChat(chatMessages).length);
    expect(nonStream.usage.prompt_tokens).toBe(refs.chat.promptTokenIds.length);
    await idle();
  });

  it('errors: 400 bad input, 404 unknown route or model, 405 wrong method, 413 body too large; OpenAI error bodies', async () => {
    const cases: [string, () => Promise<Response>, number, string | null][] = [
      ['invalid JSON', () => post('/v1/completions', '{"prompt": '), 400, null],
      ['array body', () => post('/v1/completions', '[1]'), 400, null],
      ['no prompt', () => post('/v1/completions', { max_tokens: 3 }), 400, 'prompt'],
      ['prompt of mixed types', () => post('/v1/completions', { prompt: ['a', 3] }), 400, 'prompt'],
      ['temperature < 0', () => post('/v1/completions', { prompt: 'x', temperature: -1 }), 400, 'temperature'],
      ['top_p 0', () => post('/v1/completions', { prompt: 'x', top_p: 0 }), 400, 'top_p'],
      ['max_tokens 0', () => post('/v1/completions', { prompt: 'x', max_tokens: 0 }), 400, 'max_tokens'],
      ['empty stop string', () => post('/v1/completions', { prompt: 'x', stop: ['ok', ''] }), 400, 'stop'],
      ['seed > u32', () => post('/v1/completions', { prompt: 'x', seed: 2 ** 32 }), 400, 'seed'],
      ['n = 17', () => post('/v1/completions', { prompt: 'x', n: 17 }), 400, 'n'],
      ['logprobs 21', () => post('/v1/completions', { prompt: 'x', logprobs: 21 }), 400, 'logprobs'],
      ['best_of 2', () => post('/v1/completions', { prompt: 'x', best_of: 2 }), 400, 'best_of'],
      ['stream not boolean', () => post('/v1/completions', { prompt: 'x', stream: 'yes' }), 400, 'stream'],
      ['token id outside the vocabulary', () => post('/v1/completions', { prompt: [0, 1024] }), 400, 'prompt'],
      ['prompt > maxModelLen', () => post('/v1/completions', { prompt: new Array(300).fill(7) }), 400, 'prompt'],
      ['empty messages', () => post('/v1/chat/completions', { messages: [] }), 400, 'messages'],
      ['message without role', () => post('/v1/chat/completions', { messages: [{ content: 'hi' }] }), 400, 'messages'],
      ['unknown route', () => post('/v1/embeddings', { input: 'x' }), 404, null],
      ['unknown model', () => post('/v1/completions', { model: 'gpt-4', prompt: 'x' }), 404, 'model'],
      ['GET /v1/completions', () => fetch(`${base}/v1/completions`), 405, null],
      ['POST /v1/models', () => post('/v1/models', {}), 405, null],
      ['body over 1 MiB', () => post('/v1/completions', JSON.stringify({ prompt: 'x'.repeat(1 << 20) })), 413, null],
    ];
    for (const [what, send, status, param] of cases) {
      const r = await send();
      expect(r.status, what).toBe(status);
      const body = (await r.json()) as Json;
      expect(Object.keys(body), what).toEqual(['error']);
      expect(Object.keys(body.error).sort(), what).toEqual(['code', 'message', 'param', 'type']);
      expect(typeof body.error.message, what).toBe('string');
      expect(body.error.type, what).toBe(status === 404 ? 'not_found_error' : 'invalid_request_error');
      expect(body.error.param, what).toBe(param);
      if (status === 405) expect(r.headers.get('allow'), what).toBe(what.startsWith('GET') ? 'POST' : 'GET');
    }
    expect(toHttpError(new EngineDeadError('x')).status).toBe(503);
    expect(toHttpError(new SamplingParamsError('stopTokenIds[2]', -1, 'must be >= 0')).param).toBe('stop_token_ids');
    await idle(); // no rejected request left anything behind
  });

  it('a client that disconnects mid-stream aborts its request (KV freed)', async () => {
    const generatedBefore = llm.engine.stats.generatedTokens;
    const ac = new AbortController();
    const r = await post('/v1/completions', { prompt: texts[0], max_tokens: 200, temperature: 0, ignore_eos: true, stream: true }, { signal: ac.signal });
    const reader = (r.body as ReadableStream<Uint8Array>).getReader();
    await reader.read(); // the first chunk: the request runs
    expect(server.loop.numActive).toBe(1);
    ac.abort();
    await idle();
    // A non-streamed request whose client goes away is aborted too.
    const ac2 = new AbortController();
    const pending = post('/v1/completions', { prompt: texts[1], max_tokens: 200, temperature: 0, ignore_eos: true }, { signal: ac2.signal }).catch((e: Error) => e);
    for (let i = 0; i < 500 && server.loop.numActive === 0; i++) await new Promise((res) => setTimeout(res, 10));
    ac2.abort();
    expect(await pending).toBeInstanceOf(Error);
    await idle();
    expect(llm.engine.stats.generatedTokens - generatedBefore).toBeLessThan(200); // 400 had they run on
  });

  it('an engine failure (a rank died) fails every request in flight with the reason and stops the server', async () => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/stream`);
    const wsMessages: Json[] = [];
    ws.on('message', (d) => wsMessages.push(JSON.parse(d.toString()) as Json));
    const wsClosed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ type: 'generate', id: 'w', prompt: texts[0], params: { temperature: 0, maxTokens: 200, ignoreEos: true } }));
    const sse = post('/v1/completions', { prompt: texts[1], max_tokens: 200, temperature: 0, ignore_eos: true, stream: true }).then((r) => readSse(r));
    const plain = post('/v1/chat/completions', { messages: chatMessages, max_tokens: 200, temperature: 0, ignore_eos: true });
    for (let i = 0; i < 1000 && (server.loop.numActive < 3 || !wsMessages.some((m) => m.type === 'token')); i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.loop.numActive).toBe(3);
    const executor = llm.engine.executor as { execute: (...a: unknown[]) => Promise<unknown> };
    executor.execute = () => Promise.reject(Object.assign(new Error('rank 1 stopped answering (simulated)'), { name: 'CommTimeoutError' }));

    const failure = await server.closed;
    expect(failure?.message).toMatch(/rank 1 stopped answering/);
    const plainRes = await plain;
    expect(plainRes.status).toBe(503);
    expect(((await plainRes.json()) as Json).error.message).toMatch(/CommTimeoutError: rank 1 stopped answering/);
    const { events, sawDone } = await sse;
    expect(sawDone).toBe(true);
    expect(events.at(-1)!.error.message).toMatch(/rank 1 stopped answering/);
    expect(await wsClosed).toBe(1011);
    const done = wsMessages.find((m) => m.type === 'done')!;
    expect(done.finishReason).toBe('error');
    expect(done.error.name).toBe('EngineDeadError');
    expect(done.error.message).toMatch(/CommTimeoutError: rank 1 stopped answering/);
    expect(wsMessages.filter((m) => m.type === 'token').map((m) => m.delta).join('')).toBe(done.text);
    expect(done.usage.completionTokens).toBe(wsMessages.filter((m) => m.type === 'token').flatMap((m) => m.tokenIds).length);
    expect(llm.engine.hasUnfinishedRequests()).toBe(false);
    await expect(fetch(`${base}/health`)).rejects.toThrow(); // no longer listening
  });
});
