// linear_subgroup_matrix_direct: out = x Wᵀ (+ bias) on tensor cores, both operands loaded by the
// matrix loads straight from the storage buffers (no workgroup-memory staging, no barrier in the k loop).
// Same reduction order as linear_subgroup_matrix (see its header), hence the same bits: K cut into numSeg
//   segments of segLen (a multiple of 128); segment s = one chain of 16×16×16 multiply-accumulates over
//   its 16-wide k-steps in increasing order from +0 (p_s); out = (((0 + p_0) + p_1) + …) + bias.
// Bindings: 0 x: [M, K] f16   1 w: [N, K] f16 (Hugging Face layout)   BIAS: 2 bias: [N] f16
//           then out: [M, N] f16 (f32 with OUT_F32), then params.
// Needs K % 16 == 0 (a k-step never runs past a row's end), N % 16 == 0 and x bound with its rows rounded
//   up to a multiple of 16 (the wrapper pads): a matrix load that crosses its binding's end is moved by
//   Dawn's robustness, corrupting the valid rows. Rows past M only feed output rows that are never stored.
// Workgroup: KG × SGM × SGN subgroups of 32 (KG ≥ numSeg): k-group g runs segment g of the same output
//   tiles; a subgroup owns one 16×16 tile (T2: a 2×2 block of them, 32×32), so BM = 16·TT·SGM rows and
//   BN = 16·TT·SGN columns. The single-tile schedule issues the loads of 4 k-steps before their 4
//   multiply-accumulates (more weight bytes in flight: decode is a weight stream). Partial tiles are folded
//   in segment order through workgroup memory (one tile per subgroup at a time).
// Dispatch: grid(tilesM · tilesN); the linear id walks groups of 8 m-tiles (n outer) for L2 reuse.
// EMULATE: matrix ops emulated in plain WGSL (same tiling and folds; its own per-tile math) so the index
//   logic runs on devices without the feature.
enable f16;
//#if !EMULATE
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
//#endif

override KG: u32 = 1;          // k-groups (segments side by side)
override SGM: u32 = 1;         // subgroups over m
override SGN: u32 = 1;         // subgroups over n
override WG: u32 = 32u * KG * SGM * SGN;
//#if T2
const TT = 2u;
//#else
const TT = 1u;
//#endif
const MAX_SUBGROUPS = 16u;

struct Params { M: u32, N: u32, K: u32, segLen: u32, numSeg: u32, tilesM: u32, tilesN: u32, zero: u32 }

@group(0) @binding(0) var<storage, read> x: array<f16>;
@group(0) @binding(1) var<storage, read> w: array<f16>;
//#include linear_out

var<workgroup> cs: array<f32, MAX_SUBGROUPS * 256u>; // one 16×16 f32 tile per subgroup

//#if EMULATE
struct MatA { off: u32 }                         // A[r][k] = x[off + r·K + k]
struct MatB { off: u32 }                         // B[k][n] = w[off + n·K + k]
fn loadA(off: u32) -> MatA { return MatA(off); }
fn loadB(off: u32) -> MatB { return MatB(off); }
fn aAt(a: MatA, r: u32, k: u32) -> f16 { return x[a.off + r * p.K + k]; }
fn bAt(b: MatB, k: u32, n: u32) -> f16 { return w[b.off + n * p.K + k]; }
//#else
alias MatA = subgroup_matrix_left<f16, 16, 16>;
alias MatB = subgroup_matrix_right<f16, 16, 16>;
//#if SGM_BOOL
fn loadA(off: u32) -> MatA { return subgroupMatrixLoad<MatA>(&x, off, false, p.K); }
fn loadB(off: u32) -> MatB { return subgroupMatrixLoad<MatB>(&w, off, true, p.K); }
//#else
fn loadA(off: u32) -> MatA { return subgroupMatrixLoad<MatA, row_major>(&x, off, p.K); }
fn loadB(off: u32) -> MatB { return subgroupMatrixLoad<MatB, col_major>(&w, off, p.K); }
//#endif
//#endif
//#include linear_sgm_acc
//#include linear_store_c

// Folds tile `c` (rows r0.., columns c0..) of every k-group in segment order and stores it.
fn foldStore(c: MatC, sg: u32, sti: u32, g: u32, ln: u32, r0: u32, c0: u32) {
  storeC(sg * 256u, c);
  workgroupBarrier();
  if (g == 0u) {
    for (var i = 0u; i < 8u; i++) {
      let e = ln + 32u * i;
      let r = r0 + e / 16u;
      let col = c0 + e % 16u;
      var v = 0.0;
      for (var gg = 0u; gg < min(KG, p.numSeg); gg++) { v += cs[(gg * SGM * SGN + sti) * 256u + e]; }
      if (r < p.M && col < p.N) {
//#if BIAS
        v += f32(bias[col]);
//#endif
        out[r * p.N + col] = OutT(v);
      }
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
  let g = sg / (SGM * SGN);
  let sti = sg % (SGM * SGN);
  let t = wid.x + wid.y * nwg.x;
  if (t >= p.tilesM * p.tilesN) { return; }        // whole workgroups only
  let span = 8u * p.tilesN;
  let tm0 = (t / span) * 8u;
  let rows = min(p.tilesM - tm0, 8u);
  let m0 = (tm0 + (t % span) % rows) * (16u * TT * SGM) + (sti / SGN) * 16u * TT;
  let n0 = ((t % span) / rows) * (16u * TT * SGN) + (sti % SGN) * 16u * TT;
  let K = p.K;
  let kBeg = g * p.segLen;
  var kEnd = min(kBeg + p.segLen, K);
  if (m0 >= p.M || n0 >= p.N) { kEnd = 0u; }        // a subgroup with nothing to store skips its k loop
  var k = kBeg;

  var c00 = zeroC();
//#if T2
  var c01 = zeroC();
  var c10 = zeroC();
  var c11 = zeroC();
  for (; k < kEnd; k += 16u) {
    let a0 = loadA(m0 * K + k);
    let a1 = loadA((m0 + 16u) * K + k);
    let b0 = loadB(n0 * K + k);
    let b1 = loadB((n0 + 16u) * K + k);
    c00 = mma(a0, b0, c00);
    c01 = mma(a0, b1, c01);
    c10 = mma(a1, b0, c10);
    c11 = mma(a1, b1, c11);
  }
//#else
  for (; k + 64u <= kEnd; k += 64u) {              // 4 k-steps: loads first, then the chain in k order
    let b0 = loadB(n0 * K + k);
    let b1 = loadB(n0 * K + k + 16u);
    let b2 = loadB(n0 * K + k + 32u);
    let b3 = loadB(n0 * K + k + 48u);
    let a0 = loadA(m0 * K + k);
    let a1 = loadA(m0 * K + k + 16u);
    let a2 = loadA(m0 * K + k + 32u);
    let a3 = loadA(m0 * K + k + 48u);
    c00 = mma(a0, b0, c00);
    c00 = mma(a1, b1, c00);
    c00 = mma(a2, b2, c00);
    c00 = mma(a3, b3, c00);
  }
  for (; k < kEnd; k += 16u) {
    c00 = mma(loadA(m0 * K + k), loadB(n0 * K + k), c00);
  }
//#endif

  foldStore(c00, sg, sti, g, ln, m0, n0);
//#if T2
  foldStore(c01, sg, sti, g, ln, m0, n0 + 16u);
  foldStore(c10, sg, sti, g, ln, m0 + 16u, n0);
  foldStore(c11, sg, sti, g, ln, m0 + 16u, n0 + 16u);
//#endif
}
