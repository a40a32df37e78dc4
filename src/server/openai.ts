// OpenAI-compatible endpoints over the EngineLoop: POST /v1/completions, POST
// /v1/chat/completions (non-streamed JSON or SSE chunks ending in `data: [DONE]`) and GET
// /v1/models. Request fields map onto SamplingParamsInput (max_tokens → maxTokens, top_p →
// topP, plus vLLM's top_k, min_tokens, stop_token_ids, ignore_eos); validation is the engine's
// (SamplingParamsError, RequestError), reported as OpenAI errors naming the snake_case param.
// Fields tknp does not implement are refused with 400 unless they hold their neutral value.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PromptInput, RequestOutput } from '../engine/llm_engine.js';
import { SamplingParamsError, type SamplingParamsInput } from '../engine/sampling_params.js';
import { ChatTemplateError } from '../loader/errors.js';
import { RequestError } from '../scheduler/request.js';
import type { ChatMessage } from '../tokenizer/tokenizer.js';
import { EngineDeadError, type EngineLoop } from './engine_loop.js';
import { HttpError, onClientGone, sendJson, SseWriter } from './http.js';

export interface OpenAIContext {
  readonly loop: EngineLoop;
  /** The `id` of the one served model (requests naming another get 404). */
  readonly modelName: string;
  /** Server-wide sampling defaults (from `tknp serve` options); request fields override them. */
  readonly defaults: SamplingParamsInput;
}

type Body = Record<string, unknown>;
type Kind = 'completion' | 'chat';

/** snake_case request field → SamplingParamsInput field. */
const SAMPLING_FIELDS: readonly (readonly [string, keyof SamplingParamsInput])[] = [
  ['max_tokens', 'maxTokens'],
  ['temperature', 'temperature'],
  ['top_p', 'topP'],
  ['top_k', 'topK'],
  ['seed', 'seed'],
  ['stop', 'stop'],
  ['min_tokens', 'minTokens'],
  ['stop_token_ids', 'stopTokenIds'],
  ['ignore_eos', 'ignoreEos'],
];
const SNAKE = new Map<string, string>(SAMPLING_FIELDS.map(([s, c]) => [c, s]));

/** Unimplemented fields and the test that they hold their neutral value. */
const NEUTRAL: Readonly<Record<string, (v: unknown) => boolean>> = {
  n: (v) => v === 1,
  best_of: (v) => v === 1,
  echo: (v) => v === false,
  logprobs: (v) => v === false || v === 0,
  top_logprobs: (v) => v === 0,
  suffix: (v) => v === '',
  presence_penalty: (v) => v === 0,
  frequency_penalty: (v) => v === 0,
  repetition_penalty: (v) => v === 1,
  logit_bias: (v) => typeof v === 'object' && Object.keys(v as object).length === 0,
  tools: (v) => Array.isArray(v) && v.length === 0,
  functions: (v) => Array.isArray(v) && v.length === 0,
  response_format: (v) => typeof v === 'object' && (v as Body).type === 'text',
};

export function modelsList(ctx: OpenAIContext): unknown {
  const e = ctx.loop.engine;
  return {
    object: 'list',
    data: [{ id: ctx.modelName, object: 'model', created: STARTED, owned_by: 'tknp', root: e.config.model, max_model_len: e.executor.maxModelLen }],
  };
}
const STARTED = Math.floor(Date.now() / 1000);

