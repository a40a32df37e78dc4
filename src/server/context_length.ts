// vLLM's rule for a request's length: prompt + max_tokens must fit max_model_len. An explicit
// max_tokens that does not fit is refused; a default one is capped to what is left; a prompt that
// leaves no room for one token is refused. Shared by the HTTP API and the WebSocket protocol.
/** A request that cannot fit the model's context; `param` is the OpenAI field to blame. */
export class ContextLengthError extends Error {
  override readonly name = 'ContextLengthError';
  constructor(
    message: string,
    readonly param: 'max_tokens' | 'prompt' | 'messages',
  ) {
    super(message);
  }
}

/**
 * The max_tokens to run with. `asked`: the request's own value (undefined: none; a bad value is
 * passed through for the engine's validation to name); `fallback`: the default when none.
 */
export function fitToContext(promptLen: number, asked: unknown, fallback: number, maxModelLen: number, what: 'prompt' | 'messages'): unknown {
  const left = maxModelLen - promptLen;
  if (left < 1) {
    throw new ContextLengthError(
      `This model's maximum context length is ${maxModelLen} tokens. However, your ${what} has ${promptLen} tokens, which leaves no room for the completion. Please reduce the length of the ${what}.`,
      what,
    );
  }
  if (asked === undefined) return Math.min(fallback, left);
  if (typeof asked === 'number' && Number.isInteger(asked) && asked >= 1 && promptLen + asked > maxModelLen) {
    throw new ContextLengthError(
      `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${promptLen + asked} tokens (${promptLen} in the ${what}, ${asked} in the completion). Please reduce the length of the ${what} or completion.`,
      'max_tokens',
    );
  }
  return asked;
}
