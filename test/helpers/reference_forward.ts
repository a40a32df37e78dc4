// A float64 forward pass of the Llama-family architectures tknp runs, written from transformers'
// modeling files (LlamaDecoderLayer, Qwen3Attention, Phi3Attention/Phi3MLP, Gemma2DecoderLayer,
// Gemma3Attention), not from src/model: the full causal forward over a token sequence, no KV cache,
// returning every position's logits. Tests compare the engine (f16, paged, chunked, replayed) with it
// on tiny random checkpoints; the transformers fixtures (tools/make_fixtures.py) anchor both.
// Config parsing and the RoPE frequencies come from src/ (loader/model_config, model/rope: each
// tested on its own against transformers' values).
import type { ModelConfig } from '../../src/loader/model_config.js';
import type { RawTensor } from '../../src/loader/safetensors_writer.js';
import { attentionScaling, ropeInvFreq, ropeParamsOf } from '../../src/model/rope.js';
import { f16BitsToF32 } from '../../src/util/f16.js';

type Vec = Float64Array;

/** An F16 (or F32: e.g. dequantized weights) checkpoint tensor's values. */
function values(t: RawTensor): Vec {
  if (t.dtype === 'F32') return Float64Array.from(new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength)));
  if (t.dtype !== 'F16') throw new Error(`reference forward reads F16 or F32 tensors, got ${t.dtype}`);
  const u = new Uint16Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 2);
  return Float64Array.from(u, f16BitsToF32);
}

// y = W x (+ b), W: [out, in] row-major
function matvec(w: Vec, x: Vec, out: number, bias?: Vec): Vec {
  const n = x.length;
  const y = new Float64Array(out);
  for (let r = 0; r < out; r++) {
    let s = bias ? bias[r] : 0;
    for (let c = 0; c < n; c++) s += w[r * n + c] * x[c];
    y[r] = s;
  }
  return y;
}

// transformers' RMSNorm: x / sqrt(mean(x²) + eps) · (offset + w) (Gemma: offset 1)
function rmsNorm(x: Vec, w: Vec, eps: number, offset: number): Vec {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * (offset + w[i]));
}

const silu = (g: number) => g / (1 + Math.exp(-g));
const geluTanh = (g: number) => 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g ** 3)));

/**
 * Logits [ids.length][vocab] of the model `c` with checkpoint `tensors` over `ids` (positions 0..n-1),
 * served up to `maxModelLen` tokens (what longrope's factors depend on).
 */
