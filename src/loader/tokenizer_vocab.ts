// The token ids a tokenizer.json can produce: one past the largest id of its model's vocabulary
// (a token → id map, or Unigram's [piece, score] list whose ids are the indices) and of its
// added tokens. The engine checks it against config.json's vocab_size, and the runner confines
// sampling to it when it is smaller (vocabularies padded for the GPU, as Qwen2's are).
import { join } from 'node:path';
import { exists, MAX_TOKENIZER_JSON_BYTES, readJsonObject } from './model_files.js';

/** One past the largest token id of a parsed tokenizer.json (0 when it has none). */
export function tokenizerIdLimit(json: Readonly<Record<string, unknown>>): number {
  let max = -1;
  const vocab = (json.model as { vocab?: unknown } | null | undefined)?.vocab;
  if (Array.isArray(vocab)) max = vocab.length - 1;
  else if (vocab && typeof vocab === 'object') for (const id of Object.values(vocab)) if (typeof id === 'number' && id > max) max = id;
  const added = Array.isArray(json.added_tokens) ? json.added_tokens : [];
  for (const t of added) {
    const id = (t as { id?: unknown } | null)?.id;
    if (typeof id === 'number' && id > max) max = id;
  }
  return max + 1;
}

/** tokenizerIdLimit of `dir`/tokenizer.json, or undefined when the directory has none. */
export function readTokenizerIdLimit(dir: string): number | undefined {
  const path = join(dir, 'tokenizer.json');
  return exists(path) ? tokenizerIdLimit(readJsonObject(path, MAX_TOKENIZER_JSON_BYTES)) : undefined;
}
