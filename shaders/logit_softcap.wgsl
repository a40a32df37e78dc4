// logit_softcap: x = tanh(x / cap) · cap, elementwise in place on f32 logits (Gemma 2's
// final_logit_softcapping). A logit below -3e38 (-inf: an id the tokenizer lacks, masked by the
// lm_head's bias) stays as it is, so a masked id is never sampled. tanh's argument is clamped to
// ±15, where it is ±1 in f32.
// Bindings: 0 x: array<f32> [n] (read and written)   1 params
// Layout:   flat, n elements.
// Workgroup: WG threads (override, default 256); each thread handles one element.
// Dispatch: grid(ceil(n / WG)), linearised as wid.x + wid.y * nwg.x.
struct Params { n: u32, cap: f32 }

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  let v = x[i];
  x[i] = select(tanh(clamp(v / p.cap, -15.0, 15.0)) * p.cap, v, v < -3.0e38);
}
