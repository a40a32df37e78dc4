// Reading an OpenAI-style request of `tknp serve` into what the engine runs: fields →
// SamplingParamsInput (request fields over server defaults; values are checked by the engine),
// `n`, logprobs, streaming options, and the prompts as token ids, validated the way vLLM does:
// message roles, token ids, and prompt + max_tokens against max_model_len (a request that asks
// for more is refused with 400; one that asks nothing gets its default capped to what is left).
// Fields tknp does not implement are refused with 400 unless they hold their neutral value.
import type { LLMEngine } from '../engine/llm_engine.js';
import { DEFAULT_MAX_TOKENS, type SamplingParamsInput } from '../engine/sampling_params.js';
import type { ChatMessage } from '../tokenizer/tokenizer.js';
import { fitToContext } from './context_length.js';
import { HttpError } from './http.js';

export type Body = Record<string, unknown>;
export type Kind = 'completion' | 'chat';

/** Most choices per prompt (`n`). */
export const MAX_N = 16;
/** Roles a chat message may have (OpenAI's and vLLM's). */
export const CHAT_ROLES: readonly string[] = ['system', 'developer', 'user', 'assistant', 'tool'];

/** snake_case request field → SamplingParamsInput field. */
export const SAMPLING_FIELDS: readonly (readonly [string, keyof SamplingParamsInput])[] = [
  ['max_tokens', 'maxTokens'],
  ['temperature', 'temperature'],
  ['top_p', 'topP'],
  ['top_k', 'topK'],
  ['seed', 'seed'],
  ['stop', 'stop'],
  ['min_tokens', 'minTokens'],
  ['stop_token_ids', 'stopTokenIds'],
  ['ignore_eos', 'ignoreEos'],
  ['presence_penalty', 'presencePenalty'],
  ['frequency_penalty', 'frequencyPenalty'],
  ['repetition_penalty', 'repetitionPenalty'],
];

/** Unimplemented fields and the test that they hold their neutral value. */
const NEUTRAL: Readonly<Record<string, (v: unknown) => boolean>> = {
  best_of: (v) => v === 1,
  echo: (v) => v === false,
  suffix: (v) => v === '',
  logit_bias: (v) => typeof v === 'object' && Object.keys(v as object).length === 0,
  tools: (v) => Array.isArray(v) && v.length === 0,
  functions: (v) => Array.isArray(v) && v.length === 0,
  response_format: (v) => typeof v === 'object' && (v as Body).type === 'text',
};

export interface GenerationRequest {
  readonly kind: Kind;
  /** One entry per prompt, tokenized. */
  readonly prompts: readonly (readonly number[])[];
  /** Choices per prompt. */
  readonly n: number;
  /** Per prompt: the parameters (maxTokens resolved against max_model_len). */
  readonly params: readonly SamplingParamsInput[];
  readonly stream: boolean;
  readonly includeUsage: boolean;
  /** Whether to return logprobs (and params' logprobs says how many top entries). */
  readonly logprobs: boolean;
}

const bad = (message: string, param: string | null = null, code: string | null = null) => new HttpError(400, message, 'invalid_request_error', param, code);

function optionalBool(body: Body, field: string, param = field): boolean | undefined {
  const v = body[field];
  if (v == null) return undefined;
  if (typeof v !== 'boolean') throw bad(`${param} must be a boolean`, param);
  return v;
}

function optionalInt(body: Body, field: string, min: number, max: number): number | undefined {
  const v = body[field];
  if (v == null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`${field} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`, field);
  return v;
}

/** Parses and validates a /v1/completions or /v1/chat/completions body for `engine`. */
export function parseGenerationRequest(kind: Kind, body: Body, engine: LLMEngine, defaults: SamplingParamsInput): GenerationRequest {
  for (const [field, neutral] of Object.entries(NEUTRAL)) {
    const v = body[field];
    if (v != null && !neutral(v)) throw bad(`${field}=${JSON.stringify(v)} is not supported by tknp`, field, 'unsupported_parameter');
  }
  const stream = optionalBool(body, 'stream') ?? false;
  const so = body.stream_options;
  if (so != null && (typeof so !== 'object' || Array.isArray(so))) throw bad('stream_options must be an object', 'stream_options');
  const includeUsage = so != null && optionalBool(so as Body, 'include_usage', 'stream_options.include_usage') === true;
  const n = optionalInt(body, 'n', 1, MAX_N) ?? 1;

  const p: Record<string, unknown> = { ...defaults };
  for (const [snake, camel] of SAMPLING_FIELDS) if (body[snake] != null) p[camel] = body[snake];
  if (kind === 'chat' && body.max_completion_tokens != null) p.maxTokens = body.max_completion_tokens;
  // Logprobs: completions `logprobs: k`; chat `logprobs: true` + `top_logprobs: k`.
  let logprobs = false;
  if (kind === 'completion') {
    const k = optionalInt(body, 'logprobs', 0, 20);
    if (k !== undefined) [logprobs, p.logprobs] = [true, k];
  } else {
    logprobs = optionalBool(body, 'logprobs') ?? false;
    const k = optionalInt(body, 'top_logprobs', 0, 20);
    if (k !== undefined && !logprobs) throw bad('top_logprobs needs logprobs: true', 'top_logprobs');
    if (logprobs) p.logprobs = k ?? 0;
  }
  const explicitMax = body.max_tokens != null || (kind === 'chat' && body.max_completion_tokens != null);
  const prompts = kind === 'chat' ? [chatPromptIds(body, engine)] : completionPromptIds(body, engine);
  const params = prompts.map((ids) => withMaxTokens(p as SamplingParamsInput, ids.length, explicitMax, kind, engine));
  return { kind, prompts, n, params, stream, includeUsage, logprobs };
}