export function referenceLogits(
  c: ModelConfig,
  tensors: Record<string, RawTensor>,
  ids: readonly number[],
  maxModelLen: number,
  /** Applied to each projection's input (q/k/v, o, gate/up, down; not lm_head): W8A8's activation quantization. */
  projectionInput: (x: Vec) => Vec = (x) => x,
): Vec[] {
  const decoded = new Map<string, Vec>();
  const get = (name: string): Vec => {
    const t = tensors[name];
    if (!t) throw new Error(`reference forward: no tensor ${name}`);
    let v = decoded.get(name);
    if (!v) decoded.set(name, (v = values(t)));
    return v;
  };
  const { hiddenSize: H, numHeads: Hq, numKvHeads: Hk, headDim: D, rotaryDim: R, intermediateSize: I, vocabSize: V } = c;
  const gemma = c.sandwichNorms;
  const off = c.normWeightOffset;
  const T = ids.length;
  const ropeOf = (rope: ModelConfig['rope']) => {
    const p = ropeParamsOf({ ...c, rope }, maxModelLen);
    return { inv: ropeInvFreq(p), scale: attentionScaling(p) };
  };
  const globalRope = ropeOf(c.rope);
  const localRope = c.localRope ? ropeOf(c.localRope) : globalRope;
  // rotate_half RoPE on the first R dims of a head at `pos`, cos and sin times the attention scaling.
  const rotate = (x: Vec, at: number, pos: number, rope: { inv: Vec; scale: number }) => {
    const half = R / 2;
    for (let i = 0; i < half; i++) {
      const a = x[at + i];
      const b = x[at + i + half];
      const cos = Math.cos(pos * rope.inv[i]) * rope.scale;
      const sin = Math.sin(pos * rope.inv[i]) * rope.scale;
      x[at + i] = a * cos - b * sin;
      x[at + i + half] = b * cos + a * sin;
    }
  };
  const embed = get('model.embed_tokens.weight');
  let h: Vec[] = ids.map((id) => embed.slice(id * H, (id + 1) * H).map((v) => v * c.embedScale));
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const a = `${p}self_attn.`;
    const fused = c.fusedProjections ? get(`${a}qkv_proj.weight`) : null;
    const wq = fused ? fused.subarray(0, Hq * D * H) : get(`${a}q_proj.weight`);
    const wk = fused ? fused.subarray(Hq * D * H, (Hq + Hk) * D * H) : get(`${a}k_proj.weight`);
    const wv = fused ? fused.subarray((Hq + Hk) * D * H) : get(`${a}v_proj.weight`);
    const bias = (x: string) => (c.qkvBias ? get(`${a}${x}_proj.bias`) : undefined);
    const rope = c.layerWindows[l] !== null ? localRope : globalRope;
    const window = c.layerWindows[l];
    const qs: Vec[] = [];
    const ks: Vec[] = [];
    const vs: Vec[] = [];
    for (let t = 0; t < T; t++) {
      const x = projectionInput(rmsNorm(h[t], get(`${p}input_layernorm.weight`), c.rmsNormEps, off));
      const q = matvec(wq, x, Hq * D, bias('q'));
      const k = matvec(wk, x, Hk * D, bias('k'));
      vs.push(matvec(wv, x, Hk * D, bias('v')));
      for (const [m, n, norm] of [[q, Hq, 'q_norm'], [k, Hk, 'k_norm']] as const) {
        for (let head = 0; head < n; head++) {
          if (c.qkNorm) m.set(rmsNorm(m.subarray(head * D, (head + 1) * D), get(`${a}${norm}.weight`), c.rmsNormEps, off), head * D);
          rotate(m, head * D, t, rope);
        }
      }
      qs.push(q);
      ks.push(k);
    }
    const next: Vec[] = [];
    for (let t = 0; t < T; t++) {
      const attn = new Float64Array(Hq * D);
      const first = window === null ? 0 : Math.max(0, t - window + 1);
      for (let head = 0; head < Hq; head++) {
        const kvh = Math.floor(head / (Hq / Hk));
        const s = new Float64Array(t + 1);
        let max = -Infinity;
        for (let j = first; j <= t; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qs[t][head * D + d] * ks[j][kvh * D + d];
          dot *= c.attentionScale;
          if (c.attnLogitSoftcap !== null) dot = Math.tanh(dot / c.attnLogitSoftcap) * c.attnLogitSoftcap;
          s[j] = dot;
          max = Math.max(max, dot);
        }
        let sum = 0;
        for (let j = first; j <= t; j++) sum += s[j] = Math.exp(s[j] - max);
        for (let j = first; j <= t; j++) for (let d = 0; d < D; d++) attn[head * D + d] += (s[j] / sum) * vs[j][kvh * D + d];
      }
      let o = matvec(get(`${a}o_proj.weight`), projectionInput(attn), H, c.oBias ? get(`${a}o_proj.bias`) : undefined);
      if (gemma) o = rmsNorm(o, get(`${p}post_attention_layernorm.weight`), c.rmsNormEps, off);
      const mid = h[t].map((v, i) => v + o[i]);
      const x = projectionInput(rmsNorm(mid, get(`${p}${gemma ? 'pre_feedforward_layernorm' : 'post_attention_layernorm'}.weight`), c.rmsNormEps, off));
      const gateUp = c.fusedProjections ? get(`${p}mlp.gate_up_proj.weight`) : null;
      const gate = matvec(gateUp ? gateUp.subarray(0, I * H) : get(`${p}mlp.gate_proj.weight`), x, I);
      const up = matvec(gateUp ? gateUp.subarray(I * H) : get(`${p}mlp.up_proj.weight`), x, I);
      const act = c.hiddenAct === 'silu' ? silu : geluTanh;
      let m = matvec(get(`${p}mlp.down_proj.weight`), projectionInput(gate.map((g, i) => act(g) * up[i])), H);
      if (gemma) m = rmsNorm(m, get(`${p}post_feedforward_layernorm.weight`), c.rmsNormEps, off);
      next.push(mid.map((v, i) => v + m[i]));
    }
    h = next;
  }
  const lmHead = tensors['lm_head.weight'] ? get('lm_head.weight') : embed;
  return h.map((x) => {
    const logits = matvec(lmHead, rmsNorm(x, get('model.norm.weight'), c.rmsNormEps, off), V);
    return c.finalLogitSoftcap === null ? logits : logits.map((v) => Math.tanh(v / c.finalLogitSoftcap!) * c.finalLogitSoftcap!);
  });
}
