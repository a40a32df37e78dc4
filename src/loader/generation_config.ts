// generation_config.json: the model's generation defaults. The file is optional; when present it
// must be a JSON object whose fields tknp reads have the right types (sampling values are range-
// checked by the engine, which names this file), and whose token ids are in the vocabulary.
import { join } from 'node:path';
import { ModelConfigError } from './errors.js';
import { JsonFields } from './json_fields.js';
import { readOptionalJsonObject } from './model_files.js';

export const GENERATION_CONFIG_FILE = 'generation_config.json';

export interface GenerationConfig {
  readonly file: string;
  /** The parsed object (sampling defaults are read from it by the engine). */
  readonly raw: Readonly<Record<string, unknown>>;
  readonly eosTokenIds: readonly number[];
}

/** Reads and checks `dir`/generation_config.json, or undefined when there is none. */
export function readGenerationConfig(dir: string, vocabSize: number): GenerationConfig | undefined {
  const raw = readOptionalJsonObject(dir, GENERATION_CONFIG_FILE);
  if (!raw) return undefined;
  const file = join(dir, GENERATION_CONFIG_FILE);
  const f = new JsonFields(raw, file, ModelConfigError);
  f.bool('do_sample', false);
  for (const key of ['temperature', 'top_p']) f.num(key, 1, -Infinity, Infinity);
  for (const key of ['top_k', 'max_new_tokens']) f.int(key, 0, -1);
  f.tokenIds('bos_token_id', vocabSize);
  f.tokenIds('pad_token_id', vocabSize);
  return { file, raw, eosTokenIds: f.tokenIds('eos_token_id', vocabSize) };
}
