// Hostile model directories and command lines against `tknp generate`, on the CLI's real path
// (runCli, what main.ts runs): each is refused with the exact named error, naming the file and
// the field (or tensor) at fault, before anything is generated. Cases marked `gpu` fail after
// the GPU starts (tensor values are checked as they load; the memory plan needs the adapter;
// chat templates render per request); the rest are refused before any GPU work.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { SamplingParamsError } from '../../src/engine/sampling_params.js';
import { ChatTemplateError, CheckpointError, ModelConfigError, ModelFileError, TokenizerError, UnsupportedArchitectureError } from '../../src/loader/errors.js';
import { encodeSafetensors } from '../../src/loader/safetensors_writer.js';
import { MemoryPlanError } from '../../src/runner/memory_plan.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { copyModel, editHeader, editJson, makeTinyModel, pokeF16, pokeF32, readHeader, tinyConfig, tinyTensors } from '../helpers/model_dir.js';
import { makeQuantModel } from '../helpers/quant_model.js';
import { QuantLayoutError } from '../../src/quant/packed_weight.js';

const gpu = await testGpu();
const LLAMA = makeTinyModel();
const BF16 = makeTinyModel({ dtype: 'BF16' });
const F32 = makeTinyModel({ dtype: 'F32' });
const MISTRAL = makeTinyModel({ arch: 'MistralForCausalLM' });
const ST = 'model.safetensors';
const INDEX = 'model.safetensors.index.json';
const DOWN = 'model.layers.0.mlp.down_proj.weight';
const K = 'model.layers.0.self_attn.k_proj.weight';
const V = 'model.layers.0.self_attn.v_proj.weight';

type ErrorClass = abstract new (...args: never[]) => Error;

interface Case {
  readonly name: string;
  /** The model directory to break (a fresh copy is made); default: the tiny Llama. */
  readonly base?: string;
  readonly edit?: (dir: string) => void;
  /** --model's value, when it is not the directory itself. */
  readonly model?: (dir: string) => string;
  readonly args?: readonly string[];
  /** Fails only after the GPU starts. */
  readonly gpu?: boolean;
  /** Why the request is valid on this adapter, where it is (a device limit decides), else undefined. */
  readonly validHere?: (g: NonNullable<typeof gpu>) => string | undefined;
  readonly error: ErrorClass;
  /** The file the error names (ModelLoadError family), relative to the model directory or absolute. */
  readonly file?: string;
  /** The field / tensor / weight_map entry the error names. */
  readonly field?: string;
  readonly message: RegExp;
}

const mkfifo = (path: string) => execFileSync('mkfifo', [path]);
const json = (name: string, edit: (j: Record<string, unknown>) => unknown) => (d: string) => editJson(d, name, edit);
const config = (fields: Record<string, unknown>) => json('config.json', (c) => ({ ...c, ...fields }));
const header = (edit: Parameters<typeof editHeader>[1]) => (d: string) => editHeader(join(d, ST), edit);

/** Splits the tiny Llama into two shards + index; `edit` may change the shards and the weight map. */
function sharded(d: string, edit: (shards: Record<string, Record<string, unknown>>, map: Record<string, string>) => void = () => {}): void {
  const tensors = tinyTensors(tinyConfig());
  const names = Object.keys(tensors);
  const shards: Record<string, Record<string, (typeof tensors)[string]>> = { 'model-00001-of-00002.safetensors': {}, 'model-00002-of-00002.safetensors': {} };
  const map: Record<string, string> = {};
  names.forEach((n, i) => {
    const shard = i < names.length / 2 ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors';
    shards[shard][n] = tensors[n];
    map[n] = shard;
  });
  edit(shards as Record<string, Record<string, unknown>>, map);
  rmSync(join(d, ST));
  for (const [f, t] of Object.entries(shards)) writeFileSync(join(d, f), encodeSafetensors(t));
  writeFileSync(join(d, INDEX), JSON.stringify({ metadata: {}, weight_map: map }));
}

