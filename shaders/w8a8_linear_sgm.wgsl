// w8a8_linear_sgm: out = (xq · wqᵀ) · sx · sw (+ bias) on int8 tensor cores (i8 × i8 → i32, 16×16×32
// subgroup matrices): W8A8 for many rows. acc is exact in i32, so the bits equal w8a8_linear_tiled's for
// every M (lib/w8a8_out's one epilogue).
// Bindings: lib/w8a8_out (xq, sx, wq, sw, BIAS bias, out, params { M, N, K, tilesM, tilesN, zero }).
// Needs K % 64 == 0 (the wrapper checks). Rows past M and columns past N are computed from clamped rows
//   and never stored.
// Workgroup: 256 invocations = 8 subgroups of 32, 2 over m × 4 over n, on a 128×128 block of out; a subgroup
//   owns 64×32 (4×2 tiles of 16×16). Per k-step of BK = 64 int8 every invocation loads 2 vec4 of x and 2 of w
//   (rows of 16 words) into registers one step ahead and stores them to workgroup memory (rows padded to 20
//   words = 80 bytes; every workgroup variable a multiple of 16 bytes); each subgroup then runs 2 × 8
//   multiply-accumulates. At the end each tile goes through `cs` (one 16×16 i32 tile per subgroup) to the
//   lanes, which write their elements with the epilogue (lane owns e = lane + 32·i: row e/16, col e%16).
//   i8 subgroup matrices are loaded from arrays of i32 with offsets and strides in bytes (one i8 element each:
//   Dawn's bool spelling), or, with I8_WORDS, in i32 words (elements of the array: Dawn's template spelling
//   `subgroupMatrixLoad<T, row_major>` since tint 9361310a57, 2026-06-29); the bool and emulated loads take
//   bytes and are given words × 4 under I8_WORDS (bench/probes/i8_subgroup_matrix.ts tells which a Dawn does).
// Dispatch: grid(tilesM · tilesN), id = tileN · tilesM + tileM.
// EMULATE: matrix ops emulated in plain WGSL (lavapipe: index logic only).
enable f16;
//#if !EMULATE
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
//#endif
//#if DOT4
requires packed_4x8_integer_dot_product;
//#endif

struct Params { M: u32, N: u32, K: u32, tilesM: u32, tilesN: u32, zero: u32 }
//#include w8a8_out

const BM = 128u;
const BN = 128u;
const BK = 64u;                 // int8 per k-step: two 32-deep multiply-accumulates
const LDW = 20u;                // staged row stride in words (16 + 4 of padding)
const LDB = LDW * 4u;           // ... in bytes
//#if I8_WORDS
const LU = 4u;                  // bytes per unit of the matrix loads' offsets and strides: i32 words
//#else
const LU = 1u;                  // ... bytes
//#endif
const LDM = LDB / LU;           // staged row stride in the matrix loads' unit
const KH = 32u / LU;            // 32 int8 of k (the second half of a k-step) in that unit
const SGN = 4u;
var<workgroup> As: array<i32, BM * LDW>;
var<workgroup> Bs: array<i32, BN * LDW>;
var<workgroup> cs: array<i32, 8u * 256u>;

