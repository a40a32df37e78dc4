// linear_subgroup_matrix_stream: out = x Wᵀ (+ bias) on tensor cores for few rows (decode, M ≤ 64): a
// weight stream. One workgroup = one 64-column slice of w (128 with TM4) × one K segment; w arrives with wide coalesced
// loads (vec4 = 8 f16 per invocation) staged through workgroup memory, as in the block kernel.
// Same reduction order as linear_subgroup_matrix (see its header), hence the same bits: K cut into numSeg
//   segments of segLen (a multiple of 128, so of BK); segment s = one chain of 16×16×16 multiply-accumulates
//   over its 16-wide k-steps in increasing order from +0 (p_s); k past K reads as 0;
//   out = (((0 + p_0) + p_1) + …) + bias, rounded once to the output dtype.
// Bindings: 0 x: [M, K] f16 read as vec4<u32>   1 w: [N, K] f16 likewise (Hugging Face layout)
//           BIAS: 2 bias: [N] f16   then out, then params. PARTIAL (numSeg > 1): out is the f32 scratch
//           [numSeg, M, N] of the p_s (define OUT_F32, no BIAS) and linear_fold adds them up in order.
// Needs K % 64 == 0 and M ≤ 16·TM (the wrapper checks). Rows past M and columns past N are computed from
//   clamped rows and never stored.
// Workgroup: BN/16 subgroups of 32; subgroup j owns columns 16j..16j+15 of the slice and TM (TM1/TM2/TM4
//   define) 16-row tiles. Per k-step of BK every invocation loads 4 (EMULATE: 2) vec4 of w (one k-step ahead, into
//   registers), and x its BM·BK/8 vec4 (one or two per invocation); then both go to workgroup memory.
// Dispatch: grid(tilesN · numSeg), slice = id % tilesN, segment = id / tilesN.
// EMULATE: matrix ops emulated in plain WGSL (BK 32, for lavapipe's 32 KiB of workgroup memory).
enable f16;
//#if !EMULATE
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
//#endif

//#if TM4
const TM = 4u;
//#else
//#if TM2
const TM = 2u;
//#else
const TM = 1u;
//#endif
//#endif
const BM = 16u * TM;
//#if TM4
const BN = 128u;                // 8 subgroups (x then takes two vec4 per invocation)
//#else
const BN = 64u;                 // 4 subgroups: twice the workgroups of 128 (probe: 0.45 → 0.7 TB/s at 512-long segments)
//#endif
//#if EMULATE
const BK = 32u;
//#else
const BK = 64u;
//#endif
const WG = 2u * BN;             // one subgroup of 32 per 16 columns
const LDS = BK + 8u;            // staged row stride in f16
const C8 = BK / 8u;             // vec4 per staged row
const WL = BN * C8 / WG;        // vec4 of w per invocation per k-step
const XL = (BM * C8 + WG - 1u) / WG;
const MAX_SUBGROUPS = WG / 32u;
// First row of x tiles 1-3 (clamped into As where TM leaves them unused: Dawn checks constant matrix-load
// offsets against the array's size even in branches that never run).
const ROW1 = min(16u, BM - 16u);
const ROW2 = min(32u, BM - 16u);
const ROW3 = min(48u, BM - 16u);

