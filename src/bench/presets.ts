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
  'qwen2.5-7b': {
    name: 'qwen2.5-7b',
    description: 'Qwen2.5-7B shapes (28 q / 4 kv heads: GQA 7; q/k/v biases, 152064 padded vocabulary): 7.6B parameters',
    config: {
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      hidden_act: 'silu',
      hidden_size: 3584,
      intermediate_size: 18944,
      num_hidden_layers: 28,
      num_attention_heads: 28,
      num_key_value_heads: 4,
      vocab_size: 152064,
      max_position_embeddings: 131072,
      max_window_layers: 28,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000,
      sliding_window: 131072,
      use_sliding_window: false,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      bos_token_id: 151643,
      eos_token_id: 151643,
    },
  },
  'qwen3-8b': {
    name: 'qwen3-8b',
    description: 'Qwen3-8B shapes (32 q / 8 kv heads of 128, q/k norms, 36 layers): 8.2B parameters',
    config: {
      architectures: ['Qwen3ForCausalLM'],
      model_type: 'qwen3',
      hidden_act: 'silu',
      attention_bias: false,
      hidden_size: 4096,
      intermediate_size: 12288,
      num_hidden_layers: 36,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      head_dim: 128,
      vocab_size: 151936,
      max_position_embeddings: 40960,
      max_window_layers: 36,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000,
      sliding_window: null,
      use_sliding_window: false,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      bos_token_id: 151643,
      eos_token_id: 151645,
    },
  },
  'mistral-nemo-12b': {
    name: 'mistral-nemo-12b',
    description: 'Mistral-Nemo-12B shapes (hidden 5120, 32 q / 8 kv heads of 128 = 4096 != hidden, 40 layers): 12.2B parameters',
    config: {
      architectures: ['MistralForCausalLM'],
      model_type: 'mistral',
      hidden_act: 'silu',
      hidden_size: 5120,
      intermediate_size: 14336,
      num_hidden_layers: 40,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      head_dim: 128,
      vocab_size: 131072,
      max_position_embeddings: 1024000,
      rms_norm_eps: 1e-5,
      rope_theta: 1000000,
      sliding_window: null,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      bos_token_id: 1,
      eos_token_id: 2,
    },
  },
  'gemma-3-12b': {
    name: 'gemma-3-12b',
    description: "Gemma-3-12B's text model (16 q / 8 kv heads of 256, 48 layers, sliding window 1024 on 5 of 6, GeGLU, q/k norms): 11.8B parameters",
    config: {
      architectures: ['Gemma3ForCausalLM'],
      model_type: 'gemma3_text',
      hidden_activation: 'gelu_pytorch_tanh',
      hidden_size: 3840,
      intermediate_size: 15360,
      num_hidden_layers: 48,
      num_attention_heads: 16,
      num_key_value_heads: 8,
      head_dim: 256,
      query_pre_attn_scalar: 256,
      vocab_size: 262208,
      max_position_embeddings: 131072,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000,
      rope_scaling: { rope_type: 'linear', factor: 8 },
      rope_local_base_freq: 10000,
      sliding_window: 1024,
      sliding_window_pattern: 6,
      final_logit_softcapping: null,
      attn_logit_softcapping: null,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      bos_token_id: 2,
      eos_token_id: [1, 106],
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
