// WebSocket token streaming at /v1/stream (package `ws`). One JSON message per frame:
//   client → server  {type:'generate', id?, prompt | promptTokenIds | messages, params?: SamplingParamsInput}
//                    {type:'abort', id}
//   server → client  {type:'token', id, delta, tokenIds, logprobs?}  one per step that added text or tokens
//                    {type:'done', id, finishReason, text, usage: {promptTokens, completionTokens}, error?}
//                    {type:'error', id?, error: {name, message, field?}}
// Several requests per socket, interleaved; a client id (string or number, unique among the
// socket's unfinished requests; default: 'gen-<n>') names each. Bad input is answered with an
// error message naming the engine's error (SamplingParamsError, RequestError, ...) or
// ProtocolError and disturbs nothing else. Closing the socket aborts its requests (KV freed at
// once). An abort for an id that is not running (e.g. already done) is ignored. A message over the
// size limit gets an error message, then the socket is closed with 1009. The same context-length
// rule as the HTTP API applies (context_length.ts): maxTokens must fit maxModelLen with the prompt.
import type { IncomingMessage } from 'node:http';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { LLMEngine, PromptInput, RequestOutput } from '../engine/llm_engine.js';
import { DEFAULT_MAX_TOKENS, type SamplingParamsInput } from '../engine/sampling_params.js';
import { RequestError } from '../scheduler/request.js';
import type { ChatMessage } from '../tokenizer/tokenizer.js';
import { selectProtocol } from './access.js';
import { fitToContext } from './context_length.js';
import type { EngineLoop } from './engine_loop.js';
import { DEFAULT_MAX_BODY_BYTES } from './http.js';
import { CHAT_ROLES } from './openai_request.js';

/** A message that is not valid JSON, not an object, or of an unknown type or shape. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

export const STREAM_PATH = '/v1/stream';
/** A client that leaves this much unsent output unread is dropped (its requests are aborted). */
const MAX_BUFFERED_BYTES = 64 << 20;
const GENERATE_FIELDS = new Set(['type', 'id', 'prompt', 'promptTokenIds', 'messages', 'params']);

type ClientId = string | number;
type Message = Record<string, unknown>;

/**
 * A WebSocketServer (no listening socket of its own) whose connections stream from `loop`.
 * Messages over `maxPayload` bytes get an error message before the close (1009); `ws` itself cuts
 * off only messages 16 times larger. The selected subprotocol is the first offered that is not an
 * API key (access.ts).
 */
export function createStreamServer(loop: EngineLoop, maxPayload = DEFAULT_MAX_BODY_BYTES): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * maxPayload, handleProtocols: (offered) => selectProtocol(offered) });
  wss.on('connection', (ws: WebSocket, _req: IncomingMessage) => serveConnection(ws, loop, maxPayload));
  return wss;
}

