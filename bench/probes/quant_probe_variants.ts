// The kernels bench/probes/quant_probe.ts compares, dispatched for x [M, K] f16, a quantized weight [N, K]
// and out [M, N] f16 (no bias): the shipped quantized plan (kernels/quant_linear: 'cur' its default plan, the
// BK-64 QUANT stream for few rows; 'cur-fast' its fast mode) and the wide-load probes of quant_stream_kernels.ts,
// compiled from generated WGSL with the shader library's includes (sw*: the probe of the wide stream that
// shipped as shaders/quant_linear_stream, opt-in, until it was removed for measuring slower on the H100).
import type { Gpu } from '../../src/gpu/gpu.js';
import { grid, type Recorder } from '../../src/gpu/recorder.js';
import { preprocess } from '../../src/gpu/shaders.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { GEMV_MAX_ROWS, STREAM_AUTO_ROWS } from '../../src/kernels/linear.js';
import { planQuantLinear, quantLayout, quantLinear } from '../../src/kernels/quant_linear.js';
import type { QuantizedWeight } from '../../src/kernels/quantized_weight.js';
import { GEMV_GROUPS, quantGemvWide, quantStreamWide, type QuantFormat } from './quant_stream_kernels.js';

export type VariantName = 'f16' | 'cur' | 'cur-fast' | 'gemv' | `sw${128 | 256 | 64}${'' | 'h'}` | `gw${1 | 2 | 4}x${1 | 2 | 4}`;

/** Whether variant v runs M rows (sw: the stream's default rows; gw: the GEMV's). */
export function variantRows(v: string, M: number): boolean {
  if (v.startsWith('sw')) return M <= STREAM_AUTO_ROWS;
  if (v.startsWith('gw') || v === 'gemv') return M <= GEMV_MAX_ROWS;
  return true;
}

const pipelines = new Map<string, GPUComputePipeline>();

/** A pipeline from generated WGSL (lib includes resolved, `defines` applied), cached by its text. */
function probePipeline(gpu: Gpu, label: string, code: string, defines: string[]): GPUComputePipeline {
  const key = `${defines.join(',')}\n${code}`;
  let p = pipelines.get(key);
  if (!p) {
    const text = preprocess(code, new Set(defines), label, (lib) => gpu.shaders.source(`lib/${lib}`));
    const module = gpu.device.createShaderModule({ code: text, label });
    p = gpu.device.createComputePipeline({ label: `${label}|probe`, layout: 'auto', compute: { module, entryPoint: 'main' } });
    pipelines.set(key, p);
  }
  return p;
}

function formatOf(w: QuantizedWeight): QuantFormat {
  return { bits: w.bits, zeros: w.zeros !== null, groupSize: w.groupSize };
}

function weightTensors(w: QuantizedWeight): Tensor[] {
  return w.zeros ? [w.qweight, w.scales, w.zeros] : [w.qweight, w.scales];
}

// x: [M, K] f16; w: logical [N, K]; out: [M, N] f16
export function runVariant(gpu: Gpu, rec: Recorder, v: VariantName, x: Tensor, w: QuantizedWeight, out: Tensor, emulate: boolean): void {
  const [M, K] = x.shape;
  const N = w.shape[0];
  if (v === 'gemv') {
    quantLinear(rec, x, w, null, out, { variant: 'gemv' }); // the shipped fast-mode GEMV at any M ≤ 8
    return;
  }
  if (v === 'cur' || v === 'cur-fast') {
    quantLinear(rec, x, w, null, out, v === 'cur-fast' ? { mode: 'fast' } : emulate ? { variant: 'subgroup-matrix-emulated' } : {});
    return;
  }
  const f = formatOf(w);
  const sw = /^sw(\d+)(h?)$/.exec(v);
  if (sw) {
    const BK = Number(sw[1]) as 64 | 128 | 256;
    const plan = planQuantLinear(gpu, M, N, K, quantLayout(w), { tile: 'stream', ...(emulate ? { variant: 'subgroup-matrix-emulated' as const } : {}) });
    const fold = plan.fold!;
    if (plan.shader !== 'linear_subgroup_matrix_stream' || fold.rows > 32) throw new Error(`${v}: the plan is ${plan.schedule}, not a 16- or 32-row stream`);
    const segLen = plan.params[3] as number;
    if (segLen % BK !== 0 || K % BK !== 0) throw new Error(`${v}: segment ${segLen} / K ${K} not a multiple of BK ${BK}`);
    const code = quantStreamWide({ format: f, BK, TM: fold.rows === 32 ? 2 : 1, dequant: sw[2] ? 'h' : 'f32', emulate });
    const defines = ['QUANT', ...(emulate ? ['EMULATE'] : []), ...(gpu.caps.subgroupMatrixSyntax === 'bool' ? ['SGM_BOOL'] : [])];
    const pipe = probePipeline(gpu, `quant_stream_${v}`, code, defines);
    const part = rec.scratch([fold.numSeg, fold.rows, N], 'f32', 'quant-probe.partials');
    rec.dispatch(pipe, [x, ...weightTensors(w), part], plan.params, plan.workgroups);
    rec.dispatch(gpu.pipeline('linear_fold', { defines: fold.defines }), [part, out], fold.params, fold.workgroups);
    return;
  }
  const gw = /^gw(\d)x(\d)$/.exec(v);
  if (gw) {
    const RS = Number(gw[1]) as 1 | 2 | 4;
    const U = Number(gw[2]) as 1 | 2 | 4;
    if (M > GEMV_MAX_ROWS) throw new Error(`${v}: M ${M} > ${GEMV_MAX_ROWS}`);
    const MR = M <= 1 ? 1 : M <= 2 ? 2 : M <= 4 ? 4 : 8;
    const sgReduce = gpu.caps.subgroups && gpu.caps.subgroupMinSize === 32 && gpu.caps.subgroupMaxSize === 32;
    const pipe = probePipeline(gpu, `quant_gemv_${v}`, quantGemvWide({ format: f, RS, U, MR, sgReduce }), []);
    rec.dispatch(pipe, [x, ...weightTensors(w), out], [M, N, K, 0], grid(Math.ceil(N / (GEMV_GROUPS * RS))));
    return;
  }
  throw new Error(`quant_probe: unknown variant '${v}'`);
}
