// rms_norm: out = weight * rmsNorm(h), one workgroup per row, with Hugging Face LlamaRMSNorm
// rounding: var = mean(f32(h)^2); n = f16(f32(h) * inverseSqrt(var + eps)); out = f16(f32(w) * f32(n)).
//   FUSED_ADD: h = f16(x + residual) is first written back to residual (in place), then normed.
//   otherwise: h = x.
// Bindings (tensors in the wrapper's order, then params):
//   plain:              0 x [T, H]  1 weight [H]  2 out [T, H]  3 params
//   plain IN_PLACE:     0 x = out [T, H] (read_write)  1 weight  2 params
//   FUSED_ADD:          0 x  1 residual [T, H] (read_write)  2 weight  3 out  4 params
//   FUSED_ADD IN_PLACE: 0 x = out (read_write)  1 residual (read_write)  2 weight  3 params
//   FUSED_ADD FOLD:     x is a tensor-core linear's partial sums (lib/fold_in): 0 part [numSeg, rows, H] f32
//                       (FOLD_BIAS: 1 bias [H] f16), then residual, weight, out, params
// Layout: row-major; W is the unit a thread loads: VEC8 = vec4<u32> (8 halves, 16-byte
//   accesses; H % 8 == 0), else one f16. p.items = H / 8 (VEC8) or H words per row.
// Workgroup: WG threads (override, a power of two, a multiple of the subgroup size); thread lid
//   handles words lid, lid + WG, ... of the row; the row's h stays in workgroup memory (CACHE
//   words, override >= items) between the sum of squares and the output pass. The sum is
//   reduced with subgroupAdd + one partial per subgroup (SUBGROUPS) or a workgroup tree, in an
//   order that depends only on H, WG and the subgroup size (never on T: batch invariant).
// Dispatch: grid(T) workgroups, row = wid.x + wid.y * nwg.x.
enable f16;
//#if SUBGROUPS
enable subgroups;
//#endif

// Values rounded to f16 stay f16-typed: lavapipe folds f32(f16(v)) back to v, so "round then
// keep computing in f32" is written as f16 arithmetic, which is identical here because a sum or
// product of two f16 values is exact in f32 (one rounding either way).
//#include vec8

struct Params { rows: u32, hidden: u32, items: u32, eps: f32, foldSegs: u32, foldStride: u32, foldZero: u32 }

//#if FOLD
//#include fold_in
@group(0) @binding(0) var<storage, read> part: array<PW>;
//#if FOLD_BIAS
@group(0) @binding(1) var<storage, read> fbias: array<W>;
@group(0) @binding(2) var<storage, read_write> residual: array<W>;
@group(0) @binding(3) var<storage, read> weight: array<W>;
@group(0) @binding(4) var<storage, read_write> out: array<W>;
@group(0) @binding(5) var<uniform> p: Params;
//#else
@group(0) @binding(1) var<storage, read_write> residual: array<W>;
@group(0) @binding(2) var<storage, read> weight: array<W>;
@group(0) @binding(3) var<storage, read_write> out: array<W>;
@group(0) @binding(4) var<uniform> p: Params;
//#endif
//#else
//#if FUSED_ADD
//#if IN_PLACE
@group(0) @binding(0) var<storage, read_write> x: array<W>;
@group(0) @binding(1) var<storage, read_write> residual: array<W>;
@group(0) @binding(2) var<storage, read> weight: array<W>;
@group(0) @binding(3) var<uniform> p: Params;
//#else
@group(0) @binding(0) var<storage, read> x: array<W>;
@group(0) @binding(1) var<storage, read_write> residual: array<W>;
@group(0) @binding(2) var<storage, read> weight: array<W>;
@group(0) @binding(3) var<storage, read_write> out: array<W>;
@group(0) @binding(4) var<uniform> p: Params;
//#endif
//#else
//#if IN_PLACE
@group(0) @binding(0) var<storage, read_write> x: array<W>;
@group(0) @binding(1) var<storage, read> weight: array<W>;
@group(0) @binding(2) var<uniform> p: Params;
//#else
@group(0) @binding(0) var<storage, read> x: array<W>;
@group(0) @binding(1) var<storage, read> weight: array<W>;
@group(0) @binding(2) var<storage, read_write> out: array<W>;
@group(0) @binding(3) var<uniform> p: Params;
//#endif
//#endif
//#endif

fn store(i: u32, v: W) {
//#if IN_PLACE
  x[i] = v;
//#else
  out[i] = v;
//#endif
}

override WG: u32 = 256;
override CACHE: u32 = 1;

var<workgroup> rowCache: array<W, CACHE>;
var<workgroup> partials: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
//#if SUBGROUPS
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sgSize: u32,
//#endif
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.items;
  let steps = (p.items + WG - 1u) / WG;

  // Pass 1: h (fused: x + residual in f16 = f16(f32 sum), written back), cached; f32 sum of squares.
  var ss = 0.0;
  for (var s = 0u; s < steps; s++) {
    let i = s * WG + lid;
    if (i < p.items) {
//#if FUSED_ADD
//#if FOLD
      let xv = foldWord(base + i, i);
//#else
      let xv = x[base + i];
//#endif
      let rv = residual[base + i];
      let h = pack(lo(xv) + lo(rv), hi(xv) + hi(rv));
      residual[base + i] = h;
//#else
      let h = x[base + i];
//#endif
      rowCache[i] = h;
      let a = vec4f(lo(h));
      let b = vec4f(hi(h));
      ss += dot(a, a) + dot(b, b);
    }
  }

//#if SUBGROUPS
  let sgSum = subgroupAdd(ss);
  if (lane == 0u) { partials[lid / sgSize] = sgSum; }
  workgroupBarrier();
  var total = 0.0;
  for (var j = 0u; j < WG / sgSize; j++) { total += partials[j]; }
//#else
  partials[lid] = ss;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partials[lid] += partials[lid + stride]; }
    workgroupBarrier();
  }
  let total = partials[0];
//#endif
  let inv = inverseSqrt(total / f32(p.hidden) + p.eps);

  // Pass 2: n = f16(h * inv); out = w * n in f16 (= f16(f32(w) * f32(n))).
  for (var s = 0u; s < steps; s++) {
    let i = s * WG + lid;
    if (i < p.items) {
      let h = rowCache[i];
      let w = weight[i];
      let nLo = vec4<f16>(vec4f(lo(h)) * inv);
      let nHi = vec4<f16>(vec4f(hi(h)) * inv);
      store(base + i, pack(lo(w) * nLo, hi(w) * nHi));
    }
  }
}
