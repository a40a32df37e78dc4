// linear_fold: the last step of linear_subgroup_matrix_stream when K has several segments:
//   out = (((0 + p_0) + p_1) + … + p_{numSeg-1}) + bias, in f32, rounded once to the output dtype
//   (the fold order of every tensor-core linear kernel; see linear_subgroup_matrix).
// Bindings: 0 part: [numSeg, rows ≥ M, N] f32   BIAS: 1 bias: [N] f16   then out: [M, N] f16 (f32 with
//           OUT_F32), then params { M·N, N, numSeg, rows·N }.
// Workgroup: 256 invocations, one output element each. Dispatch: grid(ceil(M·N / 256)).
enable f16;

//#if OUT_F32
alias OutT = f32;
//#else
alias OutT = f16;
//#endif
struct Params { count: u32, N: u32, numSeg: u32, segStride: u32 }

@group(0) @binding(0) var<storage, read> part: array<f32>;
//#if BIAS
@group(0) @binding(1) var<storage, read> bias: array<f16>;
@group(0) @binding(2) var<storage, read_write> out: array<OutT>;
@group(0) @binding(3) var<uniform> p: Params;
//#else
@group(0) @binding(1) var<storage, read_write> out: array<OutT>;
@group(0) @binding(2) var<uniform> p: Params;
//#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.count) { return; }
  var v = 0.0;
  for (var s = 0u; s < p.numSeg; s++) { v += part[s * p.segStride + i]; }
//#if BIAS
  v += f32(bias[i % p.N]);
//#endif
  out[i] = OutT(v);
}
