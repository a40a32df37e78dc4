// add: out = a + b, elementwise, f16 storage, computed in f32 and rounded once.
// Bindings: 0 a: array<f16> [n]   1 b: array<f16> [n]   2 out: array<f16> [n]   3 params
// Layout:   flat, n elements.
// Workgroup: WG threads (override, default 256); each thread handles one element.
// Dispatch: grid(ceil(n / WG)) — x*y workgroups, linearised as wid.x + wid.y * nwg.x.
enable f16;

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> a: array<f16>;
@group(0) @binding(1) var<storage, read> b: array<f16>;
@group(0) @binding(2) var<storage, read_write> out: array<f16>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  out[i] = f16(f32(a[i]) + f32(b[i]));
}
