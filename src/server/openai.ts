// OpenAI-compatible endpoints over the EngineLoop: POST /v1/completions, POST
// /v1/chat/completions (non-streamed JSON or SSE chunks ending in `data: [DONE]`), GET
// /v1/models and GET /v1/models/{id}. Requests are read by openai_request.ts; `n` choices of a
// prompt run as n engine requests (choice index = prompt index × n + j) whose random streams
// differ: copy j > 0 of a seeded request gets deriveSeed(seed, j), unseeded copies draw their own
// seeds. Engine errors become OpenAI errors naming the snake_case param, without internal ids.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PromptInput, RequestOutput } from '../engine/llm_engine.js';
import { deriveSeed, SamplingParamsError, type SamplingParamsInput } from '../engine/sampling_params.js';
import { ChatTemplateError } from '../loader/errors.js';
import { RequestError } from '../scheduler/request.js';
import { ContextLengthError } from './context_length.js';
import { EngineDeadError, type EngineLoop } from './engine_loop.js';
import { HttpError, onClientGone, sendJson, SseWriter } from './http.js';
import { concatCompletionLogprobs, LogprobsFormatter, type CompletionLogprobs, type ChatTokenLogprob } from './openai_logprobs.js';
import { parseGenerationRequest, SAMPLING_FIELDS, type Body, type Kind } from './openai_request.js';

export interface OpenAIContext {
  readonly loop: EngineLoop;
  /** The `id` of the one served model (requests naming another get 404). */
  readonly modelName: string;
  /** Server-wide sampling defaults (from `tknp serve` options); request fields override them. */
  readonly defaults: SamplingParamsInput;
}

const SNAKE = new Map<string, string>(SAMPLING_FIELDS.map(([s, c]) => [c, s]));
const STARTED = Math.floor(Date.now() / 1000);

function modelCard(ctx: OpenAIContext) {
  const e = ctx.loop.engine;
  return { id: ctx.modelName, object: 'model', created: STARTED, owned_by: 'tknp', root: e.config.model, max_model_len: e.executor.maxModelLen };
}

export function modelsList(ctx: OpenAIContext): unknown {
  return { object: 'list', data: [modelCard(ctx)] };
}

/** GET /v1/models/{id}: the model, or 404 model_not_found. */
export function modelById(ctx: OpenAIContext, id: string): unknown {
  if (id !== ctx.modelName) throw new HttpError(404, `The model \`${id}\` does not exist (this server serves \`${ctx.modelName}\`).`, 'not_found_error', 'model', 'model_not_found');
  return modelCard(ctx);
}

/** The parameters of copy `j` of a choice: a distinct random stream per copy. */
function copyParams(p: SamplingParamsInput, j: number): SamplingParamsInput {
  return j === 0 || p.seed == null || typeof p.seed !== 'number' ? p : { ...p, seed: deriveSeed(p.seed, j) };
}

