// bench_fma: a long chain of independent fused multiply-adds per thread, to measure peak
// arithmetic throughput (f32, or packed f16 with //#if F16). Each thread keeps 8 independent
// accumulators so the FMA pipes stay busy; the result is stored so nothing is optimised away.
// Bindings: 0 out: array<f32> [threads]   1 params
// Workgroup: 256 threads. Dispatch: (numWorkgroups, 1, 1).
// FLOPs per thread: iters * 8 accumulators * (2 for f32 | 2*4 for vec4<f16>).
enable f16;
struct Params { iters: u32, seed: f32 }

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u) {
//#if F16
  let m = vec4h(f16(0.999), f16(0.998), f16(0.997), f16(0.996));
  let b = vec4h(f16(p.seed * 1e-3));
  var a0 = vec4h(f16(gid.x % 7u)); var a1 = a0 + vec4h(1.0); var a2 = a0 + vec4h(2.0); var a3 = a0 + vec4h(3.0);
  var a4 = a0 + vec4h(4.0); var a5 = a0 + vec4h(5.0); var a6 = a0 + vec4h(6.0); var a7 = a0 + vec4h(7.0);
//#else
  let m = 0.9999;
  let b = p.seed * 1e-3;
  var a0 = f32(gid.x % 7u); var a1 = a0 + 1.0; var a2 = a0 + 2.0; var a3 = a0 + 3.0;
  var a4 = a0 + 4.0; var a5 = a0 + 5.0; var a6 = a0 + 6.0; var a7 = a0 + 7.0;
//#endif
  for (var i = 0u; i < p.iters; i++) {
    a0 = fma(a0, m, b); a1 = fma(a1, m, b); a2 = fma(a2, m, b); a3 = fma(a3, m, b);
    a4 = fma(a4, m, b); a5 = fma(a5, m, b); a6 = fma(a6, m, b); a7 = fma(a7, m, b);
  }
//#if F16
  let s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
  out[gid.x] = f32(s.x + s.y + s.z + s.w);
//#else
  out[gid.x] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
//#endif
}