/** POST /v1/completions and POST /v1/chat/completions: `body` is the parsed JSON request. */
export async function handleGeneration(kind: Kind, req: IncomingMessage, res: ServerResponse, body: Body, ctx: OpenAIContext): Promise<void> {
  if (!ctx.loop.accepting) throw new HttpError(503, describeDead(ctx));
  checkModel(body, ctx);
  for (const [field, neutral] of Object.entries(NEUTRAL)) {
    const v = body[field];
    if (v != null && !neutral(v)) throw new HttpError(400, `${field}=${JSON.stringify(v)} is not supported by tknp`, 'invalid_request_error', field, 'unsupported_parameter');
  }
  const stream = optionalBool(body, 'stream') ?? false;
  const so = body.stream_options;
  if (so != null && (typeof so !== 'object' || Array.isArray(so))) throw new HttpError(400, 'stream_options must be an object', 'invalid_request_error', 'stream_options');
  const includeUsage = so != null && optionalBool(so as Body, 'include_usage', 'stream_options.include_usage') === true;
  const params = samplingInput(body, ctx.defaults, kind);
  const prompts = kind === 'chat' ? [chatPrompt(body, ctx)] : completionPrompts(body);

  const engine = ctx.loop.engine;
  const maxModelLen = engine.executor.maxModelLen;
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`;
  const created = Math.floor(Date.now() / 1000);
  const finals: (RequestOutput | undefined)[] = prompts.map(() => undefined);
  const ids: string[] = [];
  let sse: SseWriter | undefined;
  let settle: (gone: boolean) => void = () => {};
  const settled = new Promise<boolean>((resolve) => (settle = resolve));

  const chunk = (choices: unknown[], usage?: unknown) => ({ id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: ctx.modelName, choices, ...(usage ? { usage } : {}) });
  const onOutput = (index: number, o: RequestOutput) => {
    if (sse && (o.delta !== '' || o.finished) && o.finishReason !== 'error') {
      const finishReason = o.finished ? o.finishReason : null;
      sse.send(chunk([kind === 'chat' ? { index, delta: o.delta === '' ? {} : { content: o.delta }, logprobs: null, finish_reason: finishReason } : { index, text: o.delta, logprobs: null, finish_reason: finishReason }]));
    }
    if (!o.finished) return;
    finals[index] = o;
    if (finals.every((f) => f)) settle(false);
  };

  try {
    prompts.forEach((p, index) => {
      let sp = params;
      if (kind === 'chat' && params.maxTokens == null) sp = { ...params, maxTokens: Math.max(1, maxModelLen - (p as { promptTokenIds: number[] }).promptTokenIds.length) };
      ids.push(ctx.loop.submit(p, sp, (o) => onOutput(index, o), kind === 'chat' ? 'chatcmpl' : 'cmpl'));
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
  if (stream && !gone) {
    sse = new SseWriter(res);
    if (kind === 'chat') sse.send(chunk(prompts.map((_, index) => ({ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }))));
  }

  if (await settled) return; // the client went away; its requests were aborted
  const done = finals as RequestOutput[];
  const failed = done.find((o) => o.finishReason === 'error');
  const promptTokens = done.reduce((n, o) => n + o.promptTokenIds.length, 0);
  const completionTokens = done.reduce((n, o) => n + o.tokenIds.length, 0);
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  if (sse) {
    if (failed) sse.send({ error: outputError(failed, ctx) });
    else if (includeUsage) sse.send(chunk([], usage));
    sse.end();
    return;
  }
  if (failed) throw new HttpError(ctx.loop.failure ? 503 : 500, outputError(failed, ctx).message);
  const choices = done.map((o, index) =>
    kind === 'chat'
      ? { index, message: { role: 'assistant', content: o.text }, logprobs: null, finish_reason: o.finishReason }
      : { index, text: o.text, logprobs: null, finish_reason: o.finishReason },
  );
  sendJson(res, 200, { id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created, model: ctx.modelName, choices, usage });
}

/** Maps the engine's named errors onto HTTP errors (400 bad input, 503 engine gone, 500 otherwise). */
export function toHttpError(e: unknown, ctx?: OpenAIContext): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof SamplingParamsError) {
    const camel = e.field.replace(/\[\d+\]$/, '');
    return new HttpError(400, e.message, 'invalid_request_error', SNAKE.get(camel) ?? e.field, 'invalid_parameter');
  }
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

function optionalBool(body: Body, field: string, param = field): boolean | undefined {
  const v = body[field];
  if (v == null) return undefined;
  if (typeof v !== 'boolean') throw new HttpError(400, `${param} must be a boolean`, 'invalid_request_error', param);
  return v;
}

/** Server defaults overridden by the request's fields (null = absent); values are checked by the engine. */
function samplingInput(body: Body, defaults: SamplingParamsInput, kind: Kind): SamplingParamsInput {
  const p: Record<string, unknown> = { ...defaults };
  for (const [snake, camel] of SAMPLING_FIELDS) if (body[snake] != null) p[camel] = body[snake];
  if (kind === 'chat' && body.max_completion_tokens != null) p.maxTokens = body.max_completion_tokens;
  return p as SamplingParamsInput;
}

/** `prompt`: a string, an array of strings, an array of token ids, or an array of such arrays. */
function completionPrompts(body: Body): PromptInput[] {
  const p = body.prompt;
  const bad = () => new HttpError(400, 'prompt must be a string, an array of strings, an array of token ids or an array of token-id arrays', 'invalid_request_error', 'prompt');
  if (typeof p === 'string') return [p];
  if (!Array.isArray(p) || p.length === 0) throw bad();
  if (p.every((x) => typeof x === 'string')) return p as string[];
  if (p.every((x) => typeof x === 'number')) return [{ promptTokenIds: p as number[] }];
  if (p.every((x) => Array.isArray(x) && x.every((t) => typeof t === 'number'))) return (p as number[][]).map((ids) => ({ promptTokenIds: ids }));
  throw bad();
}

/** The chat as prompt token ids (the model's chat template with the generation prompt). */
function chatPrompt(body: Body, ctx: OpenAIContext): { promptTokenIds: number[] } {
  const m = body.messages;
  const bad = (why: string) => new HttpError(400, `messages: ${why}`, 'invalid_request_error', 'messages');
  if (!Array.isArray(m) || m.length === 0) throw bad('must be a non-empty array');
  const messages: ChatMessage[] = m.map((x: unknown, i) => {
    if (x === null || typeof x !== 'object') throw bad(`[${i}] must be an object`);
    const { role, content } = x as Body;
    if (typeof role !== 'string' || role === '') throw bad(`[${i}].role must be a non-empty string`);
    return { role, content: messageText(content, () => bad(`[${i}].content must be a string, null or an array of text parts`)) };
  });
  const tokenizer = ctx.loop.engine.tokenizer;
  if (!tokenizer.hasChatTemplate) throw new HttpError(400, `model ${ctx.modelName} has no chat template: use /v1/completions`, 'invalid_request_error', 'messages');
  try {
    return { promptTokenIds: ctx.loop.engine.promptTokenIds({ messages }) };
  } catch (e) {
    throw bad(`the chat template failed: ${(e as Error).message}`);
  }
}

function messageText(content: unknown, bad: () => HttpError): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw bad();
  return content
    .map((part: unknown) => {
      const p = part as Body | null;
      if (!p || p.type !== 'text' || typeof p.text !== 'string') throw bad();
      return p.text;
    })
    .join('');
}
