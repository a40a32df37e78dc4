// The token stream `tknp bench perplexity` evaluates: a file of little-endian uint16 token ids
// (bench/data/heldout_default.u16, written by tools/dump_heldout.py), or a text file tokenized with
// the model's tokenizer (BOS as its post-processor adds it). Every file is untrusted input: its size
// and every id are checked against the model's vocabulary before anything runs.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { packageRoot } from '../util/package_root.js';
import { PerplexityError } from './perplexity_math.js';

/** Largest stream file read (2^28 bytes = 134 M tokens); a larger one is refused before it is read. */
export const MAX_STREAM_BYTES = 2 ** 28;

/** bench/data/heldout_default.u16 of the package: the default model's held-out text (tools/dump_heldout.py). */
export function defaultHeldoutFile(): string {
  return join(packageRoot(import.meta.url) ?? process.cwd(), 'bench', 'data', 'heldout_default.u16');
}

/** Checks every id of `ids` is below `vocab` (the model's vocab_size); `file` names the source in the error. */
function checkIds(ids: ArrayLike<number>, vocab: number, file: string): void {
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] >= vocab) throw new PerplexityError(`${file}: token ${i} is id ${ids[i]}, outside the model's vocabulary (vocab_size ${vocab})`);
  }
}

function checkSize(file: string, what: string): number {
  if (!existsSync(file)) throw new PerplexityError(`${file}: no such ${what} file`);
  const bytes = statSync(file).size;
  if (bytes > MAX_STREAM_BYTES) throw new PerplexityError(`${file}: ${bytes} bytes, more than the ${MAX_STREAM_BYTES} a ${what} file may have`);
  return bytes;
}

/** Reads a little-endian uint16 token-id file and checks its ids against `vocab`. */
// returns: [numTokens] token ids
export function readTokenFile(file: string, vocab: number): Uint16Array {
  const bytes = checkSize(file, 'token');
  if (bytes % 2 !== 0) throw new PerplexityError(`${file}: ${bytes} bytes is not a whole number of uint16 token ids`);
  const buf = readFileSync(file);
  const ids = new Uint16Array(bytes / 2);
  for (let i = 0; i < ids.length; i++) ids[i] = buf.readUInt16LE(2 * i);
  checkIds(ids, vocab, file);
  return ids;
}

/** Reads a UTF-8 text file and tokenizes it with the tokenizer of `modelDir` (special tokens as it adds them). */
// returns: [numTokens] token ids
export function tokenizeTextFile(file: string, modelDir: string, vocab: number): Uint32Array {
  checkSize(file, 'text');
  const tokenizer = Tokenizer.load(modelDir);
  try {
    const ids = Uint32Array.from(tokenizer.encode(readFileSync(file, 'utf8')));
    checkIds(ids, vocab, file);
    return ids;
  } finally {
    tokenizer.close();
  }
}