/** Runs the protocol on one socket. */
export function serveConnection(ws: WebSocket, loop: EngineLoop, maxPayload = DEFAULT_MAX_BODY_BYTES): void {
  const live = new Map<string, string>(); // String(client id) → engine request id
  let nextAuto = 0;

  const send = (msg: unknown) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      ws.terminate();
      return;
    }
    ws.send(JSON.stringify(msg));
  };
  const sendError = (e: unknown, id?: ClientId) => {
    const err = e instanceof Error ? e : new Error(String(e));
    const field = (err as { field?: unknown }).field;
    send({ type: 'error', ...(id !== undefined ? { id } : {}), error: { name: err.name, message: err.message, ...(typeof field === 'string' ? { field } : {}) } });
  };

  const generate = (msg: Message) => {
    for (const k of Object.keys(msg)) if (!GENERATE_FIELDS.has(k)) throw new ProtocolError(`generate: unknown field ${JSON.stringify(k)}`);
    let id = msg.id as ClientId | undefined;
    if (id === undefined) {
      do id = `gen-${nextAuto++}`;
      while (live.has(id));
    }
    const key = String(id);
    if (live.has(key)) throw new RequestError(`request ${JSON.stringify(id)} already exists on this connection`);
    const clientId = id;
    const prompt = { promptTokenIds: loop.engine.promptTokenIds(promptOf(msg)) };
    const params = fitParams(loop.engine, prompt.promptTokenIds.length, msg.params);
    const requestId = loop.submit(prompt, params, (o: RequestOutput) => {
      if (o.delta !== '' || o.newTokenIds.length > 0) send({ type: 'token', id: clientId, delta: o.delta, tokenIds: o.newTokenIds, ...(o.logprobs ? { logprobs: wsLogprobs(loop.engine, o) } : {}) });
      if (!o.finished) return;
      live.delete(key);
      const error = o.error !== undefined ? { error: { name: loop.failure ? 'EngineDeadError' : 'RequestError', message: o.error } } : {};
      send({ type: 'done', id: clientId, finishReason: o.finishReason, text: o.text, usage: { promptTokens: o.promptTokenIds.length, completionTokens: o.tokenIds.length }, ...error });
    }, 'ws');
    live.set(key, requestId);
  };

  ws.on('message', (data: RawData, isBinary: boolean) => {
    const size = Array.isArray(data) ? data.reduce((a, b) => a + b.length, 0) : (data as Buffer | ArrayBuffer).byteLength;
    if (size > maxPayload) {
      sendError(new ProtocolError(`message of ${size} bytes exceeds the limit of ${maxPayload} bytes`));
      ws.close(1009, 'message too big');
      return;
    }
    let msg: Message;
    try {
      if (isBinary) throw new ProtocolError('binary frames are not supported: send JSON text');
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.toString());
      } catch (e) {
        throw new ProtocolError(`message is not valid JSON: ${(e as Error).message}`);
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ProtocolError('message must be a JSON object');
      msg = parsed as Message;
    } catch (e) {
      sendError(e);
      return;
    }
    const id = msg.id;
    const validId = id === undefined || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
    try {
      if (!validId) throw new ProtocolError('id must be a string or a number');
      if (msg.type === 'generate') generate(msg);
      else if (msg.type === 'abort') {
        if (id === undefined) throw new ProtocolError('abort: id is required');
        const requestId = live.get(String(id));
        if (requestId !== undefined) loop.abort(requestId);
      } else throw new ProtocolError(`unknown message type ${JSON.stringify(msg.type)} (expected 'generate' or 'abort')`);
    } catch (e) {
      sendError(e, validId ? (id as ClientId | undefined) : undefined);
    }
  });

  ws.on('close', () => {
    for (const requestId of live.values()) loop.detach(requestId);
    live.clear();
  });
  ws.on('error', () => ws.terminate());
}

/** Exactly one of prompt (string), promptTokenIds (number[]) or messages ({role, content}[]). */
function promptOf(msg: Message): PromptInput {
  const given = (['prompt', 'promptTokenIds', 'messages'] as const).filter((k) => msg[k] !== undefined);
  if (given.length !== 1) throw new RequestError(`generate needs exactly one of prompt, promptTokenIds, messages (got ${given.length ? given.join(', ') : 'none'})`);
  const { prompt, promptTokenIds, messages } = msg;
  if (prompt !== undefined) {
    if (typeof prompt !== 'string') throw new RequestError('prompt must be a string');
    return prompt;
  }
  if (promptTokenIds !== undefined) {
    if (!Array.isArray(promptTokenIds)) throw new RequestError('promptTokenIds must be an array of token ids');
    return { promptTokenIds: promptTokenIds as number[] };
  }
  if (!Array.isArray(messages) || messages.length === 0) throw new RequestError('messages must be a non-empty array of {role, content}');
  messages.forEach((m: unknown, i) => {
    const { role, content } = (m ?? {}) as Message;
    if (typeof role !== 'string' || typeof content !== 'string') throw new RequestError(`messages[${i}] must be {role: string, content: string}`);
    if (!CHAT_ROLES.includes(role)) throw new RequestError(`messages[${i}].role ${JSON.stringify(role)} is not one of ${CHAT_ROLES.join(', ')}`);
  });
  return { messages: messages as ChatMessage[] };
}

/** The request's parameters with maxTokens fitted to the model's context (context_length.ts). */
function fitParams(engine: LLMEngine, promptLen: number, raw: unknown = {}): SamplingParamsInput {
  // Not an object: the engine's validation names it (SamplingParamsError).
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw as SamplingParamsInput;
  const p = raw as SamplingParamsInput;
  const fallback = engine.generationDefaults.maxTokens ?? DEFAULT_MAX_TOKENS;
  return { ...p, maxTokens: fitToContext(promptLen, p.maxTokens ?? undefined, fallback, engine.executor.maxModelLen, 'prompt') as number };
}

/** A token message's logprobs: per new token its logprob and the top entries (id, text, logprob). */
function wsLogprobs(engine: LLMEngine, o: RequestOutput) {
  const text = (id: number) => engine.tokenizer.decode([id]);
  return o.logprobs!.map((lp) => ({ logprob: lp.logprob, top: lp.top.map((t) => ({ tokenId: t.tokenId, token: text(t.tokenId), logprob: t.logprob })) }));
}