//#if EMULATE
//#replace subgroupMatrixLoad<MatA, row_major>(&As, => emuLoadA(
//#replace subgroupMatrixLoad<MatB, col_major>(&Bs, => emuLoadB(
//#replace subgroupMatrixMultiplyAccumulate( => emuMma(
//#replace subgroupMatrixStore<row_major>(&cs, => emuStoreC(
struct MatA { off: u32, stride: u32 }            // A[r][k] = byte off + r·stride + k of As
struct MatB { off: u32, stride: u32 }            // B[k][n] = byte off + n·stride + k of Bs
struct MatC { v: array<i32, 8> }                 // lane owns elements e = lane + 32·i (row e/16, col e%16)
var<private> lane: u32;
fn emuLoadA(off: u32, stride: u32) -> MatA { return MatA(off * LU, stride * LU); }
fn emuLoadB(off: u32, stride: u32) -> MatB { return MatB(off * LU, stride * LU); }
fn sbyte(w: i32, b: u32) -> i32 { return (w << (24u - 8u * b)) >> 24u; }
fn aAt(o: u32) -> i32 { return sbyte(As[o / 4u], o % 4u); }
fn bAt(o: u32) -> i32 { return sbyte(Bs[o / 4u], o % 4u); }
fn emuMma(a: MatA, b: MatB, c: MatC) -> MatC {
  var r = c;
  for (var i = 0u; i < 8u + p.zero; i++) {
    let e = lane + 32u * i;
    var s = 0;
    for (var k = 0u; k < 32u + p.zero; k++) { s += aAt(a.off + (e / 16u) * a.stride + k) * bAt(b.off + (e % 16u) * b.stride + k); }
    r.v[i] += s;
  }
  return r;
}
fn emuStoreC(off: u32, c: MatC, stride: u32) {
  for (var i = 0u; i < 8u + p.zero; i++) {
    let e = lane + 32u * i;
    cs[off + (e / 16u) * stride + e % 16u] = c.v[i];
  }
}
//#else
alias MatA = subgroup_matrix_left<i8, 32, 16>;
alias MatB = subgroup_matrix_right<i8, 16, 32>;
alias MatC = subgroup_matrix_result<i32, 16, 16>;
//#if SGM_BOOL
//#replace subgroupMatrixLoad<MatA, row_major>(&As, => boolLoadA(
//#replace subgroupMatrixLoad<MatB, col_major>(&Bs, => boolLoadB(
//#replace subgroupMatrixStore<row_major>(&cs, => boolStoreC(
fn boolLoadA(off: u32, stride: u32) -> MatA { return subgroupMatrixLoad<MatA>(&As, off * LU, false, stride * LU); }
fn boolLoadB(off: u32, stride: u32) -> MatB { return subgroupMatrixLoad<MatB>(&Bs, off * LU, true, stride * LU); }
fn boolStoreC(off: u32, c: MatC, stride: u32) { subgroupMatrixStore(&cs, off, c, false, stride); }
//#endif
//#endif

// One vec4 (16 int8) of xq row r / wq row r at vec4 index kv of the row; rows clamped (never stored).
fn xAt(r: u32, kv: u32) -> vec4<u32> {
  let o = min(r, p.M - 1u) * (p.K / 4u) + kv * 4u;
  return vec4<u32>(xq[o], xq[o + 1u], xq[o + 2u], xq[o + 3u]);
}
fn wAt(r: u32, kv: u32) -> vec4<u32> {
  let o = min(r, p.N - 1u) * (p.K / 4u) + kv * 4u;
  return vec4<u32>(wq[o], wq[o + 1u], wq[o + 2u], wq[o + 3u]);
}
fn putA(o: u32, v: vec4<u32>) { As[o] = bitcast<i32>(v.x); As[o + 1u] = bitcast<i32>(v.y); As[o + 2u] = bitcast<i32>(v.z); As[o + 3u] = bitcast<i32>(v.w); }
fn putB(o: u32, v: vec4<u32>) { Bs[o] = bitcast<i32>(v.x); Bs[o + 1u] = bitcast<i32>(v.y); Bs[o + 2u] = bitcast<i32>(v.z); Bs[o + 3u] = bitcast<i32>(v.w); }

