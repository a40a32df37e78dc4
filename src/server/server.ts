// TknpServer: the HTTP server of `tknp serve`. Routes the OpenAI-compatible endpoints
// (openai.ts), /metrics (metrics.ts), the playground page at / (playground.ts), upgrades
// /v1/stream to WebSocket streaming (websocket.ts), checks API key and origins (access.ts), and
// runs the one EngineLoop every connection submits to. The server does not own the engine:
// whoever created it shuts it down after `close()` (or after `closed` resolved because the
// engine failed).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { basename } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { WebSocketServer } from 'ws';
import type { LLMEngine } from '../engine/llm_engine.js';
import type { SamplingParamsInput } from '../engine/sampling_params.js';
import { AccessPolicy } from './access.js';
import { EngineLoop } from './engine_loop.js';
import { DEFAULT_MAX_BODY_BYTES, errorBody, HttpError, readJsonBody, sendError, sendJson } from './http.js';
import { ServerMetrics } from './metrics.js';
import { handleGeneration, modelById, modelsList, toHttpError, type OpenAIContext } from './openai.js';
import { loadPlayground } from './playground.js';
import { PROMETHEUS_CONTENT_TYPE } from './prometheus.js';
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
  /** Bearer token every API request must carry (the page and /health stay open). */
  readonly apiKey?: string;
  /** Browser origins besides the server's own that may call the API ('*': any). */
  readonly allowedOrigins?: readonly string[];
  /** One log line per finished request (default true). */
  readonly logRequests?: boolean;
  /** Status lines (default: stderr). */
  readonly log?: (line: string) => void;
}

type Handler = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void> | void;
/** Routes open without the API key. */
const OPEN_ROUTES = new Set(['/', '/playground.css', '/playground.js', '/health']);
const MODEL_PREFIX = '/v1/models/';

export class TknpServer {
  private closing: Promise<void> | undefined;
  private resolveClosed: (failure: Error | undefined) => void = () => {};
  /** Resolves once the server stopped: with the engine's error when a failed engine stopped it. */
  readonly closed: Promise<Error | undefined>;
  readonly loop: EngineLoop;
  readonly metrics: ServerMetrics;
  private readonly access: AccessPolicy;
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
    const modelName = opts.modelName ?? basename(engine.config.model);
    this.metrics = new ServerMetrics(engine, modelName, opts.logRequests === false ? undefined : (l) => this.log(l));
    this.loop = new EngineLoop(engine, {
      onOutput: (o) => this.metrics.observe(o),
      onFatal: (e) => {
        this.log(`engine failed (${e.name}: ${e.message}); every request was failed with this reason; stopping the server`);
        void this.close();
      },
    });
    this.access = new AccessPolicy({ apiKey: opts.apiKey, allowedOrigins: opts.allowedOrigins, listenHost: opts.host });
    const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    const ctx: OpenAIContext = { loop: this.loop, modelName, defaults: opts.defaults ?? {} };
    const generation = (kind: 'completion' | 'chat'): Handler => async (req, res) => handleGeneration(kind, req, res, await readJsonBody(req, limit), ctx);
    const page: Handler = (_req, res, path) => {
      const a = assets.get(path)!;
      res.writeHead(200, { 'Content-Type': a.contentType, 'Content-Length': a.body.length, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' });
      res.end(a.body);
    };
    const assets = loadPlayground();
    this.routes = {
      ...Object.fromEntries([...assets.keys()].map((p) => [p, { GET: page }])),
      '/health': { GET: (_req, res) => (this.loop.accepting && !this.closing ? sendJson(res, 200, { status: 'ok' }) : sendError(res, toHttpError(null, ctx))) },
      '/metrics': { GET: (_req, res) => {
        const text = this.metrics.render();
        res.writeHead(200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      } },
      '/v1/models': { GET: (_req, res) => sendJson(res, 200, modelsList(ctx)) },
      [MODEL_PREFIX]: { GET: (_req, res, path) => sendJson(res, 200, modelById(ctx, decodeURIComponent(path.slice(MODEL_PREFIX.length)))) },
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
   * Stops accepting work (/health and new requests answer 503 from now on), aborts every request
   * (clients get their final 'abort' outputs), then stops listening, closes WebSockets, lets
   * responses in flight finish for graceMs and drops what is left.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.loop.stop();
      const closedHttp = new Promise<void>((resolve) => this.http.close(() => resolve()));
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

  /** The route of a path: exact, or /v1/models/{id}. */
  private route(path: string): Readonly<Record<string, Handler>> | undefined {
    return this.routes[path] ?? (path.startsWith(MODEL_PREFIX) && path.length > MODEL_PREFIX.length ? this.routes[MODEL_PREFIX] : undefined);
  }

  private async handle(req: IncomingMessage, res: ServerResponse, ctx: OpenAIContext): Promise<void> {
    // While closing, a keep-alive connection is dropped as soon as its response is done.
    res.once('finish', () => {
      if (this.closing) setImmediate(() => this.http.closeIdleConnections());
    });
    let cors: Record<string, string> = {};
    try {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const methods = this.route(path);
      if (!methods) throw new HttpError(404, `no route ${req.method} ${path}`, 'not_found_error', null, 'unknown_route');
      if (!OPEN_ROUTES.has(path)) {
        cors = this.access.checkOrigin(req);
        if (req.method === 'OPTIONS') {
          res.writeHead(204, this.access.preflightHeaders(cors));
          res.end();
          return;
        }
        this.access.checkKey(req.headers);
      }
      const handler = methods[req.method ?? ''];
      if (!handler) throw new HttpError(405, `method ${req.method} not allowed on ${path} (allowed: ${Object.keys(methods).join(', ')})`, 'invalid_request_error', null, 'method_not_allowed', { Allow: Object.keys(methods).join(', ') });
      for (const [k, v] of Object.entries(cors)) res.setHeader(k, v);
      await handler(req, res, path);
    } catch (e) {
      const err = toHttpError(e, ctx);
      if (err.status >= 500 && err.status !== 503) this.log(`${req.method} ${req.url}: ${err.message}`);
      if (res.headersSent) res.end();
      else sendJson(res, err.status, errorBody(err), { ...cors, ...err.headers });
    }
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const refuse = (status: number, text: string, e?: HttpError) => {
      const body = e ? JSON.stringify(errorBody(e)) : '';
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    };
    if (path !== STREAM_PATH) return refuse(404, 'Not Found');
    try {
      this.access.checkOrigin(req);
      this.access.checkUpgradeKey(req);
    } catch (e) {
      const err = e as HttpError;
      return refuse(err.status, err.status === 401 ? 'Unauthorized' : 'Forbidden', err);
    }
    if (!this.loop.accepting || this.closing) return refuse(503, 'Service Unavailable');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }
}
