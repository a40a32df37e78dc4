// TknpServer: the HTTP server of `tknp serve`. Routes the OpenAI-compatible endpoints
// (openai.ts), upgrades /v1/stream to WebSocket streaming (websocket.ts), and runs the one
// EngineLoop every connection submits to. The server does not own the engine: whoever created it
// shuts it down after `close()` (or after `closed` resolved because the engine failed).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { basename } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { WebSocketServer } from 'ws';
import type { LLMEngine } from '../engine/llm_engine.js';
import type { SamplingParamsInput } from '../engine/sampling_params.js';
import { EngineLoop } from './engine_loop.js';
import { DEFAULT_MAX_BODY_BYTES, HttpError, readJsonBody, sendError, sendJson } from './http.js';
import { handleGeneration, modelsList, toHttpError, type OpenAIContext } from './openai.js';
import { createStreamServer, STREAM_PATH } from './websocket.js';

export interface ServerOptions {
  /** Interface to listen on (default 127.0.0.1). */
  readonly host?: string;
  /** Port (default 8000; 0 = any free port, read it back from `port`). */
  readonly port?: number;
  /** Model id in the API (default: the model directory's name). */
  readonly modelName?: string;
  /** Sampling defaults for every request (request fields override them). */
  readonly defaults?: SamplingParamsInput;
  /** Largest HTTP body or WebSocket message (default 1 MiB). */
  readonly maxBodyBytes?: number;
  /** How long close() lets in-flight responses finish before dropping connections (ms, default 2000). */
  readonly graceMs?: number;
  /** Status lines (default: stderr). */
  readonly log?: (line: string) => void;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export class TknpServer {
  private closing: Promise<void> | undefined;
  private resolveClosed: (failure: Error | undefined) => void = () => {};
  /** Resolves once the server stopped: with the engine's error when a failed engine stopped it. */
  readonly closed: Promise<Error | undefined>;
  readonly loop: EngineLoop;
  private readonly routes: Readonly<Record<string, Readonly<Record<string, Handler>>>>;
  private readonly wss: WebSocketServer;
  private readonly http: Server;
  private readonly log: (line: string) => void;

  private constructor(
    readonly engine: LLMEngine,
    private readonly opts: ServerOptions,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.log = opts.log ?? ((l) => process.stderr.write(`[tknp serve] ${l}\n`));
    this.loop = new EngineLoop(engine, {
      onFatal: (e) => {
        this.log(`engine failed (${e.name}: ${e.message}); every request was failed with this reason; stopping the server`);
        void this.close();
      },
    });
    const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    const ctx: OpenAIContext = { loop: this.loop, modelName: opts.modelName ?? basename(engine.config.model), defaults: opts.defaults ?? {} };
    const generation = (kind: 'completion' | 'chat'): Handler => async (req, res) => handleGeneration(kind, req, res, await readJsonBody(req, limit), ctx);
    this.routes = {
      '/health': { GET: (_req, res) => (this.loop.accepting ? sendJson(res, 200, { status: 'ok' }) : sendError(res, toHttpError(null, ctx))) },
      '/v1/models': { GET: (_req, res) => sendJson(res, 200, modelsList(ctx)) },
      '/v1/completions': { POST: generation('completion') },
      '/v1/chat/completions': { POST: generation('chat') },
      [STREAM_PATH]: { GET: () => Promise.reject(new HttpError(426, `${STREAM_PATH} is a WebSocket endpoint: send an Upgrade request`, 'invalid_request_error', null, null, { Upgrade: 'websocket' })) },
    };
    this.wss = createStreamServer(this.loop, limit);
    this.http = createServer((req, res) => void this.handle(req, res, ctx));
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  /** Starts the engine loop and listens; resolves once the port is bound. */
  static async start(engine: LLMEngine, opts: ServerOptions = {}): Promise<TknpServer> {
    const s = new TknpServer(engine, opts);
    try {
      await new Promise<void>((resolve, reject) => {
        s.http.once('error', reject);
        s.http.listen(opts.port ?? 8000, opts.host ?? '127.0.0.1', () => {
          s.http.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      await s.loop.stop();
      throw e;
    }
    return s;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  get host(): string {
    return (this.http.address() as AddressInfo).address;
  }

  /** http://host:port (IPv6 hosts in brackets). */
  get url(): string {
    const h = this.host;
    return `http://${h.includes(':') ? `[${h}]` : h}:${this.port}`;
  }

  /**
   * Stops listening, aborts every request (clients get their final 'abort' outputs), closes
   * WebSockets, lets responses in flight finish for graceMs, then drops what is left.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const closedHttp = new Promise<void>((resolve) => this.http.close(() => resolve()));
      this.http.closeIdleConnections();
      await this.loop.stop();
      this.http.closeIdleConnections();
      const reason = this.loop.failure ? 'engine failed' : 'server shutting down';
      for (const ws of this.wss.clients) ws.close(this.loop.failure ? 1011 : 1001, reason);
      const timer = setTimeout(() => {
        this.http.closeAllConnections();
        for (const ws of this.wss.clients) ws.terminate();
      }, this.opts.graceMs ?? 2000);
      await closedHttp;
      clearTimeout(timer);
      await new Promise<void>((resolve) => this.wss.close(() => resolve()));
      this.resolveClosed(this.loop.failure);
    })();
    return this.closing;
  }

  private async handle(req: IncomingMessage, res: ServerResponse, ctx: OpenAIContext): Promise<void> {
    // While closing, a keep-alive connection is dropped as soon as its response is done.
    res.once('finish', () => {
      if (this.closing) setImmediate(() => this.http.closeIdleConnections());
    });
    try {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const methods = this.routes[path];
      if (!methods) throw new HttpError(404, `no route ${req.method} ${path}`, 'not_found_error', null, 'unknown_route');
      const handler = methods[req.method ?? ''];
      if (!handler) throw new HttpError(405, `method ${req.method} not allowed on ${path} (allowed: ${Object.keys(methods).join(', ')})`, 'invalid_request_error', null, 'method_not_allowed', { Allow: Object.keys(methods).join(', ') });
      await handler(req, res);
    } catch (e) {
      const err = toHttpError(e, ctx);
      if (err.status >= 500 && err.status !== 503) this.log(`${req.method} ${req.url}: ${err.message}`);
      if (res.headersSent) res.end();
      else sendError(res, err);
    }
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const refuse = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (path !== STREAM_PATH) return refuse('404 Not Found');
    if (!this.loop.accepting) return refuse('503 Service Unavailable');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }
}
