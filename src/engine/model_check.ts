// Everything about a model directory that can be checked without a GPU, checked before any rank
// starts: config.json (every field typed and in range; quantization_config against --quantization and the
// projections' shapes), the served length against the model's
// (and an active sliding window), the checkpoint's headers and tensor names, the tokenizer
// against vocab_size, and generation_config.json. A bad directory is refused in milliseconds
// with one named error, instead of after GPU start-up or halfway through loading weights.
import { join } from 'node:path';
import { ModelConfigError, TokenizerError } from '../loader/errors.js';
import { readGenerationConfig } from '../loader/generation_config.js';
import { resolveMaxModelLen, type ModelConfig } from '../loader/model_config.js';
import { openModelCheckpoint } from '../model/weight_names.js';
import { checkQuantizedShapes } from '../quant/quantized_size.js';
import { resolveWeightFormat } from '../quant/weight_format.js';
import { readModelConfig } from '../runner/model_runner.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import type { EngineConfig } from './config.js';
import { generationConfigDefaults, normalizeSamplingParams, SamplingParamsError, type GenerationConfigDefaults } from './sampling_params.js';

export interface CheckedModel {
  readonly modelConfig: ModelConfig;
  readonly maxModelLen: number;
  readonly tokenizer: Tokenizer;
  readonly generationDefaults: GenerationConfigDefaults;
}

/** Checks the model directory of `c` (MODELS.md lists what); the caller owns the tokenizer. */
export async function checkModel(c: EngineConfig): Promise<CheckedModel> {
  const mc = readModelConfig(c.model);
  const configFile = join(c.model, 'config.json');
  const maxModelLen = resolveMaxModelLen(mc, c.maxModelLen, configFile);
  checkQuantizedShapes(mc, resolveWeightFormat(c.quantization, mc.quantization, configFile), c.tensorParallelSize, configFile);
  if (c.loadFormat === 'safetensors') await (await openModelCheckpoint(c.model, mc)).close();
  const tokenizer = Tokenizer.load(c.model, mc.eosTokenIds);
  try {
    if (tokenizer.idLimit > mc.vocabSize) {
      throw new TokenizerError(
        join(c.model, 'tokenizer.json'),
        `has token ids up to ${tokenizer.idLimit - 1} but ${configFile} has vocab_size ${mc.vocabSize}: the model has no embedding for ids from ${mc.vocabSize} on`,
        'vocab_size',
      );
    }
    return { modelConfig: mc, maxModelLen, tokenizer, generationDefaults: generationDefaults(c.model, mc.vocabSize) };
  } catch (e) {
    tokenizer.close();
    throw e;
  }
}

/** generation_config.json's sampling defaults, range-checked now rather than at the first request. */
function generationDefaults(dir: string, vocabSize: number): GenerationConfigDefaults {
  const g = readGenerationConfig(dir, vocabSize);
  if (!g) return {};
  const d = generationConfigDefaults(g.raw);
  try {
    normalizeSamplingParams({}, d, () => 0);
  } catch (e) {
    if (!(e instanceof SamplingParamsError)) throw e;
    const key = { temperature: 'temperature', topK: 'top_k', topP: 'top_p', maxTokens: 'max_new_tokens' }[e.field.replace('generationConfig.', '')] ?? e.field;
    throw new ModelConfigError(g.file, `field '${key}' ${JSON.stringify(e.value)} ${e.reason}`, key);
  }
  return d;
}
