// quant_linear_gemv: out = x · dequant(W)ᵀ (+ bias) for a few rows (M ≤ 8) over a packed quantized weight
// (src/quant/packed_weight.ts): the 'fast' mode decode GEMV of quantized weights. Like linear_gemv its
// order depends on the lane split of K, so it is not batch invariant and runs only in 'fast' mode.
// Unlike linear_gemv's QUANT read (one 4- or 8-byte word per lane and 8-k chunk), every lane loads whole
// 16-byte vec4<u32> of packed words (32 int4 or 16 int8 weights of one group, with that group's scale and
// zero): a warp reads 512 contiguous bytes of a weight row per load, as the f16 GEMV does. H100 probe
// (bench/probes/quant_probe.ts `gw2x2`, 2026-12-06 session 10): Llama-3-8B int4 layer at M1 82 µs against
// 112 for linear_gemv's QUANT read and 204 for the f16 stream.
// Bindings: 0 x: [M, K] f16 read as vec4<u32>   1 qw: [N, K·bits/32] u32 read as vec4<u32> (Q4: 8 int4 per
//   word, Q8: 4 bytes per word, little end first; SIGNED: int8 two's complement)   2 qs: [N, K / GS] f16
//   scales   ZEROS: 3 qz: [N, K / GS] f16 integer zeros; then lib/linear_out's (BIAS bias, out, params).
// Needs K % KV == 0 and GS % KV == 0 (KV = k per vec4: 32 for Q4, 16 for Q8; the wrapper checks), M ≤ MR.
// Workgroup: GROUPS row groups of TPR lanes (TPR = 32: one subgroup with SG_REDUCE); row group g owns the RS
//   weight rows n = (wg·GROUPS + g)·RS + r. Lane j loads vec4 j, j + TPR, … of each (U per row per trip, all
//   RS·U loads issued before any is used), dequantizes each 8-k chunk once (lib/quant_dequant: the values
//   f16((q − z)·s) every quantized kernel multiplies by) and multiplies it with the same chunk of every x
//   row (f32, held once per chunk); f32 sums, added over the lanes with subgroupAdd (SG_REDUCE) or through
//   workgroup memory. Rows past N read row N − 1 and are never stored; vec4 past K read as zero x.
// Dispatch: grid(ceil(N / (GROUPS·RS))), linearised as wid.x + wid.y · nwg.x.
enable f16;
//#if SG_REDUCE
enable subgroups;
//#endif

struct Params { M: u32, N: u32, K: u32, pad: u32 }
override GS: u32 = 128u;
override MR: u32 = 8u;         // x rows held in registers (≥ M, ≤ 8)
const TPR = 32u;               // lanes per row group
const GROUPS = 4u;             // row groups per workgroup
const RS = 2u;                 // weight rows per row group
const U = 2u;                  // vec4 per weight row per lane per trip
//#if Q4
const KV = 32u;                // k per packed vec4
//#else
const KV = 16u;
//#endif
const CH = KV / 8u;            // 8-k chunks per packed vec4

@group(0) @binding(0) var<storage, read> x: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> qw: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> qs: array<f16>;
//#if ZEROS
@group(0) @binding(3) var<storage, read> qz: array<f16>;
const WB_END = 4u;
//#else
const WB_END = 3u;
//#endif
//#include linear_out
//#include quant_dequant

//#if !SG_REDUCE
var<workgroup> red: array<f32, GROUPS * RS * 8u * TPR>;
//#endif

// The 8-k chunk i of a packed vec4, as lib/quant_dequant's QWord.
fn chunkOf(v: vec4<u32>, i: u32) -> QWord {
//#if Q4
  return v[i];
//#else
  return vec2<u32>(v[2u * i], v[2u * i + 1u]);
//#endif
}

@compute @workgroup_size(TPR * GROUPS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let grp = lid / TPR;
  let j = lid % TPR;
  let nBase = ((wid.x + wid.y * nwg.x) * GROUPS + grp) * RS;
  let nv = p.K / KV;                        // packed vec4 per weight row
  let kc = p.K / 8u;                        // x vec4 (8 f16) per row
  var acc: array<f32, RS * 8u>;
  for (var c0 = j; c0 < nv + j; c0 += U * TPR) {   // the same trip count in every lane
    // Every load of the trip first: packed vec4, scale and zero per (row, u).
    var wv: array<vec4<u32>, RS * U>;
    var ws: array<f16, RS * U>;
    var wz: array<f16, RS * U>;
    for (var r = 0u; r < RS; r++) {
      let n = min(nBase + r, p.N - 1u);
      for (var u = 0u; u < U; u++) {
        let c = min(c0 + u * TPR, nv - 1u);
        let g = n * (p.K / GS) + (c * KV) / GS;
        wv[r * U + u] = qw[n * nv + c];
        ws[r * U + u] = qs[g];
//#if ZEROS
        wz[r * U + u] = qz[g];
//#else
        wz[r * U + u] = Q_ZERO;
//#endif
      }
    }
    for (var u = 0u; u < U; u++) {
      let c = c0 + u * TPR;
      for (var i = 0u; i < CH; i++) {
        // x rows' chunk as f32 once (zero past K or past M), then each weight row's chunk dequantized once.
        let xi = c * CH + i;
        var xa: array<vec4<f32>, 8>;
        var xb: array<vec4<f32>, 8>;
        for (var m = 0u; m < MR; m++) {
          let v = select(vec4<u32>(), x[min(m, p.M - 1u) * kc + min(xi, kc - 1u)], m < p.M && c < nv);
          xa[m] = vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y));
          xb[m] = vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w));
        }
        for (var r = 0u; r < RS; r++) {
          let h = qDeq(chunkOf(wv[r * U + u], i), wz[r * U + u], ws[r * U + u]);
          let wa = vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y));
          let wb = vec4<f32>(unpack2x16float(h.z), unpack2x16float(h.w));
          for (var m = 0u; m < MR; m++) { acc[r * 8u + m] += dot(xa[m], wa) + dot(xb[m], wb); }
        }
      }
    }
  }
//#if SG_REDUCE
  for (var r = 0u; r < RS; r++) {
    for (var m = 0u; m < MR; m++) {
      let s = subgroupAdd(acc[r * 8u + m]);
      let n = nBase + r;
      if (j == 0u && n < p.N && m < p.M) {
        var v = s;
//#if BIAS
        v += f32(bias[n]);
//#endif
        out[m * p.N + n] = OutT(v);
      }
    }
  }
//#else
  for (var i = 0u; i < RS * 8u; i++) { red[(grp * RS * 8u + i) * TPR + j] = acc[i]; }
  workgroupBarrier();                      // one barrier: lane j < RS·MR sums output (row j / MR, x row j % MR)
  let r = j / MR;
  let m = j % MR;
  let n = nBase + r;
  if (r < RS && m < p.M && n < p.N) {
    var v = 0.0;
    for (var l = 0u; l < TPR; l++) { v += red[(grp * RS * 8u + r * 8u + m) * TPR + l]; }
//#if BIAS
    v += f32(bias[n]);
//#endif
    out[m * p.N + n] = OutT(v);
  }
//#endif
}
