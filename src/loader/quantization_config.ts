// config.json's `quantization_config` → CheckpointQuantization: the pre-quantized checkpoint
// formats tknp reads (docs/QUANTIZATION.md), validated once. Anything else is refused naming the
// field, its value and what is supported, rather than loaded wrong:
//   AWQ  (quant_method 'awq'): GEMM packing (version 'gemm'), 4-bit, zero_point true, group_size
//        dividing in_features (128 in practice);
//   GPTQ (quant_method 'gptq'): bits 4 or 8, sym true or false, group_size (−1: per output channel),
//        desc_act false, checkpoint_format 'gptq' (zeros stored minus 1) or 'gptq_v2' (stored as is),
//        int32 packing, lm_head not quantized.
// `modules_to_not_convert` (AWQ) and `modules_in_block_to_quantize` are honoured by name: a linear
// whose module name contains a listed entry (AWQ) or that is not listed (GPTQ) stays f16.
import { ModelConfigError } from './errors.js';
import { JsonFields } from './json_fields.js';

export interface CheckpointQuantization {
  readonly method: 'awq' | 'gptq';
  readonly bits: 4 | 8;
  /** Group size along in_features; null: one group per output channel (GPTQ's group_size −1). */
  readonly groupSize: number | null;
  /** Symmetric (GPTQ sym true): every zero is 2^(bits−1). AWQ: false. */
  readonly symmetric: boolean;
  /** What the stored zero is below the real one: 1 for GPTQ's v1 format ('gptq'), 0 for AWQ and 'gptq_v2'. */
  readonly zeroOffset: 0 | 1;
  /** AWQ's modules_to_not_convert: a linear whose module name contains one of these is stored f16. */
  readonly notConverted: readonly string[];
  /** GPTQ's modules_in_block_to_quantize (flattened): only linears whose name ends with one are quantized; null: all. */
  readonly onlyModules: readonly string[] | null;
  /** One line for logs: e.g. 'awq 4-bit (g128, asymmetric)'. */
  readonly description: string;
}

const PREFIX = 'quantization_config.';

/** A list of module names (or of lists of them, as modules_in_block_to_quantize), flattened; null when absent. */
function stringList(f: JsonFields, key: string): string[] | null {
  const v = f.raw[key];
  if (v === undefined || v === null) return null;
  const flat = Array.isArray(v) ? (v as unknown[]).flat() : null;
  if (!flat || flat.some((x) => typeof x !== 'string')) {
    throw new ModelConfigError(f.file, `field '${PREFIX}${key}' must be a list of module names, got ${JSON.stringify(v)}`, PREFIX + key);
  }
  return flat as string[];
}

/** Refuses `key` unless its value (default `def`) is one of `ok`. */
function oneOf<T>(f: JsonFields, key: string, value: T, ok: readonly T[], what: string): T {
  if (!ok.includes(value)) throw new ModelConfigError(f.file, `field '${PREFIX}${key}' ${JSON.stringify(value)} is not supported: tknp reads ${what}`, PREFIX + key);
  return value;
}

function groupLabel(g: number | null): string {
  return g === null ? 'per channel' : `g${g}`;
}

function parseAwq(f: JsonFields): CheckpointQuantization {
  const bits = f.int('bits', f.int('w_bit', 4));
  oneOf(f, f.raw.bits !== undefined ? 'bits' : 'w_bit', bits, [4], 'AWQ checkpoints of 4 bits');
  const groupSize = f.int('group_size', f.int('q_group_size', 128));
  oneOf(f, 'zero_point', f.bool('zero_point', true), [true], 'AWQ checkpoints with zero_point true');
  oneOf(f, 'version', f.str('version', 'gemm').toLowerCase(), ['gemm'], "AWQ's GEMM packing (version 'gemm'); 'gemv', 'exllama' and the other packings are not read");
  const skip = stringList(f, 'modules_to_not_convert') ?? [];
  return {
    method: 'awq',
    bits: 4,
    groupSize,
    symmetric: false,
    zeroOffset: 0,
    notConverted: skip,
    onlyModules: null,
    description: `awq 4-bit (${groupLabel(groupSize)}, asymmetric)`,
  };
}

