// HTTP plumbing of `tknp serve` over node:http: OpenAI-style errors, bounded JSON bodies, JSON
// replies and Server-Sent Events. No routing here (server.ts) and no API semantics (openai.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An HTTP failure with the OpenAI error body `{error: {message, type, param, code}}`. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly type = errorType(status),
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** OpenAI's error `type` for a status. */
function errorType(status: number): string {
  if (status === 404) return 'not_found_error';
  if (status === 503) return 'service_unavailable_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function errorBody(e: HttpError): OpenAIErrorBody {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

export const DEFAULT_MAX_BODY_BYTES = 1 << 20;

/**
 * Reads and parses a JSON object body. Throws HttpError 413 when it exceeds `limit` bytes
 * (the rest is drained up to 16 × limit so the client can read the reply, then the connection
 * is dropped), 400 when it is not a JSON object.
 */
export async function readJsonBody(req: IncomingMessage, limit = DEFAULT_MAX_BODY_BYTES): Promise<Record<string, unknown>> {
  const tooLarge = () => new HttpError(413, `request body exceeds ${limit} bytes`, 'invalid_request_error', null, 'request_too_large', { Connection: 'close' });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > 16 * limit) {
    req.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
      else if (size > 16 * limit) req.destroy();
    });
    req.on('end', resolve);
    req.on('error', reject);
    req.on('close', () => {
      if (size > limit) reject(tooLarge());
      else if (req.complete) resolve();
      else reject(new HttpError(400, 'request body incomplete: the client closed the connection'));
    });
  });
  if (size > limit) throw tooLarge();
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'request body must be a JSON object');
  return body as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, e: HttpError): void {
  sendJson(res, e.status, errorBody(e), e.headers);
}

/** Server-Sent Events: `data: <json>\n\n` per event, `data: [DONE]\n\n` at the end. */
export class SseWriter {
  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
  }

  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  send(event: unknown): void {
    if (this.open) this.res.write(`data: ${JSON.stringify(event)}\n\n`);
  }

  /** Writes `data: [DONE]` and ends the response. */
  end(): void {
    if (!this.open) return;
    this.res.write('data: [DONE]\n\n');
    this.res.end();
  }
}

/** Calls `onGone` once if the client disconnects before the response was fully sent. */
export function onClientGone(res: ServerResponse, onGone: () => void): void {
  if (res.req.socket.destroyed && !res.writableFinished) {
    onGone(); // gone already (while the body was parsed or the request queued)
    return;
  }
  res.once('close', () => {
    if (!res.writableFinished) onGone();
  });
}
