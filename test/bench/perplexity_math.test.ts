// The arithmetic of `tknp bench perplexity` (src/bench/perplexity_math.ts) against hand-worked values,
// and the token-stream files it reads (src/bench/token_stream.ts): sizes, ids, errors. No GPU.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { planWindows, PerplexityError, summarizeNll, tokenNll } from '../../src/bench/perplexity_math.js';
import { readTokenFile, tokenizeTextFile } from '../../src/bench/token_stream.js';
import { DEFAULT_MODEL_DIR, loadDefaultReference } from '../helpers/engine.js';

describe('tokenNll: -log softmax(row)[target] in float64', () => {
  it('two equal logits: ln 2 = 0.693147180559945', () => {
    expect(tokenNll([0, 0], 0, 2, 0)).toBeCloseTo(0.693147180559945, 14);
    expect(tokenNll([0, 0], 0, 2, 1)).toBeCloseTo(0.693147180559945, 14);
  });

  it('logits ln 1, ln 2, ln 5 (softmax 1/8, 2/8, 5/8): ln 8 = 2.079441541679836, ln 4 = 1.386294361119891, ln 1.6 = 0.470003629245736', () => {
    const row = [0, Math.LN2, Math.log(5)];
    expect(tokenNll(row, 0, 3, 0)).toBeCloseTo(2.079441541679836, 14);
    expect(tokenNll(row, 0, 3, 1)).toBeCloseTo(1.386294361119891, 14);
    expect(tokenNll(row, 0, 3, 2)).toBeCloseTo(0.470003629245736, 14);
  });

  it('is shift invariant where a naive exp overflows (logits + 1000)', () => {
    expect(tokenNll([1000, 1000 + Math.LN2, 1000 + Math.log(5)], 0, 3, 2)).toBeCloseTo(0.470003629245736, 12);
  });

  it('reads the row at `offset` of a flat [rows, vocab] array', () => {
    const flat = new Float32Array([9, -9, 0, 0, 5, 5]); // rows [9, -9], [0, 0], [5, 5]
    expect(tokenNll(flat, 2, 2, 1)).toBeCloseTo(0.693147180559945, 14);
    // Row 0: softmax(9, -9)[1] = 1 / (1 + e^18): NLL = ln(1 + e^18) = 18.000000015229979.
    expect(tokenNll(flat, 0, 2, 1)).toBeCloseTo(18.000000015229979, 12);
  });

  it('a uniform row over V ids: NLL ln V (V = 4096: 8.317766166719343)', () => {
    expect(tokenNll(new Float32Array(4096), 0, 4096, 1234)).toBeCloseTo(8.317766166719343, 12);
  });

  it('masked ids (-Infinity, past the tokenizer) weigh nothing; a masked target is refused', () => {
    expect(tokenNll([0, 0, -Infinity, -Infinity], 0, 4, 1)).toBeCloseTo(0.693147180559945, 14);
    expect(() => tokenNll([0, 0, -Infinity], 0, 3, 2, 'window 3, position 7')).toThrow(/window 3, position 7: target id 2 has logit -Infinity/);
  });

  it('refuses NaN or +Infinity logits and targets outside the row', () => {
    expect(() => tokenNll([0, NaN], 0, 2, 0)).toThrow(PerplexityError);
    expect(() => tokenNll([0, Infinity], 0, 2, 0)).toThrow(/logit of id 1 is Infinity/);
    expect(() => tokenNll([0, 0], 0, 2, 2)).toThrow(/target id 2 is outside the logits' vocabulary \[0, 2\)/);
    expect(() => tokenNll([0, 0], 0, 2, -1)).toThrow(PerplexityError);
  });
});

describe('planWindows: fixed_windows of tools/train_default_model.py', () => {
  it("the default model's held-out stream: 44,255 tokens in windows of 512 give 86 windows, 44,032 predictions", () => {
    expect(planWindows(44255, 512)).toEqual({ window: 512, windows: 86, tokens: 44032 });
  });

  it('a window needs window + 1 tokens; consecutive windows share one token', () => {
    expect(planWindows(1025, 512).windows).toBe(2);
    expect(planWindows(1024, 512).windows).toBe(1);
    expect(planWindows(513, 512).windows).toBe(1);
    expect(planWindows(10, 3)).toEqual({ window: 3, windows: 3, tokens: 9 });
  });

  it('maxWindows caps the count', () => {
    expect(planWindows(44255, 512, 4)).toEqual({ window: 512, windows: 4, tokens: 2048 });
    expect(planWindows(100, 512 / 8, 1000).windows).toBe(1);
  });

  it('refuses a stream without one window, and bad window or maxWindows values', () => {
    expect(() => planWindows(512, 512)).toThrow(/a stream of 512 tokens holds no window of 512 \+ 1 tokens/);
    expect(() => planWindows(100, 0)).toThrow(/window must be an integer >= 1, got 0/);
    expect(() => planWindows(100, 2.5)).toThrow(PerplexityError);
    expect(() => planWindows(100, 4, 0)).toThrow(/maxWindows must be an integer >= 1, got 0/);
  });
});

describe('summarizeNll', () => {
  it('mean NLL ln 4 over 3 tokens: perplexity 4', () => {
    const s = summarizeNll(3 * Math.log(4), 3);
    expect(s.tokens).toBe(3);
    expect(s.meanNll).toBeCloseTo(1.386294361119891, 14);
    expect(s.perplexity).toBeCloseTo(4, 12);
  });

  it("the default model's README: held-out loss 4.215 is perplexity 67.7", () => {
    expect(summarizeNll(4.215 * 86, 86).perplexity).toBeCloseTo(67.69, 2);
  });

  it('refuses zero tokens', () => {
    expect(() => summarizeNll(0, 0)).toThrow(/no tokens/);
  });
});

describe('token stream files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tknp-ppl-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, bytes: number[]) => {
    const path = join(dir, name);
    writeFileSync(path, Buffer.from(bytes));
    return path;
  };

  it('reads little-endian uint16 ids', () => {
    // 1, 0x0102 = 258, 4095 = 0x0fff
    expect([...readTokenFile(file('ok.u16', [1, 0, 2, 1, 0xff, 0x0f]), 4096)]).toEqual([1, 258, 4095]);
  });

  it('refuses an odd byte count, an id past the vocabulary and a missing file, naming the file', () => {
    expect(() => readTokenFile(file('odd.u16', [1, 0, 2]), 4096)).toThrow(/odd\.u16: 3 bytes is not a whole number of uint16 token ids/);
    expect(() => readTokenFile(file('big.u16', [1, 0, 0, 0x10]), 4096)).toThrow(/big\.u16: token 1 is id 4096, outside the model's vocabulary \(vocab_size 4096\)/);
    expect(() => readTokenFile(join(dir, 'none.u16'), 4096)).toThrow(/none\.u16: no such token file/);
  });

  it("tokenizes a text file with the model's tokenizer (BOS first, as it adds it)", () => {
    // models/default/reference.json, prompt "friend": transformers' ids of the same text.
    const friend = loadDefaultReference().prompts.find((p) => p.name === 'friend')!;
    const ids = tokenizeTextFile(file('t.txt', [...Buffer.from(friend.text)]), DEFAULT_MODEL_DIR, 4096);
    expect([...ids]).toEqual(friend.promptIds);
    expect(ids[0]).toBe(1); // <s>
  });
});
