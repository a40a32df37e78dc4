// Tiny Hugging Face model directories built by tests in a temp dir, and the edits that break
// them: a seeded random Llama/Mistral/Qwen2/Qwen3/Phi-3/Gemma 2/Gemma 3 (hidden 128, 2 layers,
// head_dim 64) with tiny-llama's tokenizer (1024 ids), its config.json / safetensors written here
// under the names transformers uses for each architecture (written out here, not taken from src/),
// and helpers that rewrite JSON files, safetensors headers and tensor bytes.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors, bytesOf, type RawTensor } from '../../src/loader/safetensors_writer.js';
import type { SafetensorsDType } from '../../src/loader/safetensors.js';
import { Rng } from '../../src/util/rng.js';
import { toF16 } from '../../src/util/f16.js';

const TOKENIZER_FROM = join('test', 'fixtures', 'models', 'tiny-llama');
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

export type TinyArch = 'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM' | 'Qwen3ForCausalLM' | 'Phi3ForCausalLM' | 'Gemma2ForCausalLM' | 'Gemma3ForCausalLM';

export interface TinyModelOptions {
  readonly arch?: TinyArch;
  readonly vocabSize?: number;
  /** Fields merged into config.json last. */
  readonly config?: Record<string, unknown>;
  /** Storage dtype of every tensor. */
  readonly dtype?: 'F16' | 'BF16' | 'F32';
  readonly seed?: number;
}

/** config.json of a tiny model: hidden 128, 2 heads of 64 (1 kv head), intermediate 128, 2 layers. */
export function tinyConfig(o: TinyModelOptions = {}): Record<string, unknown> {
  return {
    architectures: [o.arch ?? 'LlamaForCausalLM'],
    hidden_size: 128,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    head_dim: 64,
    vocab_size: o.vocabSize ?? 1024,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    bos_token_id: 0,
    eos_token_id: [1, 4],
    tie_word_embeddings: false,
    torch_dtype: 'float16',
    ...(o.arch === 'MistralForCausalLM' ? { sliding_window: null } : {}),
    ...o.config,
  };
}

function encode(values: Float32Array, dtype: SafetensorsDType): Uint8Array {
  if (dtype === 'F32') return bytesOf(values);
  if (dtype === 'F16') return bytesOf(toF16(values));
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  return bytesOf(Uint16Array.from(u, (x) => x >>> 16)); // BF16: the top half of f32
}

/**
 * Seeded random tensors for `cfg` (norms near 1: Gemma's near 0, it multiplies by 1 + weight; the rest
 * N(0, 0.1²)), in checkpoint order, named as transformers names them for cfg's architecture.
 */
