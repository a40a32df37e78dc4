// tknp's tokenizer against the cases recorded by transformers/tokenizers (docs/MODELS.md): the
// three fixtures' tokenizers (Llama 3 style, GPT-2 ByteLevel, Qwen2 with NFC) and the default
// model's. Ids identical with and without special tokens, decode identical with and without
// skipping specials, chat templates rendered to the same text and ids, and the incremental
// detokenizer: streamed deltas concatenate to the full decode and never carry U+FFFD for a
// character split across tokens.
import { describe, expect, it } from 'vitest';
import { IncrementalDetokenizer } from '../../src/tokenizer/detokenizer.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { Rng } from '../../src/util/rng.js';
import { DEFAULT_MODEL_DIR, FIXTURE_NAMES, loadDefaultReference, loadFixture, type TokenizerCase } from '../helpers/engine.js';

interface Suite {
  readonly name: string;
  readonly dir: string;
  readonly cases: TokenizerCase[];
  readonly prompts: { name: string; text: string; messages?: { role: string; content: string }[]; addSpecialTokens: boolean; ids: number[] }[];
  /** Generated id sequences (the references' greedy outputs): realistic streams, with partial characters. */
  readonly streams: number[][];
}

const REPLACEMENT = '\uFFFD';

const suites: Suite[] = [
  ...FIXTURE_NAMES.map((n) => {
    const fx = loadFixture(n);
    return { name: n, dir: fx.dir, cases: fx.tokenizerCases, prompts: fx.prompts, streams: fx.greedy.map((g) => g.ids) };
  }),
  (() => {
    const ref = loadDefaultReference();
    return {
      name: 'default',
      dir: DEFAULT_MODEL_DIR,
      cases: ref.tokenizerCases,
      prompts: ref.prompts.map((p) => ({ ...p, ids: p.promptIds })),
      streams: ref.prompts.map((p) => p.greedyIds),
    };
  })(),
];

/** Streams `ids` through an IncrementalDetokenizer; returns the deltas (flush last). */
function stream(tok: Tokenizer, ids: readonly number[], skipSpecialTokens = true): string[] {
  const d = new IncrementalDetokenizer(tok, skipSpecialTokens);
  const deltas = ids.map((id) => d.push(id));
  deltas.push(d.flush());
  expect(d.text).toBe(deltas.join(''));
  return deltas;
}

describe.each(suites)('tokenizer $name', (s) => {
  const tok = Tokenizer.load(s.dir);

  it.each(s.cases.map((c) => [JSON.stringify(c.text), c] as const))('encode/decode %s as transformers', (_, c) => {
    expect(tok.encode(c.text)).toEqual(c.ids);
    expect(tok.encode(c.text, { addSpecialTokens: false })).toEqual(c.idsNoSpecial);
    expect(tok.decode(c.idsNoSpecial, { skipSpecialTokens: false })).toBe(c.decoded);
    if (c.decodedSkipSpecial !== undefined) expect(tok.decode(c.idsNoSpecial, { skipSpecialTokens: true })).toBe(c.decodedSkipSpecial);
  });

  // @huggingface/tokenizers throws on an empty id list; transformers returns ''.
  it('decode([]) is the empty string, as in transformers', () => {
    expect(tok.decode([])).toBe('');
  });

  it.each(s.prompts.map((p) => [p.name, p] as const))('prompt %s: same ids (chat: same rendered template)', (_, p) => {
    if (p.messages) {
      expect(p.addSpecialTokens).toBe(false);
      expect(tok.applyChatTemplate(p.messages)).toBe(p.text);
      expect(tok.encodeChat(p.messages)).toEqual(p.ids);
    } else {
      expect(tok.encode(p.text, { addSpecialTokens: p.addSpecialTokens })).toEqual(p.ids);
    }
  });

  it('incremental detokenizer: deltas concatenate to the full decode; no U+FFFD for split characters', () => {
    let heldBack = 0;
    const sequences = [...s.cases.map((c) => c.idsNoSpecial).filter((ids) => ids.length > 0), ...s.streams];
    for (const ids of sequences) {
      for (const skip of [true, false]) {
        const full = tok.decode(ids, { skipSpecialTokens: skip });
        const deltas = stream(tok, ids, skip);
        expect(deltas.join(''), `stream of [${ids}] (skipSpecialTokens ${skip})`).toBe(full);
        // Text with no U+FFFD of its own never streams one: a character split across byte-level
        // tokens is held back until it completes, never emitted as U+FFFD then "fixed".
        if (!full.includes(REPLACEMENT)) for (const d of deltas) expect(d).not.toContain(REPLACEMENT);
        // The streamed text is always a prefix of the final text.
        let acc = '';
        for (const d of deltas) {
          acc += d;
          expect(full.startsWith(acc)).toBe(true);
        }
        heldBack += deltas.slice(0, -1).filter((d, i) => d === '' && tok.decode([ids[i]], { skipSpecialTokens: skip }) !== '').length;
      }
    }
    // The cases do exercise holding back (CJK and emoji are split into byte tokens).
    expect(heldBack).toBeGreaterThan(0);
  });

  it('incremental detokenizer: a multi-byte character split over byte tokens comes out whole, once', () => {
    for (const text of ['日本語のテキスト', 'emoji: 👍🏽 👨‍👩‍👧 🇩🇪 ❤️', 'naïve café']) {
      const ids = tok.encode(text, { addSpecialTokens: false });
      const deltas = stream(tok, ids);
      expect(deltas.join('')).toBe(text);
      for (const d of deltas) expect(d).not.toContain(REPLACEMENT);
      // Every delta ends on a complete UTF-16 character (no lone surrogate).
      for (const d of deltas) expect(d.length === 0 || !/[\uD800-\uDBFF]$/.test(d)).toBe(true);
    }
  });

  it('incremental detokenizer: random id streams (seeded) concatenate to the full decode', () => {
    const rng = new Rng(s.name.length * 7919);
    const vocab = tok.vocabSize;
    for (let trial = 0; trial < 20; trial++) {
      const ids = Array.from({ length: rng.int(1, 40) }, () => rng.int(0, vocab - 1));
      expect(stream(tok, ids).join(''), `[${ids}]`).toBe(tok.decode(ids));
    }
  });
});