function parseGptq(f: JsonFields): CheckpointQuantization {
  const bits = oneOf(f, 'bits', f.int('bits'), [4, 8], 'GPTQ checkpoints of 4 or 8 bits') as 4 | 8;
  const g = f.raw.group_size === -1 ? -1 : f.int('group_size', 128);
  const symmetric = f.bool('sym', true);
  oneOf(f, 'desc_act', f.bool('desc_act', false), [false], 'GPTQ checkpoints quantized with desc_act false (activation order, whose g_idx permutes the groups, is not supported)');
  const formatKey = f.raw.checkpoint_format !== undefined ? 'checkpoint_format' : 'format';
  const format = oneOf(f, formatKey, f.str(formatKey, 'gptq'), ['gptq', 'gptq_v2'], "GPTQ's 'gptq' and 'gptq_v2' formats");
  oneOf(f, 'pack_dtype', f.str('pack_dtype', 'int32'), ['int32'], 'GPTQ values packed into int32 words');
  oneOf(f, 'lm_head', f.bool('lm_head', false), [false], 'GPTQ checkpoints whose lm_head is not quantized');
  const dynamic = f.raw.dynamic;
  if (dynamic != null && !(typeof dynamic === 'object' && Object.keys(dynamic).length === 0)) {
    throw new ModelConfigError(f.file, `field '${PREFIX}dynamic' ${JSON.stringify(dynamic)} is not supported: tknp reads GPTQ checkpoints with one bits/group_size/sym for every module`, PREFIX + 'dynamic');
  }
  const inBlock = stringList(f, 'modules_in_block_to_quantize');
  return {
    method: 'gptq',
    bits,
    groupSize: g === -1 ? null : g,
    symmetric,
    zeroOffset: format === 'gptq' ? 1 : 0,
    notConverted: [],
    onlyModules: inBlock,
    description: `gptq ${bits}-bit (${groupLabel(g === -1 ? null : g)}, ${symmetric ? 'symmetric' : 'asymmetric'}${format === 'gptq_v2' ? ', v2' : ''})`,
  };
}

/** Whether the linear named `module` (e.g. 'model.layers.0.self_attn.q_proj') is stored quantized. */
export function quantizesModule(q: CheckpointQuantization, module: string): boolean {
  if (q.notConverted.some((s) => module.includes(s))) return false;
  return q.onlyModules === null || q.onlyModules.some((m) => module.endsWith(`.${m}`));
}

/** Parses config.json's quantization_config (raw: the whole config.json); null when absent. */
export function parseQuantizationConfig(raw: Readonly<Record<string, unknown>>, file: string): CheckpointQuantization | null {
  const q = raw.quantization_config;
  if (q === undefined || q === null) return null;
  if (typeof q !== 'object' || Array.isArray(q)) throw new ModelConfigError(file, `field 'quantization_config' must be an object, got ${JSON.stringify(q)}`, 'quantization_config');
  const f = new JsonFields(q as Record<string, unknown>, file, ModelConfigError, PREFIX);
  const method = f.str('quant_method', '');
  if (method === 'awq') return parseAwq(f);
  if (method === 'gptq') return parseGptq(f);
  throw new ModelConfigError(
    file,
    `field '${PREFIX}quant_method' ${JSON.stringify(q && (q as Record<string, unknown>).quant_method)} is not supported: tknp reads 'awq' (GEMM, 4-bit) and 'gptq' (4 or 8 bits, desc_act false) checkpoints, or quantizes f16/bf16 ones at load (--quantization int8|int4|w8a8)`,
    PREFIX + 'quant_method',
  );
}
