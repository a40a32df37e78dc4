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

  it('applies sliding_window on the layers where transformers does (the kernels serve it)', () => {
    const mistral = { ...llama, architectures: ['MistralForCausalLM'] };
    const qwen2 = { ...llama, architectures: ['Qwen2ForCausalLM'] };
    const windows = (raw: Record<string, unknown>) => parseModelConfig(raw).layerWindows;
    expect(windows({ ...mistral, sliding_window: 1024 })).toEqual([1024, 1024]);
    expect(windows({ ...mistral, sliding_window: null })).toEqual([null, null]);
    expect(windows(mistral)).toEqual([4096, 4096]); // MistralConfig's default
    expect(windows({ ...llama, sliding_window: 8 })).toEqual([null, null]); // Llama has none
    // Qwen2: only with use_sliding_window, and only for layers from max_window_layers (default 28) on.
    expect(windows({ ...qwen2, sliding_window: 8 })).toEqual([null, null]);
    expect(windows({ ...qwen2, sliding_window: 8, use_sliding_window: true })).toEqual([null, null]);
    expect(windows({ ...qwen2, sliding_window: 8, use_sliding_window: true, max_window_layers: 1 })).toEqual([null, 8]);
    expect(windows({ ...qwen2, sliding_window: 8, use_sliding_window: true, layer_types: ['sliding_attention', 'full_attention'] })).toEqual([8, null]);
    // Phi-3: every layer, none by default.
    expect(windows({ ...llama, architectures: ['Phi3ForCausalLM'], sliding_window: 2047 })).toEqual([2047, 2047]);
    expect(windows({ ...llama, architectures: ['Phi3ForCausalLM'] })).toEqual([null, null]);
    // Gemma 2: even layers; Gemma 3: all but every 6th (sliding_window_pattern), or layer_types.
    const gemma = { ...llama, num_hidden_layers: 7, sliding_window: 512 };
    expect(windows({ ...gemma, architectures: ['Gemma2ForCausalLM'] })).toEqual([512, null, 512, null, 512, null, 512]);
    expect(windows({ ...gemma, architectures: ['Gemma3ForCausalLM'] })).toEqual([512, 512, 512, 512, 512, null, 512]);
    expect(windows({ ...gemma, architectures: ['Gemma3ForCausalLM'], sliding_window_pattern: 2 })).toEqual([512, null, 512, null, 512, null, 512]);
    // Serving past the window is fine now; past max_position_embeddings is not.
    const c = parseModelConfig({ ...mistral, sliding_window: 1024 });
    expect(resolveMaxModelLen(c, undefined)).toBe(2048);
    expect(resolveMaxModelLen(c, 100)).toBe(100);
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

  it('reads each architecture with transformers defaults (Qwen3, Phi-3, Gemma 2, Gemma 3)', () => {
    const base = { hidden_size: 256, intermediate_size: 512, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 1000 };
    const qwen3 = parseModelConfig({ ...base, architectures: ['Qwen3ForCausalLM'] });
    expect(qwen3).toMatchObject({ headDim: 128, qkNorm: true, qkvBias: false, oBias: false, hiddenAct: 'silu', maxPositionEmbeddings: 32768, sandwichNorms: false });
    expect(parseModelConfig({ ...base, architectures: ['Qwen3ForCausalLM'], attention_bias: true })).toMatchObject({ qkvBias: true, oBias: true });
    const phi3 = parseModelConfig({ ...base, architectures: ['Phi3ForCausalLM'], partial_rotary_factor: 0.75 });
    expect(phi3).toMatchObject({ headDim: 64, rotaryDim: 48, fusedProjections: true, rmsNormEps: 1e-5, maxPositionEmbeddings: 4096, qkNorm: false });
    const gemma2 = parseModelConfig({ ...base, architectures: ['Gemma2ForCausalLM'] });
    expect(gemma2).toMatchObject({
      headDim: 256, hiddenAct: 'gelu_tanh', sandwichNorms: true, normWeightOffset: 1, embedScale: 16, attentionScale: 1 / 16,
      attnLogitSoftcap: 50, finalLogitSoftcap: 30, tieWordEmbeddings: true, qkNorm: false, localRope: null,
    });
    expect(parseModelConfig({ ...base, architectures: ['Gemma2ForCausalLM'], query_pre_attn_scalar: 144, attn_logit_softcapping: null, final_logit_softcapping: 20 })).toMatchObject({ attentionScale: 1 / 12, attnLogitSoftcap: null, finalLogitSoftcap: 20 });
    const gemma3 = parseModelConfig({ ...base, architectures: ['Gemma3ForCausalLM'], rope_scaling: { rope_type: 'linear', factor: 8 } });
    expect(gemma3).toMatchObject({ qkNorm: true, attnLogitSoftcap: null, finalLogitSoftcap: null, rope: { theta: 1e6, type: 'linear', factor: 8 }, localRope: { theta: 10000, type: 'default' } });
    expect(parseModelConfig({ ...base, architectures: ['Gemma3ForCausalLM'], rope_local_base_freq: 5000 }).localRope).toMatchObject({ theta: 5000 });
    // transformers 5's per-layer-type rope_parameters.
    const v5 = parseModelConfig({ ...base, architectures: ['Gemma3ForCausalLM'], rope_parameters: { full_attention: { rope_type: 'linear', factor: 4, rope_theta: 2e6 }, sliding_attention: { rope_type: 'default', rope_theta: 7000 } } });
    expect(v5).toMatchObject({ rope: { theta: 2e6, type: 'linear', factor: 4 }, localRope: { theta: 7000, type: 'default' } });
    expect(() => parseModelConfig({ ...base, architectures: ['Gemma2ForCausalLM'], hidden_activation: 'gelu' })).toThrow(/hidden_activation 'gelu' is not supported \(silu, gelu_pytorch_tanh\)/);
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
