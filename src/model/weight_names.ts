// Which tensors a checkpoint must hold for a ModelConfig, and the check that it holds exactly
// those. transformers only warns about unexpected tensors and initialises missing ones at
// random; tknp refuses both, because either means config.json does not describe the weights: a
// num_hidden_layers below the checkpoint's layers silently cuts the model short, a bias or norm
// the config does not declare would be dropped, a missing tensor has no value to load.
// The one exception is `rotary_emb.inv_freq`, a buffer older transformers saved and newer ones
// ignore on load: tknp computes RoPE from config.json, so it is skipped as transformers does.
import { join } from 'node:path';
import { Checkpoint } from '../loader/checkpoint.js';
import { CheckpointError } from '../loader/errors.js';
import type { ModelConfig } from '../loader/model_config.js';
import { layerTensorNames } from './weights.js';

/** Tensors transformers ignores when loading (saved buffers, recomputed from the config). */
const IGNORED = /(^|\.)rotary_emb\.inv_freq$/;
/** How many names an error lists before "and N more". */
const SHOW = 4;

/** Every tensor name the model loads from a checkpoint for `c` (lm_head optional when tied). */
export function expectedWeightNames(c: ModelConfig): { required: Set<string>; optional: Set<string> } {
  const required = new Set<string>(['model.embed_tokens.weight', 'model.norm.weight']);
  const optional = new Set<string>();
  (c.tieWordEmbeddings ? optional : required).add('lm_head.weight');
  for (let i = 0; i < c.numLayers; i++) {
    const n = layerTensorNames(i);
    for (const key of ['inputNorm', 'q', 'k', 'v', 'o', 'postNorm', 'gate', 'up', 'down'] as const) required.add(n[key]);
    if (c.qkvBias) for (const key of ['qBias', 'kBias', 'vBias'] as const) required.add(n[key]);
    if (c.oBias) required.add(n.oBias);
  }
  return { required, optional };
}

function list(names: readonly string[]): string {
  const shown = names.slice(0, SHOW).map((n) => `'${n}'`).join(', ');
  return names.length > SHOW ? `${shown} and ${names.length - SHOW} more` : shown;
}

/** The highest layer index among names like model.layers.<i>.…, or -1. */
function maxLayer(names: Iterable<string>): number {
  let max = -1;
  for (const n of names) {
    const m = /^model\.layers\.(\d+)\./.exec(n);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max;
}

/**
 * Refuses a checkpoint whose tensor names differ from what `c` needs; `fileOf` names the shard
 * of a tensor, `configFile` is config.json (named when the layer count is what differs).
 */
export function checkWeightNames(names: Iterable<string>, c: ModelConfig, fileOf: (name: string) => string, dir: string, configFile: string): void {
  const { required, optional } = expectedWeightNames(c);
  const present = [...names];
  const have = new Set(present);
  const missing = [...required].filter((n) => !have.has(n));
  const unexpected = present.filter((n) => !required.has(n) && !optional.has(n) && !IGNORED.test(n)).sort();
  const layers = maxLayer(present) + 1;
  if (layers !== c.numLayers && (missing.length || unexpected.length)) {
    throw new CheckpointError(
      configFile,
      `num_hidden_layers is ${c.numLayers} but the checkpoint in ${dir} has ${layers} layers (${missing.length ? `missing ${list(missing)}` : `unexpected ${list(unexpected)}`})`,
      'num_hidden_layers',
    );
  }
  if (missing.length) throw new CheckpointError(dir, `missing tensor${missing.length > 1 ? 's' : ''} ${list(missing)} that config.json's model needs`, missing[0]);
  if (unexpected.length) {
    throw new CheckpointError(
      fileOf(unexpected[0]),
      `unexpected tensor${unexpected.length > 1 ? 's' : ''} ${list(unexpected)}: config.json's ${c.architecture} model has no such weight${unexpected.length > 1 ? 's' : ''} (a different architecture, or a config that does not match the checkpoint)`,
      unexpected[0],
    );
  }
}

/** Opens the checkpoint in `dir` and checks its tensor names against `c` (closed again on failure). */
export async function openModelCheckpoint(dir: string, c: ModelConfig): Promise<Checkpoint> {
  const ckpt = await Checkpoint.open(dir);
  try {
    checkWeightNames(ckpt.names(), c, (n) => ckpt.fileOf(n), dir, join(dir, 'config.json'));
    return ckpt;
  } catch (e) {
    await ckpt.close();
    throw e;
  }
}
