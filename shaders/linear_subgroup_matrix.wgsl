// linear_subgroup_matrix: out = x Wᵀ (+ bias) on tensor cores: f16 × f16 → f32 subgroup matrices 16×16×16.
// Bindings: 0 x: [M, K] f16   1 w: [N, K] f16 (Hugging Face layout)   BIAS: 2 bias: [N] f16
//           then out: [M, N] f16 (f32 with OUT_F32), then params.   PAIRED: K even, loads of f16 pairs.
// Reduction order, fixed by K and segLen alone (never by M, the tile or the schedule): K is cut into numSeg
//   segments of segLen elements (a multiple of 128); segment s is one chain of 16×16×16 multiply-accumulates
//   over its 16-wide k-steps in increasing order, starting from +0, giving p_s; k past K reads as 0.
//   out = (((0 + p_0) + p_1) + … + p_{numSeg-1}) + bias, rounded once to the output dtype.
// Schedules (same bits): PAR — the workgroup's KG k-groups run segments g = 0..KG-1 side by side (few rows:
//   decode; more independent weight streams), partials folded in workgroup memory; SEQ (KG = 1) — every
//   subgroup runs the segments one after another and folds them in registers (SEQ_SPLIT, when numSeg > 1).
// Tiles (one CFG_* define): a workgroup is KG × SG_M × SG_N subgroups of 32 invocations; a subgroup owns
//   TM × TN 16×16 accumulators; BM = 16·SG_M·TM rows × BN = 16·SG_N·TN columns; BK k per k-group per step.
//   Operands pass global → registers (prefetched one step ahead) → workgroup memory (rows padded by 8 f16)
//   as f16 pairs: a warp loads 128 contiguous bytes per instruction and stores them without bank
//   conflicts (robustness clamps keep compilers from merging wider f16 stores); zero x rows (past M) are
//   stored once.
// Dispatch: grid(tilesM · tilesN); the linear id walks groups of 8 m-tiles (n outer) for L2 reuse.
// EMULATE: subgroup matrices emulated in plain WGSL (same tiling, loads, folds; its own per-tile math) so
//   the index logic runs on devices without the feature. Needs 32-wide subgroups otherwise (wrapper checks).
enable f16;
//#if !EMULATE
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
//#endif

//#if CFG_S1
const KG = 1u; const SG_M = 1u; const SG_N = 4u; const TM = 1u; const TN = 1u; const BKF = 128u;
//#endif
//#if CFG_S2
const KG = 2u; const SG_M = 1u; const SG_N = 2u; const TM = 1u; const TN = 1u; const BKF = 128u;
//#endif
//#if CFG_S4
const KG = 4u; const SG_M = 1u; const SG_N = 1u; const TM = 1u; const TN = 1u; const BKF = 128u;
//#endif
//#if CFG_S8
const KG = 8u; const SG_M = 1u; const SG_N = 1u; const TM = 1u; const TN = 1u; const BKF = 64u;
//#endif
//#if CFG_M1
const KG = 1u; const SG_M = 1u; const SG_N = 4u; const TM = 4u; const TN = 1u; const BKF = 64u;
//#endif
//#if CFG_M2
const KG = 2u; const SG_M = 1u; const SG_N = 2u; const TM = 4u; const TN = 1u; const BKF = 64u;
//#endif
//#if CFG_M4
const KG = 4u; const SG_M = 1u; const SG_N = 1u; const TM = 4u; const TN = 1u; const BKF = 32u;
//#endif
//#if CFG_M8
const KG = 8u; const SG_M = 1u; const SG_N = 1u; const TM = 2u; const TN = 1u; const BKF = 16u;
//#endif
//#if CFG_B
const KG = 1u; const SG_M = 2u; const SG_N = 4u; const TM = 4u; const TN = 2u; const BKF = 64u;
//#endif

//#if EMULATE
const BK = max(BKF / 2u, 16u);        // lavapipe has 32 KiB of workgroup memory; BK never changes the order
//#else
const BK = BKF;
//#endif
const SGS = SG_M * SG_N;              // subgroups per k-group
const WG = 32u * KG * SGS;
const BM = 16u * SG_M * TM;
const BN = 16u * SG_N * TN;
const BKP = BK + 8u;                  // padded row: conflict-free 16-byte row reads
const K2 = BK / 2u;                   // f16 pairs per tile row
const XC = KG * BM * K2 / WG;         // pairs per invocation per step (configs divide exactly)
const WC = KG * BN * K2 / WG;
const NACC = TM * TN;

