// Model shapes for `tknp bench decode`, as the config.json a Hugging Face checkpoint carries.
// With loadFormat 'dummy' a model directory needs nothing else, so a preset becomes a model by
// writing its config.json into a directory: the ranks of the distributed executor read it
// from there like any model's (the executor stays unchanged).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ModelPreset {
  readonly name: string;
  readonly description: string;
  /** config.json contents. */
  readonly config: Readonly<Record<string, unknown>>;
}

const LLAMA = { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_act: 'silu', attention_bias: false, mlp_bias: false, torch_dtype: 'float16' };

export const PRESETS: Readonly<Record<string, ModelPreset>> = {
  'llama-3-8b': {
    name: 'llama-3-8b',
    description: 'Llama-3-8B shapes with Llama 3.1 rope (llama3 scaling, 128k positions): 8.0B parameters',
    config: {
      ...LLAMA,
      hidden_size: 4096,
      intermediate_size: 14336,
      num_hidden_layers: 32,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      head_dim: 128,
      vocab_size: 128256,
      max_position_embeddings: 131072,
      rms_norm_eps: 1e-5,
      rope_theta: 500000,
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
      tie_word_embeddings: false,
      bos_token_id: 128000,
      eos_token_id: 128001,
    },
  },
  'llama-2-7b': {
    name: 'llama-2-7b',
    description: 'Llama-2-7B shapes (multi-head attention, 32 KV heads; 4k positions): 6.7B parameters',
    config: {
      ...LLAMA,
      hidden_size: 4096,
      intermediate_size: 11008,
      num_hidden_layers: 32,
      num_attention_heads: 32,
      num_key_value_heads: 32,
      head_dim: 128,
      vocab_size: 32000,
      max_position_embeddings: 4096,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: false,
      bos_token_id: 1,
      eos_token_id: 2,
    },
  },
  tiny: {
    name: 'tiny',
    description: 'the shapes of test/fixtures/models/tiny-llama (2 layers, hidden 256): for tests and software adapters',
    config: {
      ...LLAMA,
      hidden_size: 256,
      intermediate_size: 512,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 64,
      vocab_size: 1024,
      max_position_embeddings: 1024,
      rms_norm_eps: 1e-5,
      rope_parameters: { rope_type: 'llama3', rope_theta: 500000, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 },
      tie_word_embeddings: false,
      bos_token_id: 0,
      eos_token_id: [1, 4],
    },
  },
};

export class UnknownPresetError extends Error {
  override readonly name = 'UnknownPresetError';
}

export function presetNames(): string[] {
  return Object.keys(PRESETS);
}

export function preset(name: string): ModelPreset {
  const p = PRESETS[name];
  if (!p) throw new UnknownPresetError(`unknown preset '${name}': choose one of ${presetNames().join(', ')}`);
  return p;
}

/**
 * A model directory holding the preset's config.json. Its name includes a hash of the config,
 * so every process (the driver and each rank, also under torchrun) gets the same directory and
 * the same contents; written atomically, so concurrent writers are harmless.
 */
export function presetModelDir(name: string, root = tmpdir()): string {
  const json = `${JSON.stringify(preset(name).config, null, 2)}\n`;
  const hash = createHash('sha256').update(json).digest('hex').slice(0, 12);
  const dir = join(root, `tknp-preset-${name}-${hash}`);
  const file = join(dir, 'config.json');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, json);
    renameSync(tmp, file);
  }
  return dir;
}
