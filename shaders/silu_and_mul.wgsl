// silu_and_mul: out[t, i] = f16(f32(f16(silu(f32(gate)))) * f32(up)) with gate = x[t, i],
// up = x[t, I + i] (Hugging Face LlamaMLP: act_fn(gate_proj(x)) * up_proj(x), rounding after each op).
// GELU_TANH: gelu_pytorch_tanh in place of silu (Gemma's GeGLU MLP), rounded the same way.
// Bindings: 0 x: array<W> [T, 2I]   1 out: array<W> [T, I]   2 params
//   FOLD (x is the gate|up linear's partial sums, lib/fold_in): 0 part [numSeg, rows, 2I] f32
//   (FOLD_BIAS: 1 bias [2I] f16), then out, params.
// Layout:   row-major; W is the unit a thread moves: VEC8 = vec4<u32> (8 halves, 16-byte
//           accesses; I % 8 == 0), else one f16. p.items = I / 8 (VEC8) or I words per row.
// Workgroup: WG threads (override); thread g computes word g % items of token g / items.
// Dispatch: grid(ceil(T * items / WG)), linearised as wid.x + wid.y * nwg.x.
enable f16;

// Rounded values stay f16-typed (lavapipe folds f32(f16(v)) back to v): silu is rounded to f16
// and multiplied by up in f16, which equals f16(f32 product) since the product of two f16 values
// is exact in f32.
//#include vec8

struct Params { numTokens: u32, items: u32, foldSegs: u32, foldStride: u32, foldZero: u32 }

//#if FOLD
//#include fold_in
@group(0) @binding(0) var<storage, read> part: array<PW>;
//#if FOLD_BIAS
@group(0) @binding(1) var<storage, read> fbias: array<W>;
@group(0) @binding(2) var<storage, read_write> out: array<W>;
@group(0) @binding(3) var<uniform> p: Params;
//#else
@group(0) @binding(1) var<storage, read_write> out: array<W>;
@group(0) @binding(2) var<uniform> p: Params;
//#endif
//#else
@group(0) @binding(0) var<storage, read> x: array<W>;
@group(0) @binding(1) var<storage, read_write> out: array<W>;
@group(0) @binding(2) var<uniform> p: Params;
//#endif

override WG: u32 = 128;

// silu(g) = g * sigmoid(g), with exp of a non-positive argument only (no overflow).
fn silu(g: vec4f) -> vec4f {
  let e = exp(-abs(g));
  return g * select(e, vec4f(1.0), g >= vec4f(0.0)) / (1.0 + e);
}

//#if GELU_TANH
// 0.5·g·(1 + tanh(u)), u = sqrt(2/π)·(g + 0.044715·g³), computed as g·sigmoid(2u) (the same value):
// 1 + tanh(u) would cancel for negative u; the sigmoid takes exp of a non-positive argument only.
fn gelu(g: vec4f) -> vec4f {
  let u2 = 1.5957691216057308 * (g + 0.044715 * g * g * g);
  let e = exp(-abs(u2));
  return g * select(e, vec4f(1.0), u2 >= vec4f(0.0)) / (1.0 + e);
}

fn act(gate: vec4<f16>, up: vec4<f16>) -> vec4<f16> {
  return vec4<f16>(gelu(vec4f(gate))) * up;
}
//#else
fn act(gate: vec4<f16>, up: vec4<f16>) -> vec4<f16> {
  return vec4<f16>(silu(vec4f(gate))) * up;
}
//#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = (wid.x + wid.y * nwg.x) * WG + lid;
  let t = g / p.items;
  if (t >= p.numTokens) { return; }
  let c = g - t * p.items;
//#if FOLD
  let gw = foldWord(2u * t * p.items + c, c);
  let uw = foldWord((2u * t + 1u) * p.items + c, p.items + c);
//#else
  let gw = x[2u * t * p.items + c];
  let uw = x[(2u * t + 1u) * p.items + c];
//#endif
  out[g] = pack(act(lo(gw), lo(uw)), act(hi(gw), hi(uw)));
}