export function tinyTensors(cfg: Record<string, unknown>, dtype: 'F16' | 'BF16' | 'F32' = 'F16', seed = 1): Record<string, RawTensor> {
  const rng = new Rng(seed);
  const arch = (cfg.architectures as string[])[0];
  const gemma = arch === 'Gemma2ForCausalLM' || arch === 'Gemma3ForCausalLM';
  const [H, I, V, L, D] = [cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size, cfg.num_hidden_layers, cfg.head_dim] as number[];
  const q = (cfg.num_attention_heads as number) * D;
  const kv = (cfg.num_key_value_heads as number) * D;
  const out: Record<string, RawTensor> = {};
  const add = (name: string, shape: number[], norm = false) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = Float32Array.from({ length: n }, () => (norm && !gemma ? 1 : 0) + 0.1 * rng.normal());
    out[name] = { dtype, shape, data: encode(v, dtype) };
  };
  const biased = arch === 'Qwen2ForCausalLM' || cfg.attention_bias === true;
  add('model.embed_tokens.weight', [V, H]);
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}.`;
    add(`${p}input_layernorm.weight`, [H], true);
    if (arch === 'Phi3ForCausalLM') {
      add(`${p}self_attn.qkv_proj.weight`, [q + 2 * kv, H]);
    } else {
      add(`${p}self_attn.q_proj.weight`, [q, H]);
      add(`${p}self_attn.k_proj.weight`, [kv, H]);
      add(`${p}self_attn.v_proj.weight`, [kv, H]);
    }
    if (biased) {
      add(`${p}self_attn.q_proj.bias`, [q]);
      add(`${p}self_attn.k_proj.bias`, [kv]);
      add(`${p}self_attn.v_proj.bias`, [kv]);
    }
    if (arch === 'Qwen3ForCausalLM' || arch === 'Gemma3ForCausalLM') {
      add(`${p}self_attn.q_norm.weight`, [D], true);
      add(`${p}self_attn.k_norm.weight`, [D], true);
    }
    add(`${p}self_attn.o_proj.weight`, [H, q]);
    if (biased && arch !== 'Qwen2ForCausalLM') add(`${p}self_attn.o_proj.bias`, [H]);
    add(`${p}post_attention_layernorm.weight`, [H], true);
    if (gemma) {
      add(`${p}pre_feedforward_layernorm.weight`, [H], true);
      add(`${p}post_feedforward_layernorm.weight`, [H], true);
    }
    if (arch === 'Phi3ForCausalLM') {
      add(`${p}mlp.gate_up_proj.weight`, [2 * I, H]);
    } else {
      add(`${p}mlp.gate_proj.weight`, [I, H]);
      add(`${p}mlp.up_proj.weight`, [I, H]);
    }
    add(`${p}mlp.down_proj.weight`, [H, I]);
  }
  add('model.norm.weight', [H], true);
  if (cfg.tie_word_embeddings !== true) add('lm_head.weight', [V, H]);
  return out;
}

/** Writes a tiny model (config.json, model.safetensors, tiny-llama's tokenizer) into a new temp dir. */
export function makeTinyModel(o: TinyModelOptions = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tknp-tiny-'));
  const cfg = tinyConfig(o);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: 0, eos_token_id: [1, 4], do_sample: false }));
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tinyTensors(cfg, o.dtype, o.seed)));
  for (const f of TOKENIZER_FILES) cpSync(join(TOKENIZER_FROM, f), join(dir, f));
  return dir;
}

/** A copy of `dir` in a new temp dir. */
export function copyModel(dir: string): string {
  const copy = mkdtempSync(join(tmpdir(), 'tknp-copy-'));
  cpSync(dir, copy, { recursive: true });
  return copy;
}

/** Rewrites `dir/name` with what `edit` returns from its parsed JSON (any JSON value, null included). */
export function editJson(dir: string, name: string, edit: (json: Record<string, unknown>) => unknown): void {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(edit(JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>)));
}

interface Header {
  [name: string]: { dtype: string; shape: number[]; data_offsets: [number, number] };
}

/** The header of a safetensors file and where its data section starts. */
export function readHeader(path: string): { header: Header; dataStart: number } {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  return { header: JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Header, dataStart: 8 + n };
}

/** Rewrites a safetensors file's header through `edit`, keeping its data section (plus `extraData`). */
export function editHeader(path: string, edit: (h: Header) => void, extraData = new Uint8Array(0)): void {
  const b = readFileSync(path);
  const { header, dataStart } = readHeader(path);
  edit(header);
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, b.subarray(dataStart), extraData]));
}

/** Overwrites element `index` of an F16 tensor with the bit pattern `bits`. */
export function pokeF16(path: string, tensor: string, index: number, bits: number): void {
  const b = readFileSync(path);
  const { header, dataStart } = readHeader(path);
  b.writeUInt16LE(bits, dataStart + header[tensor].data_offsets[0] + 2 * index);
  writeFileSync(path, b);
}

/** Overwrites element `index` of an F32 tensor with `value`. */
export function pokeF32(path: string, tensor: string, index: number, value: number): void {
  const b = readFileSync(path);
  const { header, dataStart } = readHeader(path);
  b.writeFloatLE(value, dataStart + header[tensor].data_offsets[0] + 4 * index);
  writeFileSync(path, b);
}
