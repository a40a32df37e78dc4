// Incremental detokenization for streaming: each new token yields only the text it adds,
// and never half of a multi-byte UTF-8 character (a byte-level BPE token can end mid-
// character; the text is held back until the character completes). Same scheme as vLLM:
// decode a short window of recent tokens twice and emit the difference.
import type { Tokenizer } from './tokenizer.js';

const REPLACEMENT = '\uFFFD';

export class IncrementalDetokenizer {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;
  /** All text emitted so far. */
  text = '';

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly skipSpecialTokens = true,
  ) {}

  /** Appends one token; returns the new text it completes (possibly ''). */
  push(tokenId: number): string {
    this.ids.push(tokenId);
    const prefix = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const full = this.decode(this.ids.slice(this.prefixOffset));
    if (full.length > prefix.length && !full.endsWith(REPLACEMENT)) {
      const delta = full.slice(prefix.length);
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      this.text += delta;
      return delta;
    }
    return '';
  }

  /** Text still held back at the end of generation (an incomplete character becomes U+FFFD). */
  flush(): string {
    const prefix = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const full = this.decode(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.ids.length;
    const delta = full.length > prefix.length ? full.slice(prefix.length) : '';
    this.text += delta;
    return delta;
  }

  private decode(ids: number[]): string {
    return ids.length ? this.tokenizer.decode(ids, { skipSpecialTokens: this.skipSpecialTokens }) : '';
  }
}
