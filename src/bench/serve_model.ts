// A servable model directory for a preset's shapes without a checkpoint (`tknp serve --preset
// llama-3-8b --load-format dummy`, used by the serving benchmark on the GPU host): the preset's
// config.json (src/bench/presets.ts) and the embedded model's byte-level BPE tokenizer with its
// vocabulary grown to the preset's vocab_size by tokens `<|t{id}|>`, so every id the dummy
// model samples decodes to text (a preset whose vocab_size is below the tokenizer's ids, 'tiny', is
// served with vocab_size raised to cover them: the loader refuses ids the model has no embedding for). Named by a hash of its contents, written atomically: every
// process (driver, ranks) gets the same directory.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../util/package_root.js';
import { preset } from './presets.js';

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

export function presetServeModelDir(name: string, root = tmpdir()): string {
  const src = join(packageRoot(import.meta.url) ?? process.cwd(), 'models', 'default');
  const tok = JSON.parse(readFileSync(join(src, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> }; added_tokens?: { id: number }[] };
  const used = new Set([...Object.values(tok.model.vocab), ...(tok.added_tokens ?? []).map((t) => t.id)]);
  const V = Math.max(preset(name).config.vocab_size as number, Math.max(...used) + 1);
  const config = { ...preset(name).config, vocab_size: V };
  for (let id = 0; id < V; id++) if (!used.has(id)) tok.model.vocab[`<|t${id}|>`] = id;
  const files: [string, string][] = [
    ['config.json', `${JSON.stringify(config, null, 2)}\n`],
    ['tokenizer.json', JSON.stringify(tok)],
    ['tokenizer_config.json', readFileSync(join(src, 'tokenizer_config.json'), 'utf8')],
  ];
  const hash = createHash('sha256');
  for (const [f, text] of files) hash.update(f).update(text);
  const dir = join(root, `tknp-serve-preset-${name}-${hash.digest('hex').slice(0, 12)}`);
  if (!existsSync(join(dir, 'config.json'))) {
    mkdirSync(dir, { recursive: true });
    // config.json last: its presence marks a complete directory.
    for (const [f, text] of [...files.slice(1), files[0]]) writeAtomic(join(dir, f), text);
  }
  return dir;
}