struct Params { M: u32, N: u32, K: u32, segLen: u32, numSeg: u32, tilesM: u32, tilesN: u32, zero: u32 }

//#if PAIRED
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
//#else
@group(0) @binding(0) var<storage, read> x: array<f16>;
@group(0) @binding(1) var<storage, read> w: array<f16>;
//#endif
//#include linear_out

var<workgroup> xs: array<f16, KG * BM * BKP>;   // [g][row][k]
var<workgroup> ws: array<f16, KG * BN * BKP>;   // [g][col][k]  (= column-major B tiles)
var<workgroup> cs: array<f32, KG * SGS * 256u>; // one 16×16 f32 tile per subgroup

//#if EMULATE
struct MatA { off: u32 }                         // 16×16 row-major at xs[off], row stride BKP
struct MatB { off: u32 }                         // B[k][n] = ws[off + n·BKP + k]
fn loadA(off: u32) -> MatA { return MatA(off); }
fn loadB(off: u32) -> MatB { return MatB(off); }
fn aAt(a: MatA, r: u32, k: u32) -> f16 { return xs[a.off + r * BKP + k]; }
fn bAt(b: MatB, k: u32, n: u32) -> f16 { return ws[b.off + n * BKP + k]; }
//#else
alias MatA = subgroup_matrix_left<f16, 16, 16>;
alias MatB = subgroup_matrix_right<f16, 16, 16>;
//#if SGM_BOOL
fn loadA(off: u32) -> MatA { return subgroupMatrixLoad<MatA>(&xs, off, false, BKP); }
fn loadB(off: u32) -> MatB { return subgroupMatrixLoad<MatB>(&ws, off, true, BKP); }
//#else
fn loadA(off: u32) -> MatA { return subgroupMatrixLoad<MatA, row_major>(&xs, off, BKP); }
fn loadB(off: u32) -> MatB { return subgroupMatrixLoad<MatB, col_major>(&ws, off, BKP); }
//#endif
//#endif
//#include linear_sgm_acc
//#include linear_store_c

// The f16 pair (k, k+1) of row `row` (k even) of x / w as one u32; zero outside the matrix.
//#if PAIRED
fn loadX(row: u32, k: u32) -> u32 {
  if (row >= p.M || k >= p.K) { return 0u; }
  return x[(row * p.K + k) / 2u];
}
fn loadW(row: u32, k: u32) -> u32 {
  if (row >= p.N || k >= p.K) { return 0u; }
  return w[(row * p.K + k) / 2u];
}
//#else
fn xAt(row: u32, k: u32) -> f16 { return select(f16(0), x[min(row * p.K + k, arrayLength(&x) - 1u)], row < p.M && k < p.K); }
fn wAt(row: u32, k: u32) -> f16 { return select(f16(0), w[min(row * p.K + k, arrayLength(&w) - 1u)], row < p.N && k < p.K); }
fn loadX(row: u32, k: u32) -> u32 { return bitcast<u32>(vec2<f16>(xAt(row, k), xAt(row, k + 1u))); }
fn loadW(row: u32, k: u32) -> u32 { return bitcast<u32>(vec2<f16>(wAt(row, k), wAt(row, k + 1u))); }
//#endif

fn putX(i: u32, v: u32) { let h = bitcast<vec2<f16>>(v); xs[i] = h.x; xs[i + 1u] = h.y; }
fn putW(i: u32, v: u32) { let h = bitcast<vec2<f16>>(v); ws[i] = h.x; ws[i + 1u] = h.y; }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ln = lid % 32u;
//#if EMULATE
  lane = ln;
//#endif
  let sg = lid / 32u;
//#if PAR
  let g = sg / SGS;                     // k-group
//#else
  let g = 0u;                           // (a constant keeps the SEQ loop bounds provably uniform)
//#endif
  let sgi = sg % SGS;
  let sm = sgi / SG_N;
  let sn = sgi % SG_N;

  let t = wid.x + wid.y * nwg.x;
  if (t >= p.tilesM * p.tilesN) { return; }   // whole workgroups only
  let span = 8u * p.tilesN;
  let tm0 = (t / span) * 8u;
  let rows = min(p.tilesM - tm0, 8u);
  let m0 = (tm0 + (t % span) % rows) * BM;
  let n0 = ((t % span) / rows) * BN;

  var acc: array<MatC, NACC>;
  var xr: array<u32, XC>;
  var wr: array<u32, WC>;
  var first = true;                               // x rows past M are stored (as zeros) once
