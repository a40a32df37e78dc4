// Which tensors a checkpoint must hold for a ModelConfig, and the check that it holds exactly
// those, with the config's shapes and a dtype tknp loads (before anything is read or uploaded). transformers only warns about unexpected tensors and initialises missing ones at
// random; tknp refuses both, because either means config.json does not describe the weights: a
// num_hidden_layers below the checkpoint's layers silently cuts the model short, a bias or norm
// the config does not declare would be dropped, a missing tensor has no value to load.
// The one exception is `rotary_emb.inv_freq`, a buffer older transformers saved and newer ones
// ignore on load: tknp computes RoPE from config.json, so it is skipped as transformers does.
import { join } from 'node:path';
import { Checkpoint } from '../loader/checkpoint.js';
import type { ModelConfig } from '../loader/model_config.js';
import { CheckpointError, ModelConfigError } from '../loader/errors.js';
import { quantizesModule, type CheckpointQuantization } from '../loader/quantization_config.js';
import { quantizedTensorSpecs } from '../quant/checkpoint_tensors.js';
import { layerTensors, layerTensorShapes } from './weights.js';

/** Tensors transformers ignores when loading (saved buffers, recomputed from the config). */
const IGNORED = /(^|\.)rotary_emb\.inv_freq$/;
/** How many names an error lists before "and N more". */
const SHOW = 4;

/** A tensor the model loads: its shape and the dtypes accepted. */
export interface ExpectedTensor {
  readonly shape: number[];
  readonly dtypes: readonly string[];
}

const FLOAT = ['F16', 'BF16', 'F32'];

/**
 * Every tensor the model loads from a checkpoint for `c`, with its shape and dtypes (lm_head optional when
 * tied): a projection an AWQ / GPTQ checkpoint quantizes is its packed tensors (quant/checkpoint_tensors.ts).
 */
export function expectedWeights(c: ModelConfig, configFile = 'config.json'): { required: Map<string, ExpectedTensor>; optional: Map<string, ExpectedTensor> } {
  const H = c.hiddenSize;
  const float = (shape: number[]): ExpectedTensor => ({ shape, dtypes: FLOAT });
  const required = new Map<string, ExpectedTensor>([
    ['model.embed_tokens.weight', float([c.vocabSize, H])],
    ['model.norm.weight', float([H])],
  ]);
  const optional = new Map<string, ExpectedTensor>();
  (c.tieWordEmbeddings ? optional : required).set('lm_head.weight', float([c.vocabSize, H]));
  const q = c.quantization;
  for (let i = 0; i < c.numLayers; i++) {
    if (q) for (const parts of [layerTensors(c, i).qkv, layerTensors(c, i).gateUp]) checkOneFormat(q, parts.map((p) => p.name), configFile);
    for (const [name, shape] of layerTensorShapes(c, i)) {
      const module = name.replace(/\.weight$/, '');
      // The layer's 2-D tensors are its projections.
      if (!q || shape.length !== 2 || !quantizesModule(q, module)) {
        required.set(name, float(shape));
        continue;
      }
      for (const [n, spec] of quantizedTensorSpecs(q, module, [shape[0], shape[1]], configFile)) (spec.optional ? optional : required).set(n, spec);
    }
  }
  return { required, optional };
}

/** The parts tknp fuses into one linear (q, k, v; gate, up) must all be quantized or all f16. */
function checkOneFormat(q: CheckpointQuantization, names: readonly string[], configFile: string): void {
  const quantized = names.filter((n) => quantizesModule(q, n.replace(/\.weight$/, '')));
  if (quantized.length > 0 && quantized.length < names.length) {
    const field = q.method === 'awq' ? 'modules_to_not_convert' : 'modules_in_block_to_quantize';
    throw new ModelConfigError(configFile, `quantization_config.${field} quantizes ${list(quantized)} but not ${list(names.filter((n) => !quantized.includes(n)))}; tknp runs them as one fused linear of one format`, `quantization_config.${field}`);
  }
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

/** What checkWeights needs to know of a checkpoint tensor. */
export interface WeightEntry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** The shard holding it, for messages. */
  readonly file: string;
}

/**
 * Refuses a checkpoint whose tensors differ from what `c` needs: a missing or unexpected name, a
 * shape other than the config's, a dtype tknp does not load. `configFile` is named when the
 * layer count is what differs.
 */
export function checkWeights(entries: readonly WeightEntry[], c: ModelConfig, dir: string, configFile: string): void {
  const { required, optional } = expectedWeights(c, configFile);
  const have = new Map(entries.map((e) => [e.name, e]));
  const missing = [...required.keys()].filter((n) => !have.has(n));
  const unexpected = entries.map((e) => e.name).filter((n) => !required.has(n) && !optional.has(n) && !IGNORED.test(n)).sort();
  const layers = maxLayer(have.keys()) + 1;
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
      have.get(unexpected[0])!.file,
      `unexpected tensor${unexpected.length > 1 ? 's' : ''} ${list(unexpected)}: config.json's ${c.architecture} model has no such weight${unexpected.length > 1 ? 's' : ''} (a different architecture, or a config that does not match the checkpoint)`,
      unexpected[0],
    );
  }
  for (const e of entries) {
    const want = required.get(e.name) ?? optional.get(e.name);
    if (!want) continue;
    const { shape, dtypes } = want;
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(e.file, `tensor '${e.name}' has shape [${e.shape}], expected [${shape}] from config.json`, e.name);
    }
    if (!dtypes.includes(e.dtype)) throw new CheckpointError(e.file, `tensor '${e.name}' has dtype ${e.dtype}; expected ${dtypes.length > 1 ? `${dtypes.slice(0, -1).join(', ')} or ${dtypes[dtypes.length - 1]}` : dtypes[0]}`, e.name);
  }
}

/** Opens the checkpoint in `dir` and checks its tensor names against `c` (closed again on failure). */
export async function openModelCheckpoint(dir: string, c: ModelConfig): Promise<Checkpoint> {
  const ckpt = await Checkpoint.open(dir);
  try {
    const entries = [...ckpt.names()].map((name) => ({ ...ckpt.info(name), file: ckpt.fileOf(name) }));
    checkWeights(entries, c, dir, join(dir, 'config.json'));
    return ckpt;
  } catch (e) {
    await ckpt.close();
    throw e;
  }
}
