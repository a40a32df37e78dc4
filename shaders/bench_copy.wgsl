// bench_copy: dst = src, 16 bytes per thread per iteration; measures peak copy bandwidth.
// Bindings: 0 src: array<vec4u> [n4]   1 dst: array<vec4u> [n4]   2 params
// Workgroup: 256 threads; grid-stride loop over n4 vec4s.
// Dispatch: (numWorkgroups, 1, 1), numWorkgroups chosen to fill the device (e.g. 4096).
struct Params { n4: u32 }

@group(0) @binding(0) var<storage, read> src: array<vec4u>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4u>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * 256u;
  for (var i = gid.x; i < p.n4; i += stride) {
    dst[i] = src[i];
  }
}
