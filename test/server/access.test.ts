// Who may use `tknp serve` (tiny-llama, 127.0.0.1, port 0): with an API key, HTTP needs
// `Authorization: Bearer KEY` (401 OpenAI-style otherwise) and the WebSocket takes it as the
// OpenAI Realtime API does: the same header, or the subprotocol openai-insecure-api-key.KEY next
// to a real one, which the server selects; both refusals (no key, wrong key) are tested on both
// paths. The page and /health stay open. Origins: a WebSocket upgrade or POST from another site
// is refused (403) unless --allowed-origins lists it; allowed ones get CORS headers and their
// preflight is answered; the server's own origin always works, a DNS-rebinding name does not.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LLM } from '../../src/engine/llm.js';
import { AccessPolicy } from '../../src/server/access.js';
import { TknpServer } from '../../src/server/server.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { serverEngineOptions, type Json } from '../helpers/server.js';

const gpu = await testGpu();
const KEY = 'sk-test-Zq81';

/** Tries a WebSocket upgrade; resolves with the selected protocol or the HTTP status and body of the refusal. */
function upgrade(url: string, opts: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<{ open: boolean; protocol?: string; status?: number; body?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers });
    ws.on('open', () => {
      resolve({ open: true, protocol: ws.protocol });
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ open: false, status: res.statusCode, body }));
    });
    ws.on('error', () => {});
  });
}

/** A raw HTTP request (fetch cannot set Origin or Host freely). */
function raw(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('AccessPolicy (no server)', () => {
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as http.IncomingMessage;
  it('same origin needs the same host:port and an IP, localhost or the listen name', () => {
    const p = new AccessPolicy({ listenHost: 'gpu-box' });
    expect(p.checkOrigin(req({ host: '127.0.0.1:8000', origin: 'http://127.0.0.1:8000' }))).toEqual({});
    expect(p.checkOrigin(req({ host: 'localhost:8000', origin: 'http://localhost:8000' }))).toEqual({});
    expect(p.checkOrigin(req({ host: 'gpu-box:8000', origin: 'http://gpu-box:8000' }))).toEqual({});
    expect(p.checkOrigin(req({ host: '127.0.0.1:8000' }))).toEqual({}); // no Origin: not a browser
    for (const origin of ['http://127.0.0.1:9000', 'http://evil.example', 'null', 'https://127.0.0.1:8000']) {
      expect(() => p.checkOrigin(req({ host: '127.0.0.1:8000', origin })), origin).toThrow(/not allowed/);
    }
    // DNS rebinding: evil.example resolving to this machine is same host:port but not a trusted name.
    expect(() => p.checkOrigin(req({ host: 'evil.example:8000', origin: 'http://evil.example:8000' }))).toThrow(/not allowed/);
    const open = new AccessPolicy({ allowedOrigins: ['https://app.example/'] });
    expect(open.checkOrigin(req({ host: '127.0.0.1:8000', origin: 'https://app.example' }))).toEqual({ 'Access-Control-Allow-Origin': 'https://app.example', Vary: 'Origin' });
    expect(new AccessPolicy({ allowedOrigins: ['*'] }).checkOrigin(req({ host: 'a:1', origin: 'http://x.example' }))['Access-Control-Allow-Origin']).toBe('http://x.example');
  });
});

describe.skipIf(!gpu)(`tknp serve: API key and origins ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  let llm: LLM;
  let server: TknpServer;
  let base: string;
  let ws: string;
  const auth = { Authorization: `Bearer ${KEY}` };

  beforeAll(async () => {
    llm = await LLM.create(serverEngineOptions());
    server = await TknpServer.start(llm.engine, { port: 0, log: () => {}, apiKey: KEY, allowedOrigins: ['https://app.example'] });
    base = server.url;
    ws = `${base.replace(/^http/, 'ws')}/v1/stream`;
  });
  afterAll(async () => {
    await server?.close();
    await llm?.shutdown();
  });

  it('HTTP: 401 without or with a wrong key (OpenAI error body), 200 with it; the page and /health stay open', async () => {
    const body = JSON.stringify({ prompt: 'x', max_tokens: 2 });
    for (const [what, headers] of [
      ['no key', {}],
      ['wrong key', { Authorization: 'Bearer sk-wrong' }],
      ['not bearer', { Authorization: `Basic ${KEY}` }],
    ] as [string, Record<string, string>][]) {
      for (const [method, path] of [
        ['POST', '/v1/completions'],
        ['GET', '/v1/models'],
        ['GET', '/metrics'],
      ]) {
        const r = await fetch(`${base}${path}`, { method, headers, body: method === 'POST' ? body : undefined });
        expect(r.status, `${what} ${path}`).toBe(401);
        expect(r.headers.get('www-authenticate')).toBe('Bearer');
        const j = (await r.json()) as Json;
        expect(j.error.code).toBe('invalid_api_key');
        expect(j.error.type).toBe('invalid_request_error');
      }
    }
    const ok = await fetch(`${base}/v1/completions`, { method: 'POST', headers: auth, body });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Json).choices[0].finish_reason).toBe('length');
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('WebSocket: refused without a key and with a wrong one (header or subprotocol); accepted with either, the real protocol selected', async () => {
    for (const [what, opts] of [
      ['no key', {}],
      ['wrong header', { headers: { Authorization: 'Bearer nope' } }],
      ['wrong subprotocol', { protocols: ['tknp', 'openai-insecure-api-key.nope'] }],
    ] as [string, { protocols?: string[]; headers?: Record<string, string> }][]) {
      const r = await upgrade(ws, opts);
      expect(r.open, what).toBe(false);
      expect(r.status, what).toBe(401);
      expect((JSON.parse(r.body!) as Json).error.code, what).toBe('invalid_api_key');
    }
    expect(await upgrade(ws, { headers: auth })).toEqual({ open: true, protocol: '' });
    expect(await upgrade(ws, { protocols: ['tknp', `openai-insecure-api-key.${KEY}`] })).toEqual({ open: true, protocol: 'tknp' });
  });

  it('origins: another site cannot upgrade or POST (even text/plain); an allowed one gets CORS headers and its preflight; same-origin works', async () => {
    const evil = await upgrade(ws, { protocols: ['tknp', `openai-insecure-api-key.${KEY}`], headers: { Origin: 'http://evil.example' } });
    expect(evil.open).toBe(false);
    expect(evil.status).toBe(403);
    const url = `${base}/v1/completions`;
    const simple = await raw(url, 'POST', { Origin: 'http://evil.example', 'Content-Type': 'text/plain', ...auth }, JSON.stringify({ prompt: 'x', max_tokens: 2 }));
    expect(simple.status).toBe(403);
    expect((JSON.parse(simple.body) as Json).error.code).toBe('origin_not_allowed');
    expect(simple.headers['access-control-allow-origin']).toBeUndefined();
    const pre = await raw(url, 'OPTIONS', { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' });
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(pre.headers['access-control-allow-headers']).toMatch(/Authorization/);
    expect((await raw(url, 'OPTIONS', { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' })).status).toBe(403);
    const allowed = await raw(url, 'POST', { Origin: 'https://app.example', 'Content-Type': 'application/json', ...auth }, JSON.stringify({ prompt: 'x', max_tokens: 2 }));
    expect(allowed.status).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example');
    const same = await upgrade(ws, { protocols: ['tknp', `openai-insecure-api-key.${KEY}`], headers: { Origin: base } });
    expect(same.open).toBe(true);
    expect((await raw(`${base}/v1/models`, 'GET', { Origin: base, ...auth })).status).toBe(200);
  });
});
