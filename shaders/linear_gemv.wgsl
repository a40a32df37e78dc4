// linear_gemv: out = x Wᵀ (+ bias) for a few rows (M ≤ 8): a pure weight stream, 'fast' mode only (its
// reduction order depends on the lane count, not on a fixed partition, so it is not batch invariant).
// Bindings: 0 x: [M, K] f16   1 w: [N, K] f16 (Hugging Face layout)   BIAS: 2 bias: [N] f16
//           then out: [M, N] f16 (f32 with OUT_F32), then params.   VEC: K % 8 == 0, 16-byte loads.
// Workgroup: RPW weight rows × TPR lanes (overrides). Lane j of row n reads 16-byte chunks j, j+TPR, …
//   of w[n] (a warp covers 512 contiguous bytes per load; 4 loads in flight per lane), multiplies by the
//   same chunks of every x row (L1-resident) and accumulates MR ≤ 8 rows in f32; the TPR partial sums are
//   added with subgroupAdd (SG_REDUCE: subgroups of exactly TPR lanes) or through workgroup memory.
// Dispatch: grid(ceil(N / RPW)), linearised as wid.x + wid.y * nwg.x.
// QUANT: w is a packed quantized weight (lib/quant_weight: bindings 1-2 or 1-3, the rest move up; K % 8 == 0):
//   a trip's U chunks are all loaded raw (packed words, scale, zero) before any is dequantized to f16.
enable f16;
//#if SG_REDUCE
enable subgroups;
//#endif

struct Params { M: u32, N: u32, K: u32, pad: u32 }

//#if QUANT
@group(0) @binding(0) var<storage, read> x: array<vec4<u32>>;
//#include quant_weight
//#else
//#if VEC
@group(0) @binding(0) var<storage, read> x: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
//#else
@group(0) @binding(0) var<storage, read> x: array<f16>;
@group(0) @binding(1) var<storage, read> w: array<f16>;
//#endif
//#endif
//#include linear_out

override TPR: u32 = 32;   // lanes per weight row
override RPW: u32 = 4;    // weight rows per workgroup
override MR: u32 = 8;     // x rows held in registers (≥ M, ≤ 8)

//#if !SG_REDUCE
var<workgroup> red: array<f32, TPR * RPW * 8>;
//#endif

// Chunk c (8 f16) of row r of a [rows, K] matrix, zero past K; K % 8 != 0 builds it from guarded scalars.
//#if QUANT
const U = 8u;                              // chunks per lane per step: 4-byte (Q4) / 8-byte (Q8) loads in flight
fn chunkX(r: u32, c: u32) -> vec4<u32> { return select(vec4<u32>(), x[r * (p.K / 8u) + min(c, p.K / 8u - 1u)], c < p.K / 8u); }
//#else
//#if VEC
const U = 4u;                              // chunks per lane per step: independent 16-byte loads in flight
fn chunkX(r: u32, c: u32) -> vec4<u32> { return select(vec4<u32>(), x[r * (p.K / 8u) + min(c, p.K / 8u - 1u)], c < p.K / 8u); }
fn chunkW(r: u32, c: u32) -> vec4<u32> { return select(vec4<u32>(), w[r * (p.K / 8u) + min(c, p.K / 8u - 1u)], c < p.K / 8u); }
//#else
const U = 1u;
fn xAt(r: u32, k: u32) -> f16 { return select(f16(0), x[r * p.K + min(k, p.K - 1u)], k < p.K); }
fn wAt(r: u32, k: u32) -> f16 { return select(f16(0), w[r * p.K + min(k, p.K - 1u)], k < p.K); }
fn chunkX(r: u32, c: u32) -> vec4<u32> {
  var v: vec4<u32>;
  for (var j = 0u; j < 4u; j++) { v[j] = bitcast<u32>(vec2<f16>(xAt(r, c * 8u + 2u * j), xAt(r, c * 8u + 2u * j + 1u))); }
  return v;
}
fn chunkW(r: u32, c: u32) -> vec4<u32> {
  var v: vec4<u32>;
  for (var j = 0u; j < 4u; j++) { v[j] = bitcast<u32>(vec2<f16>(wAt(r, c * 8u + 2u * j), wAt(r, c * 8u + 2u * j + 1u))); }
  return v;
}
//#endif
//#endif

fn dot8(a: vec4<u32>, b: vec4<u32>) -> f32 {
  return dot(unpack2x16float(a.x), unpack2x16float(b.x)) + dot(unpack2x16float(a.y), unpack2x16float(b.y)) +
    dot(unpack2x16float(a.z), unpack2x16float(b.z)) + dot(unpack2x16float(a.w), unpack2x16float(b.w));
}

@compute @workgroup_size(TPR * RPW)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n = (wid.x + wid.y * nwg.x) * RPW + lid / TPR;
  let j = lid % TPR;
  let nr = min(n, p.N - 1u);               // rows past N compute a copy of the last row, never stored
  let chunks = (p.K + 7u) / 8u;
  var acc: array<f32, 8>;
  for (var c0 = j; c0 < chunks + j; c0 += U * TPR) {   // same trip count in every lane
    var wv: array<vec4<u32>, U>;
//#if QUANT
    // All U chunks loaded (raw) before any is dequantized: no load waits for the one before it.
    var wq: array<QChunk, U>;
    for (var u = 0u; u < U; u++) { wq[u] = wRaw(nr, min(c0 + u * TPR, p.K / 8u - 1u)); }
    for (var u = 0u; u < U; u++) { wv[u] = select(vec4<u32>(), wDeq(wq[u]), c0 + u * TPR < p.K / 8u); }
//#else
    for (var u = 0u; u < U; u++) { wv[u] = chunkW(nr, c0 + u * TPR); }
//#endif
    for (var m = 0u; m < MR; m++) {
      if (m < p.M) {
        for (var u = 0u; u < U; u++) { acc[m] += dot8(chunkX(m, c0 + u * TPR), wv[u]); }
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
  workgroupBarrier();                      // one barrier (lavapipe pays per barrier): lane m sums row m
  if (j < MR && j < p.M && n < p.N) {
    var v = 0.0;
    for (var i = 0u; i < TPR; i++) { v += red[j * TPR * RPW + lid - j + i]; }
//#if BIAS
    v += f32(bias[n]);
//#endif
    out[j * p.N + n] = OutT(v);
  }
//#endif
}