struct Params { M: u32, N: u32, K: u32, segLen: u32, numSeg: u32, tilesM: u32, tilesN: u32, zero: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
//#include linear_out

var<workgroup> As: array<f16, BM * LDS>;
var<workgroup> Bs: array<f16, BN * LDS>;
var<workgroup> cs: array<f32, MAX_SUBGROUPS * 256u>; // one 16×16 f32 tile per subgroup (output)

//#include sgm_workgroup

//#include linear_stage

// Writes the 16×16 tile (rows r0.., columns c0..) of segment seg that the subgroup just stored to `cs`
// (call after a barrier): to out with the bias, or as a partial.
fn emit(sg: u32, ln: u32, seg: u32, r0: u32, c0: u32) {
  for (var i = 0u; i < 8u; i++) {
    let e = ln + 32u * i;
    let r = r0 + e / 16u;
    let col = c0 + e % 16u;
    if (r < p.M && col < p.N) {
      var v = 0.0;
      v += cs[sg * 256u + e];
//#if BIAS
      v += f32(bias[col]);
//#endif
//#if PARTIAL
      out[(seg * p.M + r) * p.N + col] = v;
//#else
      out[r * p.N + col] = OutT(v);
//#endif
    }
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ln = lid % 32u;
//#if EMULATE
  lane = ln;
//#endif
  let sg = lid / 32u;
  let t = wid.x + wid.y * nwg.x;
  if (t >= p.tilesN * p.numSeg) { return; }        // whole workgroups only
  let nB = (t % p.tilesN) * BN;
  let seg = t / p.tilesN;
  let kBeg = seg * p.segLen;
  let kEnd = min(kBeg + p.segLen, p.K);
  let bn = sg * 16u;

  // This invocation's vec4s of a k-step: rows r0 + l·rs, k-vector kq (explicit registers, no arrays).
  let r0 = lid / C8;
  let rs = WG / C8;
  let kq = lid % C8;
  let so = r0 * LDS + kq * 8u;                     // staged offset of row r0 (row r0 + l·rs: + l·rs·LDS)
  let xIn = lid < BM * C8;                         // x has fewer vec4 than invocations unless TM4
  var c0 = MatC();
  var c1 = MatC();
  var c2 = MatC();
  var c3 = MatC();
  var kc = kBeg / 8u + kq;
  var wb0 = wAt(nB + r0, kc); var wb1 = wAt(nB + r0 + rs, kc);
  var wb2 = vec4<u32>(); var wb3 = vec4<u32>();
  if (WL > 2u) { wb2 = wAt(nB + r0 + 2u * rs, kc); wb3 = wAt(nB + r0 + 3u * rs, kc); }
  var xa0 = vec4<u32>(); var xa1 = vec4<u32>();
  if (xIn) { xa0 = xAt(r0, kc); }
  if (XL > 1u) { xa1 = xAt(r0 + rs, kc); }
  for (var k0 = kBeg; k0 < kEnd; k0 += BK) {
    workgroupBarrier();                            // the previous k-step's matrix loads are done
    putB(so, wb0); putB(so + rs * LDS, wb1);
    if (WL > 2u) { putB(so + 2u * rs * LDS, wb2); putB(so + 3u * rs * LDS, wb3); }
    if (xIn) { putA(so, xa0); }
    if (XL > 1u) { putA(so + rs * LDS, xa1); }
    workgroupBarrier();
    if (k0 + BK < kEnd) {
      kc = (k0 + BK) / 8u + kq;
      wb0 = wAt(nB + r0, kc); wb1 = wAt(nB + r0 + rs, kc);
      if (WL > 2u) { wb2 = wAt(nB + r0 + 2u * rs, kc); wb3 = wAt(nB + r0 + 3u * rs, kc); }
      if (xIn) { xa0 = xAt(r0, kc); }
      if (XL > 1u) { xa1 = xAt(r0 + rs, kc); }
    }
    // The 16-wide k-steps of BK written out (a runtime loop halves the block kernel's speed).
    {
      let b = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDS + 0u, LDS);
      c0 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, 0u, LDS), b, c0);
      if (TM > 1u) { c1 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW1 * LDS + 0u, LDS), b, c1); }
      if (TM > 2u) { c2 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW2 * LDS + 0u, LDS), b, c2); c3 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW3 * LDS + 0u, LDS), b, c3); }
    }
    {
      let b = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDS + 16u, LDS);
      c0 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, 16u, LDS), b, c0);
      if (TM > 1u) { c1 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW1 * LDS + 16u, LDS), b, c1); }
      if (TM > 2u) { c2 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW2 * LDS + 16u, LDS), b, c2); c3 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW3 * LDS + 16u, LDS), b, c3); }
    }
    if (BK > 32u) {
      {
        let b = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDS + 32u, LDS);
        c0 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, 32u, LDS), b, c0);
        if (TM > 1u) { c1 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW1 * LDS + 32u, LDS), b, c1); }
        if (TM > 2u) { c2 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW2 * LDS + 32u, LDS), b, c2); c3 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW3 * LDS + 32u, LDS), b, c3); }
      }
      {
        let b = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDS + 48u, LDS);
        c0 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, 48u, LDS), b, c0);
        if (TM > 1u) { c1 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW1 * LDS + 48u, LDS), b, c1); }
        if (TM > 2u) { c2 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW2 * LDS + 48u, LDS), b, c2); c3 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW3 * LDS + 48u, LDS), b, c3); }
      }
    }
  }
  subgroupMatrixStore<row_major>(&cs, sg * 256u, c0, 16u);
  workgroupBarrier();
  emit(sg, ln, seg, 0u, nB + bn);
  if (TM > 1u) {
    subgroupMatrixStore<row_major>(&cs, sg * 256u, c1, 16u);
    workgroupBarrier();
    emit(sg, ln, seg, 16u, nB + bn);
  }
  if (TM > 2u) {
    subgroupMatrixStore<row_major>(&cs, sg * 256u, c2, 16u);
    workgroupBarrier();
    emit(sg, ln, seg, 32u, nB + bn);
    subgroupMatrixStore<row_major>(&cs, sg * 256u, c3, 16u);
    workgroupBarrier();
    emit(sg, ln, seg, 48u, nB + bn);
  }
}
