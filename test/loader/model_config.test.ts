import { describe, expect, it } from 'vitest';
import { parseModelConfig, resolveMaxModelLen } from '../../src/loader/model_config.js';
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

  it('applies sliding_window where transformers does, and refuses to serve past it', () => {
    const mistral = { ...llama, architectures: ['MistralForCausalLM'] };
    const qwen2 = { ...llama, architectures: ['Qwen2ForCausalLM'] };
    expect(parseModelConfig({ ...mistral, sliding_window: 1024 }).slidingWindow).toBe(1024);
    expect(parseModelConfig({ ...mistral, sliding_window: null }).slidingWindow).toBe(null);
    expect(parseModelConfig(mistral).slidingWindow).toBe(4096); // MistralConfig's default
    expect(parseModelConfig({ ...llama, sliding_window: 8 }).slidingWindow).toBe(null); // Llama has none
    // Qwen2: only with use_sliding_window, and only for layers from max_window_layers (default 28) on.
    expect(parseModelConfig({ ...qwen2, sliding_window: 8 }).slidingWindow).toBe(null);
    expect(parseModelConfig({ ...qwen2, sliding_window: 8, use_sliding_window: true }).slidingWindow).toBe(null);
    expect(parseModelConfig({ ...qwen2, sliding_window: 8, use_sliding_window: true, max_window_layers: 1 }).slidingWindow).toBe(8);
    expect(parseModelConfig({ ...qwen2, sliding_window: 8, use_sliding_window: true, layer_types: ['full_attention', 'sliding_attention'] }).slidingWindow).toBe(8);
    const c = parseModelConfig({ ...mistral, sliding_window: 1024 });
    expect(c.maxPositionEmbeddings).toBe(2048);
    expect(resolveMaxModelLen(c, 1024)).toBe(1024);
    expect(resolveMaxModelLen(c, 100)).toBe(100);
    expect(() => resolveMaxModelLen(c, undefined)).toThrow(/sliding_window 1024 is smaller than max_model_len 2048: .* --max-model-len 1024/);
    expect(() => resolveMaxModelLen(parseModelConfig(llama), 4096)).toThrow(/--max-model-len 4096 exceeds max_position_embeddings 2048/);
    for (const bad of [0, -5, 2.5, '4096']) {
      const e = (() => {
        try {
          parseModelConfig({ ...mistral, sliding_window: bad });
        } catch (err) {
          return err as ModelConfigError;
        }
      })();
      expect(e).toBeInstanceOf(ModelConfigError);
      expect(e?.field).toBe('sliding_window');
    }
  });

  it('throws named errors for unsupported or out-of-range configs', () => {
    expect(() => parseModelConfig({ ...llama, architectures: ['GPT2LMHeadModel'] })).toThrow(UnsupportedArchitectureError);
    expect(() => parseModelConfig({ ...llama, num_key_value_heads: 3 })).toThrow(ModelConfigError);
    expect(() => parseModelConfig({ ...llama, hidden_size: 0 })).toThrow(/hidden_size/);
    expect(() => parseModelConfig({ ...llama, hidden_act: 'gelu' })).toThrow(/hidden_act/);
    expect(() => parseModelConfig({ ...llama, rope_scaling: { rope_type: 'mrope', factor: 4 } })).toThrow(/rope type 'mrope' is not supported/);
    expect(() => parseModelConfig({ ...llama, rope_scaling: { rope_type: 'yarn', factor: 0.5 } })).toThrow(/factor' must be >= 1/);
  });
});