/** Rewrites model.safetensors with an extra [128] tensor `name`. */
const withTensor = (name: string) => (d: string) => {
  const t = tinyTensors(tinyConfig());
  writeFileSync(join(d, ST), encodeSafetensors({ ...t, [name]: t['model.norm.weight'] }));
};

const AWQ = makeQuantModel({ method: 'awq' }).dir;
const GPTQ = makeQuantModel({ method: 'gptq', bits: 4, sym: true }).dir;
const qconfig = (fields: Record<string, unknown>) => json('config.json', (c) => ({ ...c, quantization_config: { ...(c.quantization_config as object), ...fields } }));

/** Rewrites model.safetensors without tensor `name`. */
const withoutTensor = (name: string) => (d: string) => {
  const b = readFileSync(join(d, ST));
  const { header, dataStart } = readHeader(join(d, ST));
  const kept = Object.entries(header).filter(([n]) => n !== name && n !== '__metadata__');
  const tensors = Object.fromEntries(kept.map(([n, t]) => [n, { dtype: t.dtype as 'I32', shape: t.shape, data: b.subarray(dataStart + t.data_offsets[0], dataStart + t.data_offsets[1]) }]));
  writeFileSync(join(d, ST), encodeSafetensors(tensors));
};

/** Overwrites element `index` of an I32 tensor with `value`'s 32 bits. */
function pokeI32(path: string, tensor: string, index: number, value: number): void {
  const b = readFileSync(path);
  const { header, dataStart } = readHeader(path);
  b.writeUInt32LE(value >>> 0, dataStart + header[tensor].data_offsets[0] + 4 * index);
  writeFileSync(path, b);
}

const loopTemplate = (body: string) => json('tokenizer_config.json', (c) => ({ ...c, chat_template: body }));

