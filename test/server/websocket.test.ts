// WebSocket token streaming (/v1/stream) against a real server on 127.0.0.1 (port 0) over the
// tiny-llama fixture: streamed deltas add up to the final text and equal LLM.generate's greedy
// output for the same request run alone; requests from two sockets batch together and still give
// their solo text; abort mid-stream; bad input gets a named error while a concurrent request
// completes; a closed socket frees its request at once; the idle loop does not spin.
// Expected outputs are never hard-coded: each comes from LLM.generate of the request alone on
// the same engine before the server starts (greedy decoding is batch-invariant).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LLM } from '../../src/engine/llm.js';
import type { PromptInput, RequestOutput } from '../../src/engine/llm_engine.js';
import type { SamplingParamsInput } from '../../src/engine/sampling_params.js';
import { TknpServer } from '../../src/server/server.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { expectIdle, greedy, serverEngineOptions, type Json } from '../helpers/server.js';

const gpu = await testGpu();

/** A test client: records every message (and a shared log across clients) and waits for matches. */
class Client {
  readonly messages: Json[] = [];
  private waiters: { pred: (m: Json) => boolean; resolve: (m: Json) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(
    readonly ws: WebSocket,
    readonly name: string,
    private readonly log: string[],
  ) {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Json;
      this.messages.push(m);
      log.push(`${name}:${m.type}:${m.id}`);
      this.waiters = this.waiters.filter((w) => !(w.pred(m) && (w.resolve(m), true)));
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async open(url: string, name: string, log: string[] = []): Promise<Client> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new Client(ws, name, log);
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  waitFor(pred: (m: Json) => boolean): Promise<Json> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  done(id: unknown): Promise<Json> {
    return this.waitFor((m) => m.type === 'done' && m.id === id);
  }

  of(id: unknown, type?: string): Json[] {
    return this.messages.filter((m) => m.id === id && (type === undefined || m.type === type));
  }
}

/** Checks a finished stream: token deltas and ids add up to the done message, which matches `ref`. */
function expectStream(c: Client, id: unknown, ref: RequestOutput): void {
  const tokens = c.of(id, 'token');
  const done = c.of(id, 'done');
  expect(done.length, `${id}: one done message`).toBe(1);
  expect(c.messages.filter((m) => m.id === id).at(-1)!.type, `${id}: done comes last`).toBe('done');
  expect(tokens.map((t) => t.delta).join(''), `${id}: deltas`).toBe(done[0].text);
  expect(tokens.flatMap((t) => t.tokenIds), `${id}: token ids`).toEqual(ref.tokenIds);
  expect(done[0].text, `${id}: text`).toBe(ref.text);
  expect(done[0].finishReason, `${id}: finishReason`).toBe(ref.finishReason);
  expect(done[0].usage).toEqual({ promptTokens: ref.promptTokenIds.length, completionTokens: ref.tokenIds.length });
}

interface Case {
  readonly id: string;
  readonly wire: Json; // the prompt part of the generate message
  readonly prompt: PromptInput;
  readonly params: SamplingParamsInput;
}

describe.skipIf(!gpu)(`tknp serve: WebSocket /v1/stream (tiny-llama) ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  let llm: LLM;
  let server: TknpServer;
  let url: string;
  let totalBlocks: number;
  const refs = new Map<string, RequestOutput>();
  const rng = new Rng(20261125);
  // Seeded prompts: plain text, multi-byte text (deltas must never split a character), random
  // token ids of an awkward length, and a chat through the template; random output lengths.
  const randomIds = Array.from({ length: rng.int(17, 37) }, () => rng.int(5, 1023));
  const cases: Case[] = [
    { id: 'plain', wire: { prompt: 'The quick brown fox' }, prompt: 'The quick brown fox', params: greedy(rng.int(5, 12)) },
    { id: 'utf8', wire: { prompt: 'naïve café — 日本語 🦊?' }, prompt: 'naïve café — 日本語 🦊?', params: greedy(rng.int(5, 12)) },
    { id: 'ids', wire: { promptTokenIds: randomIds }, prompt: { promptTokenIds: randomIds }, params: greedy(rng.int(5, 12)) },
    {
      id: 'chat',
      wire: { messages: [{ role: 'user', content: 'What does a fortune cookie say?' }] },
      prompt: { messages: [{ role: 'user', content: 'What does a fortune cookie say?' }] },
      params: { temperature: 0, maxTokens: rng.int(5, 12) }, // may stop at EOS
    },
  ];
  const byId = (id: string) => cases.find((c) => c.id === id)!;

  beforeAll(async () => {
    llm = await LLM.create(serverEngineOptions());
    totalBlocks = llm.engine.scheduler.numFreeBlocks(0);
    for (const c of cases) refs.set(c.id, (await llm.generate(c.prompt, c.params))[0]);
    server = await TknpServer.start(llm.engine, { port: 0, log: () => {} });
    url = `${server.url.replace(/^http/, 'ws')}/v1/stream`;
  });

  afterAll(async () => {
    await server?.close();
    await llm?.shutdown();
  });

  const idle = () => expectIdle(server, llm, totalBlocks);

  it('interleaved requests on one socket stream deltas that add up to LLM.generate greedy output', async () => {
    const c = await Client.open(url, 'a');
    for (const k of cases) c.send({ type: 'generate', id: k.id, ...k.wire, params: k.params });
    await Promise.all(cases.map((k) => c.done(k.id)));
    for (const k of cases) expectStream(c, k.id, refs.get(k.id)!);
    // Without an id the server names the request; numeric ids are echoed as numbers.
    c.send({ type: 'generate', prompt: 'The quick brown fox', params: byId('plain').params });
    c.send({ type: 'generate', id: 7, prompt: 'The quick brown fox', params: byId('plain').params });
    expectStream(c, (await c.waitFor((m) => m.type === 'done' && typeof m.id === 'string' && m.id.startsWith('gen-'))).id, refs.get('plain')!);
    await c.done(7);
    expectStream(c, 7, refs.get('plain')!);
    c.ws.close();
    await idle();
  });

  it('requests from two sockets batch together and each gets its solo text', async () => {
    const log: string[] = [];
    const [a, b] = await Promise.all([Client.open(url, 'a', log), Client.open(url, 'b', log)]);
    a.send({ type: 'generate', id: 'x', ...byId('utf8').wire, params: byId('utf8').params });
    b.send({ type: 'generate', id: 'x', ...byId('ids').wire, params: byId('ids').params }); // same client id, other socket
    await Promise.all([a.done('x'), b.done('x')]);
    expectStream(a, 'x', refs.get('utf8')!);
    expectStream(b, 'x', refs.get('ids')!);
    // Both were in flight together: each streamed a token before the other finished.
    expect(log.indexOf('b:token:x')).toBeLessThan(log.indexOf('a:done:x'));
    expect(log.indexOf('a:token:x')).toBeLessThan(log.indexOf('b:done:x'));
    a.ws.close();
    b.ws.close();
    await idle();
  });

  it('abort mid-stream: done with finishReason "abort", the tokens so far, KV freed', async () => {
    const c = await Client.open(url, 'a');
    const k = byId('plain');
    c.send({ type: 'generate', id: 'long', ...k.wire, params: greedy(200) });
    await c.waitFor((m) => m.type === 'token' && m.id === 'long');
    c.send({ type: 'abort', id: 'long' });
    const done = await c.done('long');
    expect(done.finishReason).toBe('abort');
    const ids = c.of('long', 'token').flatMap((t) => t.tokenIds);
    expect(done.usage.completionTokens).toBe(ids.length);
    expect(ids.length).toBeGreaterThanOrEqual(1);
    expect(ids.length).toBeLessThan(200);
    const ref = refs.get('plain')!.tokenIds;
    expect(ids.slice(0, ref.length)).toEqual(ref.slice(0, ids.length)); // the same greedy stream, cut short
    expect(c.of('long', 'token').map((t) => t.delta).join('')).toBe(done.text);
    c.send({ type: 'abort', id: 'long' }); // finished already: ignored
    c.send({ type: 'abort', id: 'never-started' });
    c.ws.close();
    await idle();
    expect(c.messages.filter((m) => m.type === 'error')).toEqual([]);
  });

  it('bad input gets a named error (and nothing else) while a concurrent request completes', async () => {
    const c = await Client.open(url, 'a');
    const k = byId('ids');
    c.send({ type: 'generate', id: 'good', ...k.wire, params: k.params });
    const bad: [unknown, string | undefined, string, RegExp, string?][] = [
      [{ type: 'generate', id: 'b1', prompt: 'x', params: { temperature: -1 } }, 'b1', 'SamplingParamsError', /temperature/, 'temperature'],
      [{ type: 'generate', id: 'b2', prompt: 'x', params: { topP: 0 } }, 'b2', 'SamplingParamsError', /topP/, 'topP'],
      [{ type: 'generate', id: 'b3', prompt: 'x', params: { bestOf: 2 } }, 'b3', 'SamplingParamsError', /bestOf/, 'bestOf'],
      [{ type: 'generate', id: 'b4', prompt: 'x', params: { maxTokens: 1.5 } }, 'b4', 'SamplingParamsError', /maxTokens/, 'maxTokens'],
      [{ type: 'generate', id: 'b5', prompt: 'x', params: 'greedy' }, 'b5', 'SamplingParamsError', /params|object/],
      [{ type: 'generate', id: 'b6', promptTokenIds: [0, 1024] }, 'b6', 'RequestError', /vocabulary/],
      [{ type: 'generate', id: 'b7', promptTokenIds: new Array(257).fill(7) }, 'b7', 'ContextLengthError', /maximum context length is 256 tokens/],
      [{ type: 'generate', id: 'b7b', promptTokenIds: new Array(256).fill(7) }, 'b7b', 'ContextLengthError', /has 256 tokens, which leaves no room/],
      [{ type: 'generate', id: 'b7c', promptTokenIds: [7, 7], params: { maxTokens: 1e9 } }, 'b7c', 'ContextLengthError', /requested 1000000002 tokens \(2 in the prompt, 1000000000 in the completion\)/],
      [{ type: 'generate', id: 'b7d', promptTokenIds: [7, 1.5] }, 'b7d', 'RequestError', /token id 1.5 is not an integer/],
      [{ type: 'generate', id: 'b7e', messages: [{ role: 'wizard', content: 'hi' }] }, 'b7e', 'RequestError', /role "wizard" is not one of/],
      [{ type: 'generate', id: 'b8' }, 'b8', 'RequestError', /exactly one of/],
      [{ type: 'generate', id: 'b9', prompt: 'x', messages: [] }, 'b9', 'RequestError', /exactly one of/],
      [{ type: 'generate', id: 'b10', messages: [{ role: 'user' }] }, 'b10', 'RequestError', /messages\[0\]/],
      [{ type: 'generate', id: 'good', prompt: 'x' }, 'good', 'RequestError', /already exists/],
      [{ type: 'generate', id: 'b11', prompt: 'x', max_tokens: 3 }, 'b11', 'ProtocolError', /max_tokens/],
      [{ type: 'frobnicate', id: 'b12' }, 'b12', 'ProtocolError', /frobnicate/],
      [{ type: 'abort' }, undefined, 'ProtocolError', /id/],
      [{ type: 'generate', id: { x: 1 }, prompt: 'x' }, undefined, 'ProtocolError', /id must be/],
      ['{"type": "generate", ', undefined, 'ProtocolError', /JSON/],
      ['[1, 2]', undefined, 'ProtocolError', /object/],
    ];
    for (const [msg] of bad) c.send(msg);
    const done = await c.done('good');
    expect(done.finishReason).toBe(refs.get('ids')!.finishReason);
    expectStream(c, 'good', refs.get('ids')!);
    const errors = c.messages.filter((m) => m.type === 'error');
    expect(errors.length).toBe(bad.length); // ordered like the requests: one error each
    bad.forEach(([msg, id, name, message, field], i) => {
      const e = errors[i];
      expect(e.id, JSON.stringify(msg)).toBe(id);
      expect(e.error.name, JSON.stringify(msg)).toBe(name);
      expect(e.error.message, JSON.stringify(msg)).toMatch(message);
      if (field) expect(e.error.field).toBe(field);
    });
    // Nothing but errors for the rejected ids.
    expect(c.messages.filter((m) => m.type !== 'error' && m.id !== 'good')).toEqual([]);
    c.ws.close();
    await idle();
  });

  it('closing the socket aborts its requests and frees their KV at once; other sockets go on', async () => {
    const a = await Client.open(url, 'a');
    const b = await Client.open(url, 'b');
    const generatedBefore = llm.engine.stats.generatedTokens;
    a.send({ type: 'generate', id: 'gone', ...byId('plain').wire, params: greedy(200) });
    a.send({ type: 'generate', id: 'gone2', ...byId('utf8').wire, params: greedy(200) });
    await a.waitFor((m) => m.type === 'token' && m.id === 'gone');
    b.send({ type: 'generate', id: 'stays', ...byId('chat').wire, params: byId('chat').params });
    expect(llm.engine.scheduler.numFreeBlocks(0)).toBeLessThan(totalBlocks);
    a.ws.close();
    await a.closed;
    await b.done('stays');
    expectStream(b, 'stays', refs.get('chat')!);
    b.ws.close();
    await idle();
    expect(a.of('gone', 'done')).toEqual([]);
    // The two 200-token requests were cut short (400 tokens if they had run on).
    const generated = llm.engine.stats.generatedTokens - generatedBefore - refs.get('chat')!.tokenIds.length;
    expect(generated).toBeLessThan(200);
  });

  it('the idle loop waits for a signal instead of spinning', async () => {
    await idle();
    await new Promise((r) => setTimeout(r, 50)); // let the loop reach its wait
    const before = { ...server.loop.stats };
    await new Promise((r) => setTimeout(r, 300));
    expect(server.loop.stats).toEqual(before);
    // ...and wakes up for the next request.
    const c = await Client.open(url, 'a');
    c.send({ type: 'generate', id: 'wake', ...byId('plain').wire, params: byId('plain').params });
    await c.done('wake');
    expectStream(c, 'wake', refs.get('plain')!);
    expect(server.loop.stats.steps).toBeGreaterThan(before.steps);
    expect(server.loop.stats.idleWaits).toBeLessThanOrEqual(before.idleWaits + 1); // one wait per idle period
    c.ws.close();
  });
});
