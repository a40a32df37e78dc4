// linear_subgroup_matrix_block: out = x Wᵀ (+ bias) on tensor cores for many rows (prefill): one workgroup
// computes a 128×128 block of out, both operands staged through workgroup memory in k-steps of BK.
// Same reduction order as linear_subgroup_matrix (see its header), hence the same bits: K cut into numSeg
//   segments of segLen (a multiple of 128, so of BK); segment s = one chain of 16×16×16 multiply-accumulates
//   over its 16-wide k-steps in increasing order from +0 (p_s); k past K reads as 0;
//   out = (((0 + p_0) + p_1) + …) + bias, rounded once to the output dtype.
// Bindings: 0 x: [M, K] f16 read as vec4<u32> (8 f16)   1 w: [N, K] f16 likewise (Hugging Face layout)
//           BIAS: 2 bias: [N] f16   then out: [M, N] f16 (f32 with OUT_F32), then params.
// Needs K % 8 == 0 (the wrapper checks). Rows past M and columns past N load as 0 and are never stored.
// Workgroup: 256 invocations = 8 subgroups of 32, 2 over m × 4 over n; a subgroup owns 64×32 of the block
//   (4×2 tiles of 16×16). Per k-step every invocation loads BM·BK/8/256 vec4 of x and of w into registers
//   one k-step ahead, stores them to workgroup memory (rows padded by 8 f16 against bank conflicts), and
//   the subgroups run their tiles from there. At a segment's end each subgroup folds its tiles into
//   per-lane f32 totals through `cs` (lane owns elements e = lane + 32·i of a tile, row e/16, col e%16).
//   bench/probes/sgmat_ceiling.ts chose this shape (H100: 226 TFLOP/s at 4096³; 64×64 per subgroup,
//   256×128 blocks, double buffering and matrix-load staging were all slower).
// Dispatch: grid(tilesM · tilesN); the linear id walks groups of 8 m-tiles (n outer) for L2 reuse.
// EMULATE: matrix ops emulated in plain WGSL (BK 32: lavapipe has 32 KiB of workgroup memory; BK never
//   changes the order).
enable f16;
//#if !EMULATE
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
//#endif

const BM = 128u;
const BN = 128u;
//#if EMULATE
const BK = 32u;
//#else
const BK = 64u;
//#endif
const WG = 256u;
const SGN = 4u;                 // subgroups over n (2 over m)
const LDS = BK + 8u;            // staged row stride in f16
const C8 = BK / 8u;             // vec4 per staged row
const LOADS = BM * C8 / WG;     // vec4 per invocation per operand per k-step (BM == BN)
const MAX_SUBGROUPS = 8u;