//#if SEQ_SPLIT
  var tsum: array<f32, NACC * 8u>;
//#endif
//#if PAR
  let segIters = 1u;
//#else
  let segIters = p.numSeg;
//#endif
  for (var j = 0u; j < segIters; j++) {
    let kBeg = (j * KG + g) * p.segLen;           // this subgroup's segment
    let kEnd = min(kBeg + p.segLen, p.K);         // ≤ kBeg for idle k-groups (PAR, segment ≥ numSeg)
//#if PAR
    let iters = p.segLen / BK;
//#else
    let iters = (kEnd - kBeg + BK - 1u) / BK;
//#endif
    for (var a = 0u; a < NACC + z(); a++) { acc[a] = zeroC(); }
    for (var it = 0u; it <= iters; it++) {
      if (it > 0u) {
        workgroupBarrier();                       // everyone is done reading the previous step
        for (var q = 0u; q < XC + z(); q++) {
          let c = lid + q * WG;
          let row = (c % (BM * K2)) / K2;
          if (first || m0 + row < p.M) { putX(((c / (BM * K2)) * BM + row) * BKP + (c % K2) * 2u, xr[q]); }
        }
        for (var q = 0u; q < WC + z(); q++) {
          let c = lid + q * WG;
          putW(((c / (BN * K2)) * BN + (c % (BN * K2)) / K2) * BKP + (c % K2) * 2u, wr[q]);
        }
        first = false;
        workgroupBarrier();
      }
      if (it < iters) {                           // prefetch step `it` while step it-1 computes
        for (var q = 0u; q < XC + z(); q++) {
          let c = lid + q * WG;
          let gc = c / (BM * K2);
          xr[q] = loadX(m0 + (c % (BM * K2)) / K2, (j * KG + gc) * p.segLen + it * BK + (c % K2) * 2u);
        }
        for (var q = 0u; q < WC + z(); q++) {
          let c = lid + q * WG;
          let gc = c / (BN * K2);
          wr[q] = loadW(n0 + (c % (BN * K2)) / K2, (j * KG + gc) * p.segLen + it * BK + (c % K2) * 2u);
        }
      }
      if (it > 0u) {
        let kb = kBeg + (it - 1u) * BK;
        for (var u = 0u; u < BK / 16u + z(); u++) {
          if (kb + u * 16u < kEnd) {              // uniform per subgroup: same steps in every schedule
            var bt: array<MatB, TN>;
            for (var b = 0u; b < TN + z(); b++) { bt[b] = loadB((g * BN + (sn * TN + b) * 16u) * BKP + u * 16u); }
            for (var a = 0u; a < TM + z(); a++) {
              let at = loadA((g * BM + (sm * TM + a) * 16u) * BKP + u * 16u);
              for (var b = 0u; b < TN + z(); b++) { acc[a * TN + b] = mma(at, bt[b], acc[a * TN + b]); }
            }
          }
        }
      }
    }
//#if SEQ_SPLIT
    for (var a = 0u; a < NACC + z(); a++) {             // tsum += p_j, element by element
      storeC(sg * 256u, acc[a]);
      workgroupBarrier();
      for (var i = 0u; i < 8u + z(); i++) { tsum[a * 8u + i] += cs[sg * 256u + ln + 32u * i]; }
      workgroupBarrier();
    }
//#endif
  }

  for (var a = 0u; a < NACC + z(); a++) {
    let r0 = m0 + (sm * TM + a / TN) * 16u;
    let c0 = n0 + (sn * TN + a % TN) * 16u;
//#if !SEQ_SPLIT
    storeC(sg * 256u, acc[a]);
    workgroupBarrier();
//#endif
    if (g == 0u) {
      for (var i = 0u; i < 8u + z(); i++) {
        let e = ln + 32u * i;
        let r = r0 + e / 16u;
        let c = c0 + e % 16u;
//#if SEQ_SPLIT
        var v = tsum[a * 8u + i];
//#else
        var v = 0.0;
        for (var gg = 0u; gg < min(KG, p.numSeg); gg++) { v += cs[(gg * SGS + sgi) * 256u + e]; }
//#endif
        if (r < p.M && c < p.N) {
//#if BIAS
          v += f32(bias[c]);
//#endif
          out[r * p.N + c] = OutT(v);
        }
      }
    }
//#if !SEQ_SPLIT
    workgroupBarrier();
//#endif
  }
}