/** POST /v1/completions and POST /v1/chat/completions: `body` is the parsed JSON request. */
export async function handleGeneration(kind: Kind, req: IncomingMessage, res: ServerResponse, body: Body, ctx: OpenAIContext): Promise<void> {
  if (!ctx.loop.accepting) throw new HttpError(503, describeDead(ctx));
  checkModel(body, ctx);
  let g;
  try {
    g = parseGenerationRequest(kind, body, ctx.loop.engine, ctx.defaults);
  } catch (e) {
    throw toHttpError(e, ctx);
  }
  const fmt = new LogprobsFormatter(ctx.loop.engine.tokenizer);
  const chat = kind === 'chat';
  const id = `${chat ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`;
  const created = Math.floor(Date.now() / 1000);
  const numChoices = g.prompts.length * g.n;
  const finals: (RequestOutput | undefined)[] = new Array<RequestOutput | undefined>(numChoices).fill(undefined);
  const lpParts: CompletionLogprobs[][] = Array.from({ length: numChoices }, () => []);
  const chatLps: ChatTokenLogprob[][] = Array.from({ length: numChoices }, () => []);
  const textLen = new Array<number>(numChoices).fill(0);
  const ids: string[] = [];
  let sse: SseWriter | undefined;
  let settle: (gone: boolean) => void = () => {};
  const settled = new Promise<boolean>((resolve) => (settle = resolve));

  const chunk = (choices: unknown[], usage?: unknown) => ({ id, object: chat ? 'chat.completion.chunk' : 'text_completion', created, model: ctx.modelName, choices, ...(usage ? { usage } : {}) });
  const onOutput = (index: number, o: RequestOutput) => {
    let lp: unknown = null;
    if (g.logprobs && o.logprobs && o.newTokenIds.length > 0) {
      if (chat) {
        const c = fmt.chat(o.newTokenIds, o.logprobs);
        chatLps[index].push(...c.content);
        lp = c;
      } else {
        const c = fmt.completion(o.newTokenIds, o.logprobs, textLen[index]);
        textLen[index] += c.tokens.reduce((a, t) => a + t.length, 0);
        lpParts[index].push(c);
        lp = c;
      }
    }
    if (sse && (o.delta !== '' || o.finished || lp) && o.finishReason !== 'error') {
      const finishReason = o.finished ? o.finishReason : null;
      sse.send(chunk([chat ? { index, delta: o.delta === '' ? {} : { content: o.delta }, logprobs: lp, finish_reason: finishReason } : { index, text: o.delta, logprobs: lp, finish_reason: finishReason }]));
    }
    if (!o.finished) return;
    finals[index] = o;
    if (finals.every((f) => f)) settle(false);
  };

  try {
    g.prompts.forEach((ids0, i) => {
      for (let j = 0; j < g.n; j++) {
        const index = i * g.n + j;
        ids.push(ctx.loop.submit({ promptTokenIds: ids0 }, copyParams(g.params[i], j), (o) => onOutput(index, o), chat ? 'chatcmpl' : 'cmpl'));
      }
    });
  } catch (e) {
    for (const rid of ids) ctx.loop.detach(rid);
    throw toHttpError(e, ctx);
  }
  let gone = false;
  onClientGone(res, () => {
    gone = true;
    for (const rid of ids) ctx.loop.detach(rid);
    settle(true);
  });
  if (g.stream && !gone) {
    sse = new SseWriter(res);
    if (chat) sse.send(chunk(finals.map((_, index) => ({ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }))));
  }

  if (await settled) return; // the client went away; its requests were aborted
  const done = finals as RequestOutput[];
  const failed = done.find((o) => o.finishReason === 'error');
  // A prompt's tokens count once, however many choices it has (as OpenAI counts).
  const promptTokens = g.prompts.reduce((a, p) => a + p.length, 0);
  const completionTokens = done.reduce((a, o) => a + o.tokenIds.length, 0);
  // Prompt tokens whose KV came from the prefix cache (OpenAI's prompt_tokens_details.cached_tokens), per prompt once.
  const cachedTokens = g.prompts.reduce((a, _p, i) => a + done[i * g.n].numCachedTokens, 0);
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens, prompt_tokens_details: { cached_tokens: cachedTokens } };
  if (sse) {
    if (failed) sse.send({ error: outputError(failed, ctx) });
    else if (g.includeUsage) sse.send(chunk([], usage));
    sse.end();
    return;
  }
  if (failed) throw new HttpError(ctx.loop.failure ? 503 : 500, outputError(failed, ctx).message);
  const choices = done.map((o, index) =>
    chat
      ? { index, message: { role: 'assistant', content: o.text }, logprobs: g.logprobs ? { content: chatLps[index] } : null, finish_reason: o.finishReason }
      : { index, text: o.text, logprobs: g.logprobs ? concatCompletionLogprobs(lpParts[index]) : null, finish_reason: o.finishReason },
  );
  sendJson(res, 200, { id, object: chat ? 'chat.completion' : 'text_completion', created, model: ctx.modelName, choices, usage });
}

/** Maps the engine's named errors onto HTTP errors (400 bad input, 503 engine gone, 500 otherwise). */
export function toHttpError(e: unknown, ctx?: OpenAIContext): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof SamplingParamsError) {
    const camel = e.field.replace(/\[\d+\]$/, '');
    return new HttpError(400, e.message, 'invalid_request_error', SNAKE.get(camel) ?? e.field, 'invalid_parameter');
  }
  if (e instanceof ContextLengthError) return new HttpError(400, e.message, 'invalid_request_error', e.param, 'context_length_exceeded');
  if (e instanceof RequestError) return new HttpError(400, e.message, 'invalid_request_error', null, 'invalid_request');
  // The template raised (raise_exception on a malformed conversation), ran too long or too big.
  if (e instanceof ChatTemplateError) return new HttpError(400, e.message, 'invalid_request_error', 'messages', 'invalid_request');
  if (e instanceof EngineDeadError) return new HttpError(503, e.message);
  if (ctx && !ctx.loop.accepting) return new HttpError(503, describeDead(ctx));
  const err = e as Error;
  return new HttpError(500, `${err?.name ?? 'Error'}: ${err?.message ?? String(e)}`);
}

function describeDead(ctx: OpenAIContext): string {
  const f = ctx.loop.failure;
  return f ? `the engine failed: ${f.name}: ${f.message}` : 'the server is shutting down';
}

function outputError(o: RequestOutput, ctx: OpenAIContext) {
  const status = ctx.loop.failure ? 503 : 500;
  const e = new HttpError(status, `request failed: ${o.error ?? 'unknown error'}`);
  return { message: e.message, type: e.type, param: null, code: null };
}

function checkModel(body: Body, ctx: OpenAIContext): void {
  const m = body.model;
  if (m == null) return;
  if (typeof m !== 'string') throw new HttpError(400, 'model must be a string', 'invalid_request_error', 'model');
  if (m !== ctx.modelName) throw new HttpError(404, `The model \`${m}\` does not exist (this server serves \`${ctx.modelName}\`).`, 'not_found_error', 'model', 'model_not_found');
}
