// The arithmetic of `tknp bench perplexity`, on the CPU in float64: a token's negative log-likelihood
// from its row of logits (log-softmax), the windows a token stream splits into, and the summary
// (mean NLL over every predicted token, perplexity = exp of it). No GPU, no files: unit-tested on
// hand-worked values (test/bench/perplexity_math.test.ts).

/** Bad input to the perplexity benchmark (stream, window, ids, logits); names the file, field or position. */
export class PerplexityError extends Error {
  override readonly name = 'PerplexityError';
}

/**
 * -log softmax(row)[target] in float64, where row = logits[offset, offset + vocab): logSumExp(row) −
 * row[target], the sum taken after subtracting the row's maximum. Entries of −Infinity (ids masked
 * beyond the tokenizer's) weigh nothing; a target whose logit is −Infinity, or a row holding NaN or
 * +Infinity, is refused (`where` names it in the error).
 */
// logits: [rows, vocab] f32 (flat); offset: the row's first element
export function tokenNll(logits: ArrayLike<number>, offset: number, vocab: number, target: number, where = 'row'): number {
  if (!Number.isInteger(target) || target < 0 || target >= vocab) throw new PerplexityError(`${where}: target id ${target} is outside the logits' vocabulary [0, ${vocab})`);
  let max = -Infinity;
  for (let j = 0; j < vocab; j++) {
    const x = logits[offset + j];
    if (Number.isNaN(x) || x === Infinity) throw new PerplexityError(`${where}: logit of id ${j} is ${x}`);
    if (x > max) max = x;
  }
  const picked = logits[offset + target];
  if (picked === -Infinity) throw new PerplexityError(`${where}: target id ${target} has logit -Infinity (masked: beyond the tokenizer's ids)`);
  let sum = 0;
  for (let j = 0; j < vocab; j++) sum += Math.exp(logits[offset + j] - max);
  return max + Math.log(sum) - picked;
}

/** Where the windows of a stream start: floor((length − 1) / window) of them (capped by maxWindows), each window + 1 tokens. */
export interface WindowPlan {
  /** Tokens each window predicts (the prefill is `window` tokens; targets are the next `window`). */
  readonly window: number;
  /** Non-overlapping windows: window w is stream[w·window, (w + 1)·window + 1). */
  readonly windows: number;
  /** Predicted tokens: windows × window. */
  readonly tokens: number;
}

/**
 * The windows of a `length`-token stream, as tools/train_default_model.py's fixed_windows lays them out:
 * n = min(floor((length − 1) / window), maxWindows), window w = tokens [w·window, (w + 1)·window],
 * so consecutive windows share one token (the last target of one is the first input of the next).
 */
export function planWindows(length: number, window: number, maxWindows = Infinity): WindowPlan {
  if (!Number.isInteger(window) || window < 1) throw new PerplexityError(`window must be an integer >= 1, got ${window}`);
  if (maxWindows !== Infinity && (!Number.isInteger(maxWindows) || maxWindows < 1)) throw new PerplexityError(`maxWindows must be an integer >= 1, got ${maxWindows}`);
  const windows = Math.min(Math.floor((length - 1) / window), maxWindows);
  if (windows < 1) throw new PerplexityError(`a stream of ${length} tokens holds no window of ${window} + 1 tokens`);
  return { window, windows, tokens: windows * window };
}

export interface NllSummary {
  /** Predicted tokens. */
  readonly tokens: number;
  /** Mean negative log-likelihood per token (natural log, nats). */
  readonly meanNll: number;
  /** exp(meanNll). */
  readonly perplexity: number;
}

/** Mean NLL and perplexity of `tokens` predictions whose NLLs sum to `sumNll`. */
export function summarizeNll(sumNll: number, tokens: number): NllSummary {
  if (!Number.isInteger(tokens) || tokens < 1) throw new PerplexityError(`no tokens to summarize (${tokens})`);
  const meanNll = sumNll / tokens;
  return { tokens, meanNll, perplexity: Math.exp(meanNll) };
}

