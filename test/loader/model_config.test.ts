import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../src/loader/model_config.js';
import { ModelConfigError, UnsupportedArchitectureError } from '../../src/loader/errors.js';

const llama = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 256,
  intermediate_size: 512,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 1000,
  rms_norm_eps: 1e-5,
  max_position_embeddings: 2048,
  rope_theta: 500000,
  rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
  eos_token_id: [1, 2],
};

describe('parseModelConfig', () => {
  it('reads a Llama-3 style config', () => {
    const c = parseModelConfig(llama);
    expect(c.architecture).toBe('llama');
    expect(c.headDim).toBe(64);
    expect(c.rope).toMatchObject({ theta: 500000, type: 'llama3', factor: 8, originalMaxPositionEmbeddings: 8192 });
    expect(c.eosTokenIds).toEqual([1, 2]);
    expect(c.qkvBias).toBe(false);
  });

  it('reads transformers 5 rope_parameters and Qwen2 biases', () => {
    const c = parseModelConfig({ ...llama, architectures: ['Qwen2ForCausalLM'], rope_scaling: undefined, rope_theta: undefined, rope_parameters: { rope_type: 'default', rope_theta: 1e6 }, tie_word_embeddings: true });
    expect(c.rope.theta).toBe(1e6);
    expect(c.qkvBias).toBe(true);
    expect(c.oBias).toBe(false);
    expect(c.tieWordEmbeddings).toBe(true);
  });

  it('caps the model length at an active sliding window', () => {
    expect(parseModelConfig({ ...llama, architectures: ['MistralForCausalLM'], sliding_window: 1024 }).maxPositionEmbeddings).toBe(1024);
    expect(parseModelConfig({ ...llama, architectures: ['MistralForCausalLM'], sliding_window: null }).maxPositionEmbeddings).toBe(2048);
  });

  it('throws named errors for unsupported or out-of-range configs', () => {
    expect(() => parseModelConfig({ ...llama, architectures: ['GPT2LMHeadModel'] })).toThrow(UnsupportedArchitectureError);
    expect(() => parseModelConfig({ ...llama, num_key_value_heads: 3 })).toThrow(ModelConfigError);
    expect(() => parseModelConfig({ ...llama, hidden_size: 0 })).toThrow(/hidden_size/);
    expect(() => parseModelConfig({ ...llama, hidden_act: 'gelu' })).toThrow(/hidden_act/);
    expect(() => parseModelConfig({ ...llama, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/yarn/);
  });
});
