// OpenAI's logprobs objects from the engine's per-token logprobs. A token's text is its own
// decoding (a token holding part of a multi-byte character shows U+FFFD; `bytes` in chat are
// that text's UTF-8). Completions: {tokens, token_logprobs, top_logprobs: [{token: logprob}],
// text_offset}; chat: {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}.
import type { TokenLogprobs } from '../engine/llm_engine.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

const bytesOf = (s: string) => [...Buffer.from(s, 'utf8')];

export class LogprobsFormatter {
  constructor(private readonly tokenizer: Tokenizer) {}

  private text(id: number): string {
    return this.tokenizer.decode([id]);
  }

  /** Completions: `offset` is the length of the choice's text before these tokens. */
  completion(ids: readonly number[], lps: readonly TokenLogprobs[], offset: number): CompletionLogprobs {
    const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    ids.forEach((id, i) => {
      const t = this.text(id);
      out.tokens.push(t);
      out.token_logprobs.push(lps[i].logprob);
      out.top_logprobs.push(Object.fromEntries(lps[i].top.map((e) => [this.text(e.tokenId), e.logprob])));
      out.text_offset.push(offset);
      offset += t.length;
    });
    return out;
  }

  chat(ids: readonly number[], lps: readonly TokenLogprobs[]): { content: ChatTokenLogprob[] } {
    return {
      content: ids.map((id, i) => {
        const t = this.text(id);
        return { token: t, logprob: lps[i].logprob, bytes: bytesOf(t), top_logprobs: lps[i].top.map((e) => ({ token: this.text(e.tokenId), logprob: e.logprob, bytes: bytesOf(this.text(e.tokenId)) })) };
      }),
    };
  }
}

/** Merges completions logprobs of consecutive outputs (non-streamed responses). */
export function concatCompletionLogprobs(parts: readonly CompletionLogprobs[]): CompletionLogprobs {
  return {
    tokens: parts.flatMap((p) => p.tokens),
    token_logprobs: parts.flatMap((p) => p.token_logprobs),
    top_logprobs: parts.flatMap((p) => p.top_logprobs),
    text_offset: parts.flatMap((p) => p.text_offset),
  };
}