const CASES: Case[] = [
  // Tensor values, checked as they load (NaN and ±Inf in every dtype; wider dtypes' range).
  { name: 'F16 NaN', edit: (d) => pokeF16(join(d, ST), DOWN, 5, 0x7e00), gpu: true, error: CheckpointError, file: ST, field: DOWN, message: /value NaN at index 5 is not finite/ },
  { name: 'F16 +Inf', edit: (d) => pokeF16(join(d, ST), DOWN, 0, 0x7c00), gpu: true, error: CheckpointError, file: ST, field: DOWN, message: /value Infinity at index 0/ },
  { name: 'F16 -Inf in the embedding', edit: (d) => pokeF16(join(d, ST), 'model.embed_tokens.weight', 77, 0xfc00), gpu: true, error: CheckpointError, file: ST, field: 'model.embed_tokens.weight', message: /value -Infinity at index 77/ },
  { name: 'BF16 NaN', base: BF16, edit: (d) => pokeF16(join(d, ST), DOWN, 3, 0x7fc0), gpu: true, error: CheckpointError, file: ST, field: DOWN, message: /value NaN at index 3/ },
  { name: 'F32 Inf', base: F32, edit: (d) => pokeF32(join(d, ST), DOWN, 9, Infinity), gpu: true, error: CheckpointError, file: ST, field: DOWN, message: /value Infinity at index 9 is not finite/ },
  { name: 'F32 beyond f16', base: F32, edit: (d) => pokeF32(join(d, ST), DOWN, 2, 1e6), gpu: true, error: CheckpointError, file: ST, field: DOWN, message: /value 1000000 at index 2 is outside f16 range/ },
  // Byte layout of a safetensors file.
  { name: "k_proj's data_offsets equal v_proj's", edit: header((h) => (h[K].data_offsets = h[V].data_offsets)), error: CheckpointError, file: ST, message: /overlaps tensor .*every tensor needs its own bytes/ },
  { name: 'data_offsets crossing into the next tensor', edit: header((h) => (h[K].data_offsets = [h[K].data_offsets[0] + 2, h[K].data_offsets[1] + 2])), error: CheckpointError, file: ST, field: V, message: /'.*v_proj.weight' .* overlaps tensor '.*k_proj.weight'/ },
  { name: 'bytes belonging to no tensor', edit: header((h) => delete h['model.norm.weight']), error: CheckpointError, file: ST, message: /belong to no tensor/ },
  { name: 'bytes after the last tensor', edit: (d) => editHeader(join(d, ST), () => {}, new Uint8Array(6)), error: CheckpointError, file: ST, message: /6 bytes after the last tensor/ },
  { name: 'a header that is not JSON', edit: (d) => { const b = readFileSync(join(d, ST)); b.write('!', 8); writeFileSync(join(d, ST), b); }, error: CheckpointError, file: ST, message: /corrupt header: not valid JSON/ },
  { name: 'a tensor of the wrong shape', edit: header((h) => ((h[K].shape = [128, 64]), (h[V].shape = [128, 64]))), error: CheckpointError, file: ST, field: K, message: /shape \[128,64\], expected \[64,128\]/ },
  { name: 'a tensor of an integer dtype', edit: header((h) => ((h[DOWN].dtype = 'I16'), void 0)), error: CheckpointError, file: ST, field: DOWN, message: /dtype I16/ },
  // Shards and the index.
  { name: 'the same tensor in two shards', edit: (d) => sharded(d, (s) => (s['model-00001-of-00002.safetensors']['model.norm.weight'] = s['model-00002-of-00002.safetensors']['model.norm.weight'])), error: CheckpointError, file: 'model-00002-of-00002.safetensors', field: 'model.norm.weight', message: /is also in .*model-00001-of-00002.safetensors; a tensor must be in exactly one shard/ },
  { name: 'a shard tensor the index does not list', edit: (d) => sharded(d, (_s, m) => delete m['model.norm.weight']), error: CheckpointError, file: 'model-00002-of-00002.safetensors', field: 'model.norm.weight', message: /not listed in .*weight_map/ },
  { name: 'an index naming the wrong shard', edit: (d) => sharded(d, (_s, m) => (m['model.norm.weight'] = 'model-00001-of-00002.safetensors')), error: CheckpointError, file: INDEX, field: "weight_map['model.norm.weight']", message: /names model-00001-of-00002.safetensors but the tensor is in/ },
  { name: "a shard name with '../'", edit: (d) => sharded(d, (_s, m) => (m['model.norm.weight'] = '../outside.safetensors')), error: ModelFileError, file: INDEX, field: "weight_map['model.norm.weight']", message: /contains a path separator/ },
  { name: 'an absolute shard name', edit: (d) => sharded(d, (_s, m) => (m['model.norm.weight'] = '/etc/passwd')), error: ModelFileError, file: INDEX, field: "weight_map['model.norm.weight']", message: /is an absolute path/ },
  { name: "a shard name '..'", edit: (d) => sharded(d, (_s, m) => (m['model.norm.weight'] = '..')), error: ModelFileError, file: INDEX, field: "weight_map['model.norm.weight']", message: /is not a file name/ },
  { name: 'weight_map that is a list', edit: (d) => (sharded(d), editJson(d, INDEX, () => ({ weight_map: [] }))), error: CheckpointError, file: INDEX, field: 'weight_map', message: /must be an object/ },
  { name: 'an index that is null', edit: (d) => (sharded(d), editJson(d, INDEX, () => null)), error: ModelFileError, file: INDEX, message: /must hold a JSON object, got null/ },
  { name: 'a missing shard', edit: (d) => (sharded(d), rmSync(join(d, 'model-00002-of-00002.safetensors'))), error: ModelFileError, file: 'model-00002-of-00002.safetensors', message: /missing shard listed in/ },
  // What the files are.
  { name: 'model.safetensors is a FIFO', edit: (d) => (rmSync(join(d, ST)), mkfifo(join(d, ST))), error: ModelFileError, file: ST, message: /is a FIFO, not a regular file/ },
  { name: 'model.safetensors is a directory', edit: (d) => (rmSync(join(d, ST)), mkdirSync(join(d, ST))), error: ModelFileError, file: ST, message: /is a directory, not a regular file/ },
  { name: 'model.safetensors links to a device', edit: (d) => (rmSync(join(d, ST)), symlinkSync('/dev/zero', join(d, ST))), error: ModelFileError, file: ST, message: /is a character device/ },
  { name: 'config.json is a FIFO', edit: (d) => (rmSync(join(d, 'config.json')), mkfifo(join(d, 'config.json'))), error: ModelFileError, file: 'config.json', message: /is a FIFO/ },
  { name: 'config.json over the size cap', edit: (d) => truncateSync(join(d, 'config.json'), 17 * 2 ** 20), error: ModelFileError, file: 'config.json', message: /more than the 16.0 MiB/ },
  { name: 'no weights at all', edit: (d) => rmSync(join(d, ST)), error: ModelFileError, file: '.', message: /no model.safetensors or model.safetensors.index.json found/ },
  { name: '--model pointing at a file', model: (d) => join(d, 'config.json'), error: ModelFileError, file: 'config.json', message: /is a file, not a model directory/ },
  { name: '--model that does not exist', model: (d) => join(d, 'nope'), error: ModelFileError, file: 'nope', message: /no such model directory/ },
  // Tensor names against config.json.
  { name: 'num_hidden_layers below the checkpoint', edit: config({ num_hidden_layers: 1 }), error: CheckpointError, file: 'config.json', field: 'num_hidden_layers', message: /num_hidden_layers is 1 but the checkpoint .* has 2 layers \(unexpected 'model.layers.1/ },
  { name: 'num_hidden_layers above the checkpoint', edit: config({ num_hidden_layers: 3 }), error: CheckpointError, file: 'config.json', field: 'num_hidden_layers', message: /num_hidden_layers is 3 but the checkpoint .* has 2 layers \(missing 'model.layers.2/ },
  { name: 'an unexpected tensor (a Qwen3 q_norm)', edit: withTensor('model.layers.0.self_attn.q_norm.weight'), error: CheckpointError, file: ST, field: 'model.layers.0.self_attn.q_norm.weight', message: /unexpected tensor 'model.layers.0.self_attn.q_norm.weight': .*llama model has no such weight/ },
  { name: 'a bias the config does not declare', edit: withTensor('model.layers.0.self_attn.q_proj.bias'), error: CheckpointError, file: ST, field: 'model.layers.0.self_attn.q_proj.bias', message: /unexpected tensor 'model.layers.0.self_attn.q_proj.bias'/ },
  { name: 'a missing lm_head', edit: (d) => { const t = tinyTensors(tinyConfig()); delete t['lm_head.weight']; writeFileSync(join(d, ST), encodeSafetensors(t)); }, error: CheckpointError, file: '.', field: 'lm_head.weight', message: /missing tensor 'lm_head.weight'/ },
  // config.json fields.
  { name: 'config.json that is null', edit: json('config.json', () => null), error: ModelFileError, file: 'config.json', message: /must hold a JSON object, got null/ },
  { name: 'config.json truncated', edit: (d) => truncateSync(join(d, 'config.json'), 40), error: ModelFileError, file: 'config.json', message: /not valid JSON/ },
  { name: 'config.json missing', edit: (d) => rmSync(join(d, 'config.json')), error: ModelFileError, file: 'config.json', message: /missing/ },
  { name: 'architectures as a string', edit: config({ architectures: 'LlamaForCausalLM' }), error: ModelConfigError, file: 'config.json', field: 'architectures', message: /must be a non-empty list of class names/ },
  { name: 'an unsupported architecture', edit: config({ architectures: ['GPT2LMHeadModel'] }), error: UnsupportedArchitectureError, file: 'config.json', field: 'architectures', message: /unsupported architecture "GPT2LMHeadModel"/ },
  { name: 'hidden_size as a string', edit: config({ hidden_size: '64' }), error: ModelConfigError, file: 'config.json', field: 'hidden_size', message: /field 'hidden_size' must be an integer >= 1, got "64"/ },
  { name: 'rope_theta as a string', edit: config({ rope_theta: '10000' }), error: ModelConfigError, file: 'config.json', field: 'rope_theta', message: /field 'rope_theta' must be a number/ },
  { name: 'a rope factor as a string', edit: config({ rope_scaling: { rope_type: 'linear', factor: '2' } }), error: ModelConfigError, file: 'config.json', field: 'rope_scaling.factor', message: /field 'rope_scaling.factor' must be a number/ },
  { name: 'tie_word_embeddings as a string', edit: config({ tie_word_embeddings: 'false' }), error: ModelConfigError, file: 'config.json', field: 'tie_word_embeddings', message: /must be true or false/ },
  { name: 'an eos id outside the vocabulary', edit: config({ eos_token_id: [1, 5000] }), error: ModelConfigError, file: 'config.json', field: 'eos_token_id[1]', message: /5000 is outside the vocabulary \(vocab_size 1024\)/ },
  { name: 'a negative eos id', edit: config({ eos_token_id: -1 }), error: ModelConfigError, file: 'config.json', field: 'eos_token_id', message: /must be a token id/ },
  { name: 'a bos id outside the vocabulary', edit: config({ bos_token_id: 1024 }), error: ModelConfigError, file: 'config.json', field: 'bos_token_id', message: /1024 is outside the vocabulary/ },
  // Quantized checkpoints and --quantization (docs/QUANTIZATION.md).
  { name: 'a bitsandbytes checkpoint', edit: config({ quantization_config: { quant_method: 'bitsandbytes', load_in_4bit: true } }), error: ModelConfigError, file: 'config.json', field: 'quantization_config.quant_method', message: /'quantization_config.quant_method' "bitsandbytes" is not supported: tknp reads 'awq' \(GEMM, 4-bit\) and 'gptq'/ },
  { name: 'a GPTQ checkpoint with desc_act true', base: GPTQ, edit: qconfig({ desc_act: true }), error: ModelConfigError, file: 'config.json', field: 'quantization_config.desc_act', message: /'quantization_config.desc_act' true is not supported/ },
  { name: 'a GPTQ checkpoint of 3 bits', base: GPTQ, edit: qconfig({ bits: 3 }), error: ModelConfigError, file: 'config.json', field: 'quantization_config.bits', message: /bits' 3 is not supported: tknp reads GPTQ checkpoints of 4 or 8 bits/ },
  { name: 'an AWQ checkpoint of version gemv', base: AWQ, edit: qconfig({ version: 'gemv' }), error: ModelConfigError, file: 'config.json', field: 'quantization_config.version', message: /'quantization_config.version' "gemv" is not supported: tknp reads AWQ's GEMM packing/ },
  { name: 'a GPTQ group_size that does not divide in_features', base: GPTQ, edit: qconfig({ group_size: 48 }), error: ModelConfigError, file: 'config.json', field: 'quantization_config.group_size', message: /quantization_config.group_size 48 does not divide in_features 128 of 'q_proj' into whole groups/ },
  { name: 'an AWQ checkpoint keeping only v_proj in f16', base: AWQ, edit: qconfig({ modules_to_not_convert: ['self_attn.v_proj'] }), error: ModelConfigError, file: 'config.json', field: 'quantization_config.modules_to_not_convert', message: /quantizes 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.k_proj.weight' but not 'model.layers.0.self_attn.v_proj.weight'; tknp runs them as one fused linear/ },
  { name: '--quantization int8 on an AWQ checkpoint', base: AWQ, args: ['--quantization', 'int8'], error: ModelConfigError, file: 'config.json', field: 'quantization_config', message: /--quantization int8 asks to quantize weights that are already quantized \(quantization_config: awq 4-bit \(g64, asymmetric\)\)/ },
  { name: 'an AWQ qweight stored as F16', base: AWQ, edit: header((h) => ((h['model.layers.1.mlp.up_proj.qweight'].dtype = 'F32'), void 0)), error: CheckpointError, file: ST, field: 'model.layers.1.mlp.up_proj.qweight', message: /tensor 'model.layers.1.mlp.up_proj.qweight' has dtype F32; expected I32/ },
  { name: 'a GPTQ checkpoint without a qzeros', base: GPTQ, edit: withoutTensor('model.layers.0.mlp.down_proj.qzeros'), error: CheckpointError, field: 'model.layers.0.mlp.down_proj.qzeros', message: /missing tensor 'model.layers.0.mlp.down_proj.qzeros'/ },
  { name: 'a GPTQ g_idx out of order (desc_act)', base: GPTQ, edit: (d) => pokeI32(join(d, ST), 'model.layers.1.self_attn.o_proj.g_idx', 70, 0), gpu: true, error: CheckpointError, file: ST, field: 'model.layers.1.self_attn.o_proj.g_idx', message: /has group 0 at index 70, expected 1 \(floor\(k \/ group_size 64\)\): a permuted g_idx \(desc_act\) is not supported/ },
  { name: 'a symmetric GPTQ checkpoint whose zeros are not 8', base: GPTQ, edit: (d) => pokeI32(join(d, ST), 'model.layers.0.self_attn.k_proj.qzeros', 8, 0x77777775), gpu: true, error: CheckpointError, file: ST, field: 'model.layers.0.self_attn.k_proj.qzeros', message: /holds zero 6 for group 1 of output 0, but quantization_config.sym true means every zero is 8/ },
  { name: '--quantization int4 on in_features that are not a multiple of 32', edit: config({ hidden_size: 200 }), args: ['--quantization', 'int4'], error: QuantLayoutError, message: /q_proj: in_features 200 is not a multiple of 32, so int4 \(g128, asymmetric\) has no group size/ },
  { name: '--quantization int4 --tp 2 splitting down_proj off its groups', edit: config({ intermediate_size: 384 }), args: ['--quantization', 'int4', '--tp', '2'], error: QuantLayoutError, message: /down_proj \(row-parallel\): a \[128, 384\] 4-bit weight with groups of 128 cannot be split by in_features into 2 tensor-parallel parts of 192/ },
  { name: 'a multimodal Gemma 3 (Gemma3ForConditionalGeneration)', edit: config({ architectures: ['Gemma3ForConditionalGeneration'] }), error: UnsupportedArchitectureError, file: 'config.json', field: 'architectures', message: /unsupported architecture "Gemma3ForConditionalGeneration": tknp supports LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM/ },
  { name: 'hidden_act gelu', edit: config({ hidden_act: 'gelu' }), error: ModelConfigError, file: 'config.json', field: 'hidden_act', message: /hidden_act 'gelu' is not supported \(silu, gelu_pytorch_tanh\)/ },
  { name: 'a Gemma 2 attn_logit_softcapping of 0', edit: config({ architectures: ['Gemma2ForCausalLM'], attn_logit_softcapping: 0 }), error: ModelConfigError, file: 'config.json', field: 'attn_logit_softcapping', message: /must be a number in \(0, Infinity\), got 0/ },
  { name: 'head_dim 112', edit: config({ head_dim: 112 }), error: ModelConfigError, file: 'config.json', field: 'head_dim', message: /head_dim 112 is not supported \(the attention kernels take 64, 80, 96, 128, 256\)/ },
  { name: 'a GQA ratio of 65', edit: config({ num_attention_heads: 130, num_key_value_heads: 2 }), error: ModelConfigError, file: 'config.json', field: 'num_key_value_heads', message: /65 q heads per kv head is not supported \(at most 64\)/ },
  { name: 'a partial_rotary_factor giving an odd rotated width', edit: config({ partial_rotary_factor: 0.3 }), error: ModelConfigError, file: 'config.json', field: 'partial_rotary_factor', message: /partial_rotary_factor 0.3 gives 19 rotated dims of head_dim 64: tknp takes a factor in \(0, 1\] giving an even number >= 2/ },
  { name: 'a partial_rotary_factor above 1', edit: config({ partial_rotary_factor: 1.5 }), error: ModelConfigError, file: 'config.json', field: 'partial_rotary_factor', message: /partial_rotary_factor 1.5 gives 96 rotated dims/ },
  { name: 'an unsupported rope type', edit: config({ rope_scaling: { rope_type: 'mrope', factor: 2 } }), error: ModelConfigError, file: 'config.json', field: 'rope_scaling.rope_type', message: /rope type 'mrope' is not supported \(default, linear, dynamic, llama3, yarn, longrope\)/ },
  { name: 'longrope factors of the wrong length', edit: config({ rope_scaling: { rope_type: 'longrope', short_factor: [1, 1], long_factor: [1, 1] } }), error: ModelConfigError, file: 'config.json', field: 'rope_scaling.short_factor', message: /field 'rope_scaling.short_factor' must be a list of 32 numbers > 0, got "a list of 2/ },
  { name: 'sliding_window 0', base: MISTRAL, edit: config({ sliding_window: 0 }), error: ModelConfigError, file: 'config.json', field: 'sliding_window', message: /must be an integer >= 1, got 0/ },
  { name: 'a negative sliding_window', base: MISTRAL, edit: config({ sliding_window: -4096 }), error: ModelConfigError, file: 'config.json', field: 'sliding_window', message: /got -4096/ },
  { name: '--max-model-len 1e12', args: ['--max-model-len', '1e12'], error: ModelConfigError, file: 'config.json', field: 'max_position_embeddings', message: /--max-model-len 1000000000000 exceeds max_position_embeddings 256/ },
  { name: 'max_position_embeddings 1e12 served whole', edit: config({ max_position_embeddings: 1e12 }), gpu: true, error: MemoryPlanError, field: 'maxModelLen', message: /lower maxModelLen \(--max-model-len\)/ },
  // generation_config.json.
  { name: 'generation_config.json that is null', edit: json('generation_config.json', () => null), error: ModelFileError, file: 'generation_config.json', message: /must hold a JSON object, got null/ },
  { name: 'generation_config.json truncated', edit: (d) => truncateSync(join(d, 'generation_config.json'), 10), error: ModelFileError, file: 'generation_config.json', message: /not valid JSON/ },
  { name: 'a generation temperature as a string', edit: json('generation_config.json', (g) => ({ ...g, temperature: '0.7' })), error: ModelConfigError, file: 'generation_config.json', field: 'temperature', message: /must be a finite number, got "0.7"/ },
  { name: 'a negative generation temperature', edit: json('generation_config.json', (g) => ({ ...g, do_sample: true, temperature: -1 })), error: ModelConfigError, file: 'generation_config.json', field: 'temperature', message: /-1 must be >= 0/ },
  { name: 'a generation eos id outside the vocabulary', edit: json('generation_config.json', (g) => ({ ...g, eos_token_id: 99999 })), error: ModelConfigError, file: 'generation_config.json', field: 'eos_token_id', message: /99999 is outside the vocabulary/ },
  // Tokenizer and chat template.
  { name: 'a tokenizer larger than vocab_size', base: makeTinyModel({ vocabSize: 1000 }), error: TokenizerError, file: 'tokenizer.json', field: 'vocab_size', message: /has token ids up to 1023 but .*config.json has vocab_size 1000/ },
  { name: 'tokenizer.json that is null', edit: json('tokenizer.json', () => null), error: ModelFileError, file: 'tokenizer.json', message: /got null/ },
  { name: 'tokenizer.json missing', edit: (d) => rmSync(join(d, 'tokenizer.json')), error: ModelFileError, file: 'tokenizer.json', message: /missing/ },
  { name: 'a chat_template that is a number', edit: loopTemplate(42 as unknown as string), error: ChatTemplateError, file: 'tokenizer_config.json', field: 'chat_template', message: /must be a string or a list/ },
  { name: 'a chat_template that does not parse', edit: loopTemplate('{% for %}'), error: ChatTemplateError, file: 'tokenizer_config.json', field: 'chat_template', message: /does not parse/ },
  { name: 'a chat template looping range(100000000)', edit: loopTemplate('{% for i in range(100000000) %}{% endfor %}'), args: ['--chat'], gpu: true, error: ChatTemplateError, file: 'tokenizer_config.json', field: 'chat_template', message: /range\(\) of 100000000 items is more than the 1000000/ },
  { name: 'a chat template rendering 65 M characters', edit: loopTemplate(`{% set ns = namespace(t='${'x'.repeat(4000)}') %}{% for i in range(14) %}{% set ns.t = ns.t + ns.t %}{% endfor %}{{ ns.t }}`), args: ['--chat'], gpu: true, error: ChatTemplateError, file: 'tokenizer_config.json', field: 'chat_template', message: /rendered 65536000 characters, more than the 33554432/ },
  { name: 'a chat template raising', edit: loopTemplate("{{ raise_exception('roles must alternate') }}"), args: ['--chat'], gpu: true, error: ChatTemplateError, file: 'tokenizer_config.json', field: 'chat_template', message: /chat template failed: roles must alternate/ },
  // Engine options against the model and the machine.
  { name: '--stop-token-ids 999999', args: ['--stop-token-ids', '999999'], gpu: true, error: SamplingParamsError, field: 'stopTokenIds[0]', message: /outside the vocabulary \(0..1023\)/ },
  // The widest activation row at 2^20 tokens outgrows lavapipe's 128 MiB binding (refused before anything is
  // allocated); an adapter whose binding holds it (the H100: 2 GiB) serves the plan, which is then valid.
  {
    name: '--kv-cache-memory 0.1 --max-num-batched-tokens 1048576',
    args: ['--kv-cache-memory', '0.1', '--max-num-batched-tokens', '1048576'],
    gpu: true,
    validHere: (g) => {
      const c = JSON.parse(readFileSync(join(LLAMA, 'config.json'), 'utf8')) as { hidden_size: number; intermediate_size: number };
      const bytes = 2 ** 20 * Math.max(c.hidden_size, 2 * c.intermediate_size) * 2;
      const limit = Number(g.limits.maxStorageBufferBindingSize);
      return bytes <= limit ? `its ${bytes} bytes of activations fit this adapter's ${limit}-byte binding` : undefined;
    },
    error: MemoryPlanError,
    field: 'maxNumBatchedTokens',
    message: /lower maxNumBatchedTokens \(--max-num-batched-tokens\)/,
  },
  { name: '--gpu-memory 1000000 --max-num-seqs 65536', args: ['--gpu-memory', '1000000', '--max-num-seqs', '65536'], gpu: true, error: MemoryPlanError, field: 'gpuMemoryBytes', message: /--gpu-memory 1000000.0 GiB is more than the device has/ },
  { name: '--kv-cache-memory beyond the device', args: ['--kv-cache-memory', '100000', '--gpu-memory', '1'], gpu: true, error: MemoryPlanError, field: 'kvCacheBytes', message: /more than 1.0 GiB, the device memory .*lower kvCacheBytes \(--kv-cache-memory\)/ },
];

async function refusal(c: Case): Promise<{ err: Error; dir: string }> {
  const dir = copyModel(c.base ?? LLAMA);
  c.edit?.(dir);
  const model = c.model?.(dir) ?? dir;
  const err = await runCli(['generate', '--model', model, '-q', '-n', '2', '--temperature', '0', '-p', 'hi', ...(c.args ?? [])]).then(
    () => new Error('accepted'),
    (e: Error) => e,
  );
  return { err, dir };
}

describe('tknp generate refuses a broken model directory or command line with one named error', () => {
  it('has the cases the issue lists (and more)', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  for (const c of CASES) {
    const valid = gpu && c.validHere?.(gpu);
    const skip = (c.gpu === true && !gpu) || !!valid;
    it.skipIf(skip)(`${c.name}${skip ? ` (skipped: ${valid ? `valid on this adapter: ${valid}` : noGpuReason()})` : ''}`, async () => {
      const { err, dir } = await refusal(c);
      expect(err.message).toMatch(c.message);
      expect(err).toBeInstanceOf(c.error);
      expect(err.name).toBe(c.error.name);
      const e = err as Error & { file?: string; field?: string };
      if (c.file !== undefined) expect(e.file).toBe(c.file.startsWith('/') ? c.file : join(dir, c.file));
      if (c.field !== undefined) expect(e.field).toBe(c.field);
      expect(err.message).not.toMatch(/\n/);
      rmSync(dir, { recursive: true, force: true });
    });
  }

});
