// Tiny AWQ and GPTQ checkpoints built by tests: the tiny Llama of model_dir.ts with every projection
// stored as seeded random integers (q, zero points) and f16 scales, packed here in each format's
// documented layout (written out independently of src/quant: AWQ's GEMM order 0,2,4,6,1,3,5,7 along
// N; GPTQ's plain order along K for qweight and along N for qzeros, v1 zeros stored minus 1). The
// integers come back as `truth`, what the loader must reproduce in tknp's layout.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors, type RawTensor } from '../../src/loader/safetensors_writer.js';
import { f32ToF16Bits } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { editJson, makeTinyModel, tinyConfig, tinyTensors } from './model_dir.js';

export interface QuantModelOptions {
  readonly method: 'awq' | 'gptq';
  readonly bits?: 4 | 8;
  readonly sym?: boolean;
  /** −1: per channel (GPTQ). */
  readonly groupSize?: number;
  readonly checkpointFormat?: 'gptq' | 'gptq_v2';
  /** Extra quantization_config fields. */
  readonly extra?: Record<string, unknown>;
  readonly seed?: number;
}

/** One projection's integers: q [N, K] unsigned, real zeros [N, G], scales [N, G] f16 bits. */
export interface QuantTruth {
  readonly shape: [number, number];
  readonly groupSize: number;
  readonly q: Int32Array;
  readonly zeros: Int32Array;
  readonly scales: Uint16Array;
}

const AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7];

function i32(words: Uint32Array, shape: number[]): RawTensor {
  return { dtype: 'I32', shape, data: new Uint8Array(words.buffer, words.byteOffset, words.byteLength) };
}

function f16(bits: Uint16Array, shape: number[]): RawTensor {
  return { dtype: 'F16', shape, data: new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength) };
}

/** The checkpoint tensors of one quantized linear. */
function pack(o: QuantModelOptions, t: QuantTruth): Record<string, RawTensor> {
  const [N, K] = t.shape;
  const g = t.groupSize;
  const G = K / g;
  const bits = o.bits ?? 4;
  const scalesKN = new Uint16Array(G * N); // [K/g, N]
  for (let n = 0; n < N; n++) for (let gi = 0; gi < G; gi++) scalesKN[gi * N + n] = t.scales[n * G + gi];
  if (o.method === 'awq') {
    const qweight = new Uint32Array(K * (N / 8)); // [K, N/8]
    const qzeros = new Uint32Array(G * (N / 8)); // [K/g, N/8]
    for (let k = 0; k < K; k++) for (let w = 0; w < N / 8; w++) for (let i = 0; i < 8; i++) qweight[k * (N / 8) + w] |= t.q[(8 * w + AWQ_ORDER[i]) * K + k] << (4 * i);
    for (let gi = 0; gi < G; gi++) for (let w = 0; w < N / 8; w++) for (let i = 0; i < 8; i++) qzeros[gi * (N / 8) + w] |= t.zeros[(8 * w + AWQ_ORDER[i]) * G + gi] << (4 * i);
    return { qweight: i32(qweight, [K, N / 8]), qzeros: i32(qzeros, [G, N / 8]), scales: f16(scalesKN, [G, N]) };
  }
  const pw = 32 / bits;
  const offset = (o.checkpointFormat ?? 'gptq') === 'gptq' ? 1 : 0;
  const qweight = new Uint32Array((K / pw) * N); // [K/pw, N]
  const qzeros = new Uint32Array(G * (N / pw)); // [K/g, N/pw]
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) qweight[Math.floor(k / pw) * N + n] |= t.q[n * K + k] << (bits * (k % pw));
  for (let gi = 0; gi < G; gi++) for (let n = 0; n < N; n++) qzeros[gi * (N / pw) + Math.floor(n / pw)] |= (t.zeros[n * G + gi] - offset) << (bits * (n % pw));
  const gIdx = Int32Array.from({ length: K }, (_, k) => Math.floor(k / g));
  return {
    qweight: i32(qweight, [K / pw, N]),
    qzeros: i32(qzeros, [G, N / pw]),
    scales: f16(scalesKN, [G, N]),
    g_idx: { dtype: 'I32', shape: [K], data: new Uint8Array(gIdx.buffer) },
  };
}

/** A tiny quantized Llama (config, safetensors, tokenizer) and each projection module's integers. */
export function makeQuantModel(o: QuantModelOptions): { dir: string; truth: Map<string, QuantTruth> } {
  const bits = o.bits ?? 4;
  const sym = o.method === 'gptq' && (o.sym ?? true);
  const qc =
    o.method === 'awq'
      ? { quant_method: 'awq', bits: 4, group_size: o.groupSize ?? 64, zero_point: true, version: 'gemm', modules_to_not_convert: null, ...o.extra }
      : { quant_method: 'gptq', bits, group_size: o.groupSize ?? 64, desc_act: false, sym, checkpoint_format: o.checkpointFormat ?? 'gptq', ...o.extra };
  const dir = makeTinyModel();
  editJson(dir, 'config.json', (c) => ({ ...c, quantization_config: qc }));
  const cfg = tinyConfig();
  const floats = tinyTensors(cfg);
  const rng = new Rng(o.seed ?? 11);
  const levels = 1 << bits;
  const truth = new Map<string, QuantTruth>();
  const out: Record<string, RawTensor> = {};
  for (const [name, t] of Object.entries(floats)) {
    const m = /^(model\.layers\.\d+\.(self_attn|mlp)\.\w+_proj)\.weight$/.exec(name);
    const keep = (o.extra?.modules_to_not_convert as string[] | undefined) ?? [];
    if (!m || keep.some((k) => name.includes(k))) {
      out[name] = t;
      continue;
    }
    const [N, K] = t.shape as [number, number];
    const g = (o.groupSize ?? 64) === -1 ? K : (o.groupSize ?? 64);
    const G = K / g;
    const q = Int32Array.from({ length: N * K }, () => rng.int(0, levels - 1));
    // v1 cannot store a zero of 0 (it stores zero − 1); zeros stay within the stored range.
    const zeros = Int32Array.from({ length: N * G }, () => (sym ? levels / 2 : rng.int(1, levels - 1)));
    const scales = Uint16Array.from({ length: N * G }, () => f32ToF16Bits(rng.uniform(0.001, 0.02)));
    const tr: QuantTruth = { shape: [N, K], groupSize: g, q, zeros, scales };
    truth.set(m[1], tr);
    for (const [suffix, raw] of Object.entries(pack(o, tr))) out[`${m[1]}.${suffix}`] = raw;
  }
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(out));
  return { dir, truth };
}
