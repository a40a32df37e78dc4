// Who may use a `tknp serve`: the API key (--api-key / TKNP_API_KEY) and the browser origins
// (--allowed-origins). HTTP requests must carry `Authorization: Bearer KEY`; WebSocket upgrades
// carry it the way OpenAI's Realtime API takes it: that header (programs), or, since browsers
// cannot set headers on a WebSocket, a subprotocol `openai-insecure-api-key.KEY` offered next
// to a real one (e.g. `tknp`), which the server selects. `/`, its assets and `/health` stay open.
// Origins: a request that carries an Origin header (every browser POST and WebSocket) is served
// only when that origin is this server itself (same host and port, the host being an IP address,
// `localhost` or the name it listens on: a DNS-rebinding page is not same-origin) or one of the
// allowed origins ('*': any). CORS headers go to allowed cross-origin requests only, and their
// preflight (OPTIONS) is answered.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { HttpError } from './http.js';

export const API_KEY_PROTOCOL_PREFIX = 'openai-insecure-api-key.';

export interface AccessOptions {
  /** Required bearer token; undefined: no authentication. */
  readonly apiKey?: string;
  /** Cross-origin browser origins allowed (exact `scheme://host[:port]`), or ['*'] for any. */
  readonly allowedOrigins?: readonly string[];
  /** Host name the server listens on (counts as same-origin besides IPs and localhost). */
  readonly listenHost?: string;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export class AccessPolicy {
  private readonly keyDigest: Buffer | undefined;
  private readonly origins: ReadonlySet<string>;
  private readonly anyOrigin: boolean;

  constructor(private readonly o: AccessOptions = {}) {
    if (o.apiKey !== undefined && o.apiKey.length === 0) throw new RangeError('api key must not be empty');
    this.keyDigest = o.apiKey !== undefined ? digest(o.apiKey) : undefined;
    this.anyOrigin = (o.allowedOrigins ?? []).includes('*');
    this.origins = new Set((o.allowedOrigins ?? []).map((x) => x.replace(/\/+$/, '')));
  }

  get requiresKey(): boolean {
    return this.keyDigest !== undefined;
  }

  private keyMatches(key: string | undefined): boolean {
    if (!this.keyDigest) return true;
    return key !== undefined && timingSafeEqual(digest(key), this.keyDigest);
  }

  /** Throws HttpError 401 unless the request carries the API key as a bearer token. */
  checkKey(headers: IncomingHttpHeaders): void {
    if (!this.keyDigest) return;
    const m = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '');
    if (!this.keyMatches(m?.[1].trim())) {
      throw new HttpError(401, m ? 'Incorrect API key provided.' : 'Missing API key: send the header `Authorization: Bearer <key>`.', 'invalid_request_error', null, 'invalid_api_key', { 'WWW-Authenticate': 'Bearer' });
    }
  }

  /**
   * A WebSocket upgrade's key: the Authorization header or the `openai-insecure-api-key.KEY`
   * subprotocol. Throws HttpError 401 when neither matches.
   */
  checkUpgradeKey(req: IncomingMessage): void {
    if (!this.keyDigest) return;
    const offered = protocolsOf(req);
    const fromProtocol = offered.find((p) => p.startsWith(API_KEY_PROTOCOL_PREFIX));
    if (fromProtocol !== undefined && this.keyMatches(fromProtocol.slice(API_KEY_PROTOCOL_PREFIX.length))) return;
    if (req.headers.authorization !== undefined || fromProtocol === undefined) this.checkKey(req.headers);
    else throw new HttpError(401, 'Incorrect API key provided.', 'invalid_request_error', null, 'invalid_api_key');
  }

  /** The Origin header when it is neither absent nor this server itself (a cross-origin request). */
  private crossOrigin(req: IncomingMessage): string | undefined {
    const origin = req.headers.origin;
    if (origin === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return origin; // 'null' (sandboxed pages, files) and garbage are never same-origin
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const trustedName = isIP(host) !== 0 || host === 'localhost' || host === this.o.listenHost;
    return url.protocol === 'http:' && url.host === req.headers.host && trustedName ? undefined : origin;
  }

  /**
   * Throws HttpError 403 for a cross-origin request from an origin not allowed; returns the CORS
   * headers to add (allowed cross-origin requests only).
   */
  checkOrigin(req: IncomingMessage): Record<string, string> {
    const origin = this.crossOrigin(req);
    if (origin === undefined) return {};
    if (!this.anyOrigin && !this.origins.has(origin)) {
      throw new HttpError(403, `origin ${origin} is not allowed: serve the page from this server or start it with --allowed-origins`, 'invalid_request_error', null, 'origin_not_allowed');
    }
    return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
  }

  /** Headers answering an allowed CORS preflight (OPTIONS). */
  preflightHeaders(cors: Record<string, string>): Record<string, string> {
    return { ...cors, 'Access-Control-Allow-Methods': 'GET, POST, OPTIONS', 'Access-Control-Allow-Headers': 'Authorization, Content-Type', 'Access-Control-Max-Age': '600' };
  }
}

/** The subprotocols a WebSocket upgrade offers. */
export function protocolsOf(req: IncomingMessage): string[] {
  return (req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

/** The subprotocol to select: the first one offered that is not a key. */
export function selectProtocol(offered: Iterable<string>): string | false {
  for (const p of offered) if (!p.startsWith(API_KEY_PROTOCOL_PREFIX)) return p;
  return false;
}