// The lane's elements of the tile its subgroup just stored to cs, written out (rows r0.., columns c0..).
fn emitTile(sg: u32, ln: u32, r0: u32, c0: u32) {
  for (var i = 0u; i < 8u; i++) {
    let e = ln + 32u * i;
    let r = r0 + e / 16u;
    let c = c0 + e % 16u;
    if (r < p.M && c < p.N) { w8a8Store(cs[sg * 256u + e], r, c); }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ln = lid % 32u;
//#if EMULATE
  lane = ln;
//#endif
  let sg = lid / 32u;
  let t = wid.x + wid.y * nwg.x;
  if (t >= p.tilesM * p.tilesN) { return; }        // whole workgroups only
  let mB = (t % p.tilesM) * BM;
  let nB = (t / p.tilesM) * BN;
  let am = (sg / SGN) * 64u;
  let bn = (sg % SGN) * 32u;
  // This invocation's vec4s of a k-step: rows lid / 4 and lid / 4 + 64, vec4 kq = lid % 4 of the row's 4.
  let r0 = lid / 4u;
  let kq = lid % 4u;
  let so = r0 * LDW + kq * 4u;
  let so1 = (r0 + 64u) * LDW + kq * 4u;

  var c00 = MatC(); var c01 = MatC(); var c10 = MatC(); var c11 = MatC();
  var c20 = MatC(); var c21 = MatC(); var c30 = MatC(); var c31 = MatC();
  var xa0 = xAt(mB + r0, kq); var xa1 = xAt(mB + r0 + 64u, kq);
  var wb0 = wAt(nB + r0, kq); var wb1 = wAt(nB + r0 + 64u, kq);
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    workgroupBarrier();                            // the previous k-step's matrix loads are done
    putA(so, xa0); putA(so1, xa1); putB(so, wb0); putB(so1, wb1);
    workgroupBarrier();
    let kn = k0 + BK;
    if (kn < p.K) {
      let kv = kn / 16u + kq;
      xa0 = xAt(mB + r0, kv); xa1 = xAt(mB + r0 + 64u, kv);
      wb0 = wAt(nB + r0, kv); wb1 = wAt(nB + r0 + 64u, kv);
    }
    {
      let b0 = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDM, LDM); let b1 = subgroupMatrixLoad<MatB, col_major>(&Bs, (bn + 16u) * LDM, LDM);
      let a0 = subgroupMatrixLoad<MatA, row_major>(&As, am * LDM, LDM); let a1 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 16u) * LDM, LDM);
      c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00); c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01);
      c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10); c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
      let a2 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 32u) * LDM, LDM); let a3 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 48u) * LDM, LDM);
      c20 = subgroupMatrixMultiplyAccumulate(a2, b0, c20); c21 = subgroupMatrixMultiplyAccumulate(a2, b1, c21);
      c30 = subgroupMatrixMultiplyAccumulate(a3, b0, c30); c31 = subgroupMatrixMultiplyAccumulate(a3, b1, c31);
    }
    {
      let b0 = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDM + KH, LDM); let b1 = subgroupMatrixLoad<MatB, col_major>(&Bs, (bn + 16u) * LDM + KH, LDM);
      let a0 = subgroupMatrixLoad<MatA, row_major>(&As, am * LDM + KH, LDM); let a1 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 16u) * LDM + KH, LDM);
      c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00); c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01);
      c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10); c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
      let a2 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 32u) * LDM + KH, LDM); let a3 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 48u) * LDM + KH, LDM);
      c20 = subgroupMatrixMultiplyAccumulate(a2, b0, c20); c21 = subgroupMatrixMultiplyAccumulate(a2, b1, c21);
      c30 = subgroupMatrixMultiplyAccumulate(a3, b0, c30); c31 = subgroupMatrixMultiplyAccumulate(a3, b1, c31);
    }
  }
  let m0 = mB + am;
  let n0 = nB + bn;
  let o = sg * 256u;
  subgroupMatrixStore<row_major>(&cs, o, c00, 16u); workgroupBarrier(); emitTile(sg, ln, m0, n0); workgroupBarrier();
  subgroupMatrixStore<row_major>(&cs, o, c01, 16u); workgroupBarrier(); emitTile(sg, ln, m0, n0 + 16u); workgroupBarrier();
  subgroupMatrixStore<row_major>(&cs, o, c10, 16u); workgroupBarrier(); emitTile(sg, ln, m0 + 16u, n0); workgroupBarrier();
  subgroupMatrixStore<row_major>(&cs, o, c11, 16u); workgroupBarrier(); emitTile(sg, ln, m0 + 16u, n0 + 16u); workgroupBarrier();
  subgroupMatrixStore<row_major>(&cs, o, c20, 16u); workgroupBarrier(); emitTile(sg, ln, m0 + 32u, n0); workgroupBarrier();
  subgroupMatrixStore<row_major>(&cs, o, c21, 16u); workgroupBarrier(); emitTile(sg, ln, m0 + 32u, n0 + 16u); workgroupBarrier();
  subgroupMatrixStore<row_major>(&cs, o, c30, 16u); workgroupBarrier(); emitTile(sg, ln, m0 + 48u, n0); workgroupBarrier();
  subgroupMatrixStore<row_major>(&cs, o, c31, 16u); workgroupBarrier(); emitTile(sg, ln, m0 + 48u, n0 + 16u);
}
