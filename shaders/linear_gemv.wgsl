// linear_gemv: out = x Wᵀ (+ bias) for a few rows (M ≤ 8): a pure weight stream, 'fast' mode only (its
// reduction order depends on the lane count, not on a fixed partition, so it is not batch invariant).
// Bindings: 0 x: [M, K] f16   1 w: [N, K] f16 (Hugging Face layout)   BIAS: 2 bias: [N] f16
//           then out: [M, N] f16 (f32 with OUT_F32), then params.   VEC: K % 8 == 0, 16-byte loads.
// Workgroup: RPW weight rows × TPR lanes (overrides). Lane j of row n reads 16-byte chunks j, j+TPR, …
//   of w[n] (a warp covers 512 contiguous bytes per load; 4 loads in flight per lane), multiplies by the
//   same chunks of every x row (L1-resident) and accumulates MR ≤ 8 rows in f32; the TPR partial sums are
//   added with subgroupAdd (SG_REDUCE: subgroups of exactly TPR lanes) or a workgroup-memory tree.
// Dispatch: grid(ceil(N / RPW)), linearised as wid.x + wid.y * nwg.x.
enable f16;
//#if SG_REDUCE
enable subgroups;
//#endif

struct Params { M: u32, N: u32, K: u32, pad: u32 }

//#if VEC
@group(0) @binding(0) var<storage, read> x: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
//#else
@group(0) @binding(0) var<storage, read> x: array<f16>;
@group(0) @binding(1) var<storage, read> w: array<f16>;
//#endif
//#if OUT_F32
alias OutT = f32;
//#else
alias OutT = f16;
//#endif
//#if BIAS
@group(0) @binding(2) var<storage, read> bias: array<f16>;
@group(0) @binding(3) var<storage, read_write> out: array<OutT>;
@group(0) @binding(4) var<uniform> p: Params;
//#else
@group(0) @binding(2) var<storage, read_write> out: array<OutT>;
@group(0) @binding(3) var<uniform> p: Params;
//#endif

override TPR: u32 = 32;   // lanes per weight row
override RPW: u32 = 4;    // weight rows per workgroup
override MR: u32 = 8;     // x rows held in registers (≥ M, ≤ 8)

//#if !SG_REDUCE
var<workgroup> red: array<f32, TPR * RPW * 8>;
//#endif

// Chunk c (8 f16) of row r of a [rows, K] matrix; K % 8 != 0 builds it from guarded scalars.
//#if VEC
fn chunkX(r: u32, c: u32) -> vec4<u32> { return x[r * (p.K / 8u) + c]; }
fn chunkW(r: u32, c: u32) -> vec4<u32> { return w[r * (p.K / 8u) + c]; }
//#else
fn chunkX(r: u32, c: u32) -> vec4<u32> {
  var v: vec4<u32>;
  for (var j = 0u; j < 4u; j++) {
    let k = c * 8u + 2u * j;
    let lo = select(f16(0), x[r * p.K + min(k, p.K - 1u)], k < p.K);
    let hi = select(f16(0), x[r * p.K + min(k + 1u, p.K - 1u)], k + 1u < p.K);
    v[j] = bitcast<u32>(vec2<f16>(lo, hi));
  }
  return v;
}
fn chunkW(r: u32, c: u32) -> vec4<u32> {
  var v: vec4<u32>;
  for (var j = 0u; j < 4u; j++) {
    let k = c * 8u + 2u * j;
    let lo = select(f16(0), w[r * p.K + min(k, p.K - 1u)], k < p.K);
    let hi = select(f16(0), w[r * p.K + min(k + 1u, p.K - 1u)], k + 1u < p.K);
    v[j] = bitcast<u32>(vec2<f16>(lo, hi));
  }
  return v;
}
//#endif

fn dot8(a: vec4<u32>, b: array<vec2<f32>, 4>) -> f32 {
  return dot(unpack2x16float(a.x), b[0]) + dot(unpack2x16float(a.y), b[1]) + dot(unpack2x16float(a.z), b[2]) +
    dot(unpack2x16float(a.w), b[3]);
}

@compute @workgroup_size(TPR * RPW)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n = (wid.x + wid.y * nwg.x) * RPW + lid / TPR;
  let j = lid % TPR;
  let nr = min(n, p.N - 1u);               // rows past N compute a copy of the last row, never stored
  let chunks = (p.K + 7u) / 8u;
  var acc: array<f32, 8>;
  let steps = (chunks + 4u * TPR - 1u) / (4u * TPR);   // uniform trip count
  for (var it = 0u; it < steps; it++) {
    let c = it * 4u * TPR + j;
    var wv: array<vec4<u32>, 4>;           // four independent 16-byte loads in flight
    for (var u = 0u; u < 4u; u++) {
      if (c + u * TPR < chunks) { wv[u] = chunkW(nr, c + u * TPR); }
    }
    for (var u = 0u; u < 4u; u++) {
      if (c + u * TPR < chunks) {
        let wf = array<vec2<f32>, 4>(unpack2x16float(wv[u].x), unpack2x16float(wv[u].y),
          unpack2x16float(wv[u].z), unpack2x16float(wv[u].w));
        for (var m = 0u; m < MR; m++) {
          if (m < p.M) { acc[m] += dot8(chunkX(m, c + u * TPR), wf); }
        }
      }
    }
  }
//#if SG_REDUCE
  for (var m = 0u; m < MR; m++) {
    let s = subgroupAdd(acc[m]);
    if (j == 0u && n < p.N && m < p.M) {
      var v = s;
//#if BIAS
      v += f32(bias[n]);
//#endif
      out[m * p.N + n] = OutT(v);
    }
  }
//#else
  for (var m = 0u; m < MR; m++) { red[m * TPR * RPW + lid] = acc[m]; }
  for (var s = TPR / 2u; s > 0u; s /= 2u) {
    workgroupBarrier();
    if (j < s) {
      for (var m = 0u; m < MR; m++) { red[m * TPR * RPW + lid] += red[m * TPR * RPW + lid + s]; }
    }
  }
  workgroupBarrier();
  if (j == 0u && n < p.N) {
    for (var m = 0u; m < MR; m++) {
      if (m < p.M) {
        var v = red[m * TPR * RPW + lid];
//#if BIAS
        v += f32(bias[n]);
//#endif
        out[m * p.N + n] = OutT(v);
      }
    }
  }
//#endif
}