struct Params { M: u32, N: u32, K: u32, segLen: u32, numSeg: u32, tilesM: u32, tilesN: u32, zero: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
//#include linear_out

var<workgroup> As: array<f16, BM * LDS>;
var<workgroup> Bs: array<f16, BN * LDS>;
var<workgroup> cs: array<f32, MAX_SUBGROUPS * 256u>; // one 16×16 f32 tile per subgroup (folds)

//#if EMULATE
struct MatA { off: u32 }                         // A[r][k] = As[off + r·LDS + k]
struct MatB { off: u32 }                         // B[k][n] = Bs[off + n·LDS + k]
fn loadA(off: u32) -> MatA { return MatA(off); }
fn loadB(off: u32) -> MatB { return MatB(off); }
fn aAt(a: MatA, r: u32, k: u32) -> f16 { return As[a.off + r * LDS + k]; }
fn bAt(b: MatB, k: u32, n: u32) -> f16 { return Bs[b.off + n * LDS + k]; }
//#else
alias MatA = subgroup_matrix_left<f16, 16, 16>;
alias MatB = subgroup_matrix_right<f16, 16, 16>;
//#if SGM_BOOL
fn loadA(off: u32) -> MatA { return subgroupMatrixLoad<MatA>(&As, off, false, LDS); }
fn loadB(off: u32) -> MatB { return subgroupMatrixLoad<MatB>(&Bs, off, true, LDS); }
//#else
fn loadA(off: u32) -> MatA { return subgroupMatrixLoad<MatA, row_major>(&As, off, LDS); }
fn loadB(off: u32) -> MatB { return subgroupMatrixLoad<MatB, col_major>(&Bs, off, LDS); }
//#endif
//#endif
//#include linear_sgm_acc

var<private> ra: array<vec4<u32>, LOADS>;
var<private> rb: array<vec4<u32>, LOADS>;
var<private> tot: array<f32, 64>;               // 8 tiles × 8 elements per lane

// Loads the k-step starting at k of the block's x rows (from mB) and w rows (from nB) into registers.
fn fetch(lid: u32, mB: u32, nB: u32, k: u32) {
  let K8 = p.K / 8u;
  for (var l = 0u; l < LOADS; l++) {
    let i = lid + l * WG;
    let r = i / C8;
    let kc = k / 8u + i % C8;
    ra[l] = vec4<u32>();
    rb[l] = vec4<u32>();
    if (kc < K8) {
      if (mB + r < p.M) { ra[l] = x[(mB + r) * K8 + kc]; }
      if (nB + r < p.N) { rb[l] = w[(nB + r) * K8 + kc]; }
    }
  }
}

// Registers → workgroup memory.
fn stash(lid: u32) {
  for (var l = 0u; l < LOADS; l++) {
    let i = lid + l * WG;
    let o = (i / C8) * LDS + (i % C8) * 8u;
    let a = ra[l];
    let b = rb[l];
    for (var q = 0u; q < 4u; q++) {
      let ha = bitcast<vec2<f16>>(a[q]);
      let hb = bitcast<vec2<f16>>(b[q]);
      As[o + 2u * q] = ha.x;
      As[o + 2u * q + 1u] = ha.y;
      Bs[o + 2u * q] = hb.x;
      Bs[o + 2u * q + 1u] = hb.y;
    }
  }
}

// Adds tile t's partial sums (matrix c) to the lane's totals.
fn fold(c: MatC, sg: u32, ln: u32, t: u32) {
  storeC(sg * 256u, c);
  workgroupBarrier();
  for (var i = 0u; i < 8u; i++) { tot[t * 8u + i] += cs[sg * 256u + ln + 32u * i]; }
  workgroupBarrier();
}

// Stores tile t (rows r0.., columns c0..) from the lane's totals, adding the bias.
fn emit(ln: u32, t: u32, r0: u32, c0: u32) {
  for (var i = 0u; i < 8u; i++) {
    let e = ln + 32u * i;
    let r = r0 + e / 16u;
    let col = c0 + e % 16u;
    if (r < p.M && col < p.N) {
      var v = tot[t * 8u + i];
//#if BIAS
      v += f32(bias[col]);
//#endif
      out[r * p.N + col] = OutT(v);
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ln = lid % 32u;
//#if EMULATE
  lane = ln;
//#endif
  let sg = lid / 32u;
  let t = wid.x + wid.y * nwg.x;
  if (t >= p.tilesM * p.tilesN) { return; }        // whole workgroups only
  let span = 8u * p.tilesN;
  let tm0 = (t / span) * 8u;
  let rows = min(p.tilesM - tm0, 8u);
  let mB = (tm0 + (t % span) % rows) * BM;
  let nB = ((t % span) / rows) * BN;
  let am = (sg / SGN) * 64u;                       // the subgroup's rows and columns in the block
  let bn = (sg % SGN) * 32u;
  let K = p.K;
  let busy = mB + am < p.M && nB + bn < p.N;      // a subgroup with nothing to store skips its matrix ops

  var c00 = zeroC(); var c01 = zeroC();
  var c10 = zeroC(); var c11 = zeroC();
  var c20 = zeroC(); var c21 = zeroC();
  var c30 = zeroC(); var c31 = zeroC();
  fetch(lid, mB, nB, 0u);
  for (var k0 = 0u; k0 < K; k0 += BK) {
    workgroupBarrier();                            // the previous k-step's matrix loads are done
    stash(lid);
    workgroupBarrier();
    if (k0 + BK < K) { fetch(lid, mB, nB, k0 + BK); }
    if (busy) {
      for (var kk = 0u; kk < BK; kk += 16u) {
        if (k0 + kk < K) {
          let a0 = loadA(am * LDS + kk);
          let a1 = loadA((am + 16u) * LDS + kk);
          let a2 = loadA((am + 32u) * LDS + kk);
          let a3 = loadA((am + 48u) * LDS + kk);
          let b0 = loadB(bn * LDS + kk);
          let b1 = loadB((bn + 16u) * LDS + kk);
          c00 = mma(a0, b0, c00); c01 = mma(a0, b1, c01);
          c10 = mma(a1, b0, c10); c11 = mma(a1, b1, c11);
          c20 = mma(a2, b0, c20); c21 = mma(a2, b1, c21);
          c30 = mma(a3, b0, c30); c31 = mma(a3, b1, c31);
        }
      }
    }
    let kn = k0 + BK;
    if (kn % p.segLen == 0u || kn >= K) {          // a segment ends: fold its chains, start new ones
      fold(c00, sg, ln, 0u); fold(c01, sg, ln, 1u);
      fold(c10, sg, ln, 2u); fold(c11, sg, ln, 3u);
      fold(c20, sg, ln, 4u); fold(c21, sg, ln, 5u);
      fold(c30, sg, ln, 6u); fold(c31, sg, ln, 7u);
      c00 = zeroC(); c01 = zeroC(); c10 = zeroC(); c11 = zeroC();
      c20 = zeroC(); c21 = zeroC(); c30 = zeroC(); c31 = zeroC();
    }
  }
  let m0 = mB + am;
  let n0 = nB + bn;
  emit(ln, 0u, m0, n0); emit(ln, 1u, m0, n0 + 16u);
  emit(ln, 2u, m0 + 16u, n0); emit(ln, 3u, m0 + 16u, n0 + 16u);
  emit(ln, 4u, m0 + 32u, n0); emit(ln, 5u, m0 + 32u, n0 + 16u);
  emit(ln, 6u, m0 + 48u, n0); emit(ln, 7u, m0 + 48u, n0 + 16u);
}