/** Resolves maxTokens against max_model_len (context_length.ts): request value, else the default capped. */
function withMaxTokens(p: SamplingParamsInput, promptLen: number, explicit: boolean, kind: Kind, engine: LLMEngine): SamplingParamsInput {
  const maxLen = engine.executor.maxModelLen;
  const fallback = kind === 'chat' ? maxLen : typeof p.maxTokens === 'number' ? p.maxTokens : (engine.generationDefaults.maxTokens ?? DEFAULT_MAX_TOKENS);
  const maxTokens = fitToContext(promptLen, explicit ? p.maxTokens : undefined, fallback, maxLen, kind === 'chat' ? 'messages' : 'prompt');
  return { ...p, maxTokens: maxTokens as number };
}

/** Checks token ids against the vocabulary; `where` names the field for the message. */
function checkTokenIds(ids: readonly unknown[], vocab: number, where: string): number[] {
  ids.forEach((t, i) => {
    if (typeof t !== 'number' || !Number.isInteger(t)) throw bad(`${where}[${i}]: token id ${JSON.stringify(t)} is not an integer`, 'prompt');
    if (t < 0 || t >= vocab) throw bad(`${where}[${i}]: token id ${t} is outside the vocabulary (0..${vocab - 1})`, 'prompt');
  });
  if (ids.length === 0) throw bad(`${where} is empty`, 'prompt');
  return ids as number[];
}

/** `prompt`: a string, an array of strings, an array of token ids, or an array of such arrays. */
function completionPromptIds(body: Body, engine: LLMEngine): number[][] {
  const p = body.prompt;
  const vocab = engine.modelConfig.vocabSize;
  const wrong = () => bad('prompt must be a string, an array of strings, an array of token ids or an array of token-id arrays', 'prompt');
  const text = (s: string) => {
    const ids = engine.promptTokenIds(s);
    if (ids.length === 0) throw bad('prompt is empty', 'prompt');
    return ids;
  };
  if (typeof p === 'string') return [text(p)];
  if (!Array.isArray(p) || p.length === 0) throw wrong();
  if (p.every((x) => typeof x === 'string')) return (p as string[]).map(text);
  if (p.every((x) => typeof x === 'number')) return [checkTokenIds(p, vocab, 'prompt')];
  if (p.every((x) => Array.isArray(x) && x.every((t) => typeof t === 'number'))) return (p as number[][]).map((ids, i) => checkTokenIds(ids, vocab, `prompt[${i}]`));
  throw wrong();
}

/** The chat as prompt token ids (the model's chat template with the generation prompt). */
function chatPromptIds(body: Body, engine: LLMEngine): number[] {
  const m = body.messages;
  const wrong = (why: string) => bad(`messages: ${why}`, 'messages');
  if (!Array.isArray(m) || m.length === 0) throw wrong('must be a non-empty array');
  const messages: ChatMessage[] = m.map((x: unknown, i) => {
    if (x === null || typeof x !== 'object') throw wrong(`[${i}] must be an object`);
    const { role, content } = x as Body;
    if (typeof role !== 'string' || role === '') throw wrong(`[${i}].role must be a non-empty string`);
    if (!CHAT_ROLES.includes(role)) throw wrong(`[${i}].role ${JSON.stringify(role)} is not one of ${CHAT_ROLES.join(', ')}`);
    return { role, content: messageText(content, () => wrong(`[${i}].content must be a string, null or an array of text parts`)) };
  });
  if (!engine.tokenizer.hasChatTemplate) throw bad('this model has no chat template: use /v1/completions', 'messages');
  try {
    return engine.promptTokenIds({ messages });
  } catch (e) {
    throw wrong(`the chat template failed: ${(e as Error).message}`);
  }
}

function messageText(content: unknown, wrong: () => HttpError): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw wrong();
  return content
    .map((part: unknown) => {
      const x = part as Body | null;
      if (!x || x.type !== 'text' || typeof x.text !== 'string') throw wrong();
      return x.text;
    })
    .join('');
}
