// prefill_attention_sgmat: the subgroup-matrix (tensor core) variant of prefill_attention.wgsl:
// same bindings (caches read 16 bytes at a time), params, query-row tiling, dispatch and
// absolute key tiles. Needs f16 16x16x16 subgroup matrices and 32-wide subgroups (NVIDIA);
// the wrapper checks both. EMULATE runs the same tiling and index logic with the matrix
// operations in plain WGSL (devices without the feature: tests on lavapipe).
//
// Variants: SLIDING (key tiles before every row's window skipped), SOFTCAP; both score through
//   lib/prefill_params' scoreLog2 (SCORES), where unseen keys get probability exactly 0.
// Head dims: 64 (q0..q3, o0..o3), 80 (Q5: also q4/o4), 96 (Q6: also q5/o5), 128 (HEAD_DIM_128: q0..q7).
// Bindings: 0 q: [numTokens, numHeads, D] f16 (vec4<u32> = 8 f16)   1 kCache, 2 vCache:
//   [numBlocks, numKvHeads, 16, D] f16 (vec4<u32>)   3 queryStartLoc   4 seqLens
//   5 blockTables   6 out: [numTokens, numHeads, D] f16 (vec4<f16>)   7 params
// Workgroup: NSG = 4 subgroups of 32 (EMULATE: 2); subgroup s owns packed query rows
//   16s .. 16s+15 (token-major (token, head) pairs of one kv head, as in the plain path).
// Per key tile (BK = 64 keys = 4 cache blocks at absolute positions; EMULATE: 32):
//   K tile -> workgroup memory (16-byte loads prefetched into registers during the previous
//   tile's P·V; keys past seqLen are zero); S = Q Kᵀ with Q as D/16 left matrices held in
//   registers; S -> workgroup memory; softmax there, 2 lanes per row (V tile loads in flight),
//   P stored f16; O += P V into D/16 result matrices that stay in registers.
//   Every block of the tile is multiplied, also blocks past the workgroup's last query
//   position: their keys are masked, P is exactly 0 there and adds nothing.
//   The running max moves lazily: only when a row's tile max exceeds it by more than TAU = 8
//   (log2 units; P <= 256 fits f16). Only then does O pass through workgroup memory to be
//   rescaled, which after the first tiles is rare. Each decision depends on the row's own
//   scores, and scaling a row by exactly 1 is exact: results stay chunk- and batch-invariant.
// Written like linear_subgroup_matrix_block (docs/KERNELS.md, "Tensor cores through Dawn"): Q and
//   O are named matrices (no arrays of matrices), the per-block and per-column-tile matrix ops
//   are written out (no loop around them), builtins called from main. EMULATE and SGM_BOOL swap
//   the builtins by //#replace.
// Workgroup memory: every variable is a multiple of 16 bytes. NVIDIA's driver packs workgroup
//   variables and its matrix loads assume 16-byte alignment: a 4-byte flag once put the f16 tiles
//   4 bytes off and every loaded row read two halves early (bench/RESULTS.md, session 6).
//   A subgroup's S and P rows are its own inner array (sS[sg], sP[sg]) so that every per-tile
//   matrix load and store has a constant offset: Dawn's robustness then proves it in bounds and
//   does not wrap it in a bounds check, which cost this kernel 3.6x (session 6).
//#if !EMULATE
diagnostic(off, chromium.subgroup_matrix_uniformity);
enable subgroups;
enable chromium_experimental_subgroup_matrix;
//#endif
enable f16;

@group(0) @binding(0) var<storage, read> q: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> kCache: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> vCache: array<vec4<u32>>;
//#include prefill_params
const D8: u32 = D / 8u;       // 16-byte chunks per row
//#if EMULATE
const NSG: u32 = 2u;          // lavapipe has 32 KiB of workgroup memory
const BK: u32 = 32u;          // 2 cache blocks: the code for blocks 2 and 3 is left out
//#else
const NSG: u32 = 4u;
const BK: u32 = 64u;
//#endif
const WG: u32 = NSG * 32u;
const BM: u32 = NSG * 16u;    // packed query rows per workgroup
const BLOCK: u32 = 16u;
const KP: u32 = D + 8u;       // f16 row stride of the Q/K/V staging tile
const SS: u32 = max(BK, 64u) + 4u; // f32 row stride of S (and of O, 64 columns at a time)
const SP: u32 = BK + 8u;      // f16 row stride of P
const KCH: u32 = BK * D8 / WG; // 16-byte chunks per invocation per K or V tile
const NEG: f32 = -1.0e30;
const TAU: f32 = 8.0;

var<workgroup> sKV: array<f16, max(BM, BK) * KP>;   // Q tile at the start, then K or V tiles
var<workgroup> sS: array<array<f32, 16u * SS>, NSG>; // per subgroup: S; O when rescaled or written out
var<workgroup> sP: array<array<f16, 16u * SP>, NSG>; // per subgroup: P
var<workgroup> sRescale: vec4<u32>;                 // .x only: 16 bytes keeps the others aligned

//#if EMULATE
// Emulated subgroup matrices: "subgroups" of 32 invocations, lane owns result elements
// e = lane + 32 i (row e / 16, column e % 16); operands are read where they lie, so Q keeps
// a tile of its own (sQ, same layout as sKV).
//#replace subgroupMatrixLoad<Left, row_major>(&sKV, => emuLoadQ(
//#replace subgroupMatrixLoad<Left, row_major>(&sP[sg], => emuLoadP(sg,
//#replace subgroupMatrixLoad<Right, col_major>(&sKV, => emuLoadK(
//#replace subgroupMatrixLoad<Right, row_major>(&sKV, => emuLoadV(
//#replace subgroupMatrixLoad<Acc, row_major>(&sS[sg], => emuLoadS(sg,
//#replace subgroupMatrixStore<row_major>(&sS[sg], => emuStoreS(sg,
//#replace subgroupMatrixMultiplyAccumulate( => emuMma(
var<workgroup> sQ: array<f16, BM * KP>;
var<workgroup> sX: array<f32, WG>;
var<private> inv: u32;
var<private> n8: u32; // 8, unknown to the compiler: keeps the loops rolled (lavapipe compile time)
struct Left { src: u32, off: u32, stride: u32 } // src 0: sQ, 1: sP flattened (row-major)
struct Right { colMajor: bool, off: u32 }       // in sKV
struct Acc { v: array<f32, 8> }
fn emuLoadQ(off: u32, stride: u32) -> Left { return Left(0u, off, stride); }
fn emuLoadP(s: u32, off: u32, stride: u32) -> Left { return Left(1u, s * 16u * SP + off, stride); }
fn emuLoadK(off: u32, stride: u32) -> Right { return Right(true, off); }
fn emuLoadV(off: u32, stride: u32) -> Right { return Right(false, off); }
fn leftAt(a: Left, row: u32, k: u32) -> f32 {
  let i = a.off + row * a.stride + k;
  let j = i % (BM * SP);
  return select(f32(sP[j / (16u * SP)][j % (16u * SP)]), f32(sQ[i % (BM * KP)]), a.src == 0u);
}
fn rightAt(b: Right, k: u32, n: u32) -> f32 { return f32(sKV[b.off + select(k * KP + n, n * KP + k, b.colMajor)]); }
fn emuMma(a: Left, b: Right, c: Acc) -> Acc {
  var r = c;
  for (var i = 0u; i < n8; i++) {
    let e = inv % 32u + 32u * i;
    var s = 0.0;
    for (var k = 0u; k < 2u * n8; k++) { s = fma(leftAt(a, e / 16u, k), rightAt(b, k, e % 16u), s); }
    r.v[i] += s;
  }
  return r;
}
fn emuStoreS(s: u32, off: u32, c: Acc, stride: u32) {
  for (var i = 0u; i < n8; i++) { let e = inv % 32u + 32u * i; sS[s][off + (e / 16u) * stride + e % 16u] = c.v[i]; }
}
fn emuLoadS(s: u32, off: u32, stride: u32) -> Acc {
  var c = Acc();
  for (var i = 0u; i < n8; i++) { let e = inv % 32u + 32u * i; c.v[i] = sS[s][off + (e / 16u) * stride + e % 16u]; }
  return c;
}
fn partner(x: f32) -> f32 {
  workgroupBarrier();
  sX[inv] = x;
  workgroupBarrier();
  return sX[inv ^ 16u];
}
fn stageQ(m: u32, d8: u32, v: vec4<u32>) {
  stageRow(m, d8, v);
  for (var w = 0u; w < 4u; w++) { let h = bitcast<vec2<f16>>(v[w]); sQ[m * KP + d8 * 8u + 2u * w] = h.x; sQ[m * KP + d8 * 8u + 2u * w + 1u] = h.y; }
}
//#else
alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;
//#if SGM_BOOL
// (older Dawn's spelling: wrappers, correct and slower; the bodies' "( &" spelling keeps them out
// of their own //#replace)
//#replace subgroupMatrixLoad<Left, row_major>(&sKV, => boolLoadQ(
//#replace subgroupMatrixLoad<Left, row_major>(&sP[sg], => boolLoadP(sg,
//#replace subgroupMatrixLoad<Right, col_major>(&sKV, => boolLoadK(
//#replace subgroupMatrixLoad<Right, row_major>(&sKV, => boolLoadV(
//#replace subgroupMatrixLoad<Acc, row_major>(&sS[sg], => boolLoadS(sg,
//#replace subgroupMatrixStore<row_major>(&sS[sg], => boolStoreS(sg,
fn boolLoadQ(off: u32, stride: u32) -> Left { return subgroupMatrixLoad<Left>( &sKV, off, false, stride); }
fn boolLoadP(s: u32, off: u32, stride: u32) -> Left { return subgroupMatrixLoad<Left>( &sP[s], off, false, stride); }
fn boolLoadK(off: u32, stride: u32) -> Right { return subgroupMatrixLoad<Right>( &sKV, off, true, stride); }
fn boolLoadV(off: u32, stride: u32) -> Right { return subgroupMatrixLoad<Right>( &sKV, off, false, stride); }
fn boolLoadS(s: u32, off: u32, stride: u32) -> Acc { return subgroupMatrixLoad<Acc>( &sS[s], off, false, stride); }
fn boolStoreS(s: u32, off: u32, c: Acc, stride: u32) { subgroupMatrixStore( &sS[s], off, c, false, stride); }
//#endif
fn partner(x: f32) -> f32 { return subgroupShuffleXor(x, 16u); }
fn stageQ(m: u32, d8: u32, v: vec4<u32>) { stageRow(m, d8, v); }
//#endif

// 8 f16 (16 bytes) into row `row`, columns 8 d8 .. 8 d8 + 7 of the staging tile (components named,
// as lib/linear_stage's putA: no dynamic index into the vector).
fn stageRow(row: u32, d8: u32, v: vec4<u32>) {
  let o = row * KP + d8 * 8u;
  let h0 = bitcast<vec2<f16>>(v.x); let h1 = bitcast<vec2<f16>>(v.y);
  let h2 = bitcast<vec2<f16>>(v.z); let h3 = bitcast<vec2<f16>>(v.w);
  sKV[o] = h0.x; sKV[o + 1u] = h0.y; sKV[o + 2u] = h1.x; sKV[o + 3u] = h1.y;
  sKV[o + 4u] = h2.x; sKV[o + 5u] = h2.y; sKV[o + 6u] = h3.x; sKV[o + 7u] = h3.y;
}

struct Seq { seq: u32, kvHead: u32, seqLen: u32, loadEnd: u32 }

// 16-byte chunk c of this invocation's share of the key tile at key0 (zero at or past loadEnd).
fn fetch(s: Seq, key0: u32, c: u32, lid: u32, isK: bool) -> vec4<u32> {
  let i = lid + c * WG;
  let pos = key0 + i / D8;
  if (pos >= s.loadEnd) { return vec4<u32>(); }
  let block = blockTables[s.seq * p.maxBlocksPerSeq + pos / BLOCK];
  let at = ((block * p.numKvHeads + s.kvHead) * BLOCK + pos % BLOCK) * D8 + i % D8;
  if (isK) { return kCache[at]; }
  return vCache[at];
}

@compute @workgroup_size(WG)
//#if EMULATE
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  inv = lid;
  n8 = 8u + (lid >> 16u);
  let sg = lid / 32u;
  let lane = lid % 32u;
  let z = p.numSeqs >> 31u; // 0, uniform, unknown to the compiler: loops stay rolled
//#else
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let z = 0u; // constant loop bounds: loops unroll
//#endif
  //#include prefill_query_tile
  let keyEnd = lastPos + 1u; // keys at or past keyEnd are masked for every row here
  // Keys loaded: whole blocks below keyEnd, but never a slot at or past seqLen.
  let sq = Seq(seq, kvHead, seqLen, min(seqLen, (keyEnd + BLOCK - 1u) / BLOCK * BLOCK));

  // Q tile -> workgroup memory (padding rows zero) -> D/16 left matrices per subgroup.
  for (var i = lid; i < BM * D8; i += WG) {
    let m = i / D8;
    let r = m / G;
    var v = vec4<u32>();
    if (r < nRows) { v = q[((tok0 + r) * p.numHeads + head0 + m % G) * D8 + i % D8]; }
    stageQ(m, i % D8, v);
  }
  workgroupBarrier();
  let qo = sg * 16u * KP;
  const ko = 0u;
  let q0 = subgroupMatrixLoad<Left, row_major>(&sKV, qo + 0u, KP);
  let q1 = subgroupMatrixLoad<Left, row_major>(&sKV, qo + 16u, KP);
  let q2 = subgroupMatrixLoad<Left, row_major>(&sKV, qo + 32u, KP);
  let q3 = subgroupMatrixLoad<Left, row_major>(&sKV, qo + 48u, KP);
  var o0 = Acc(); var o1 = Acc(); var o2 = Acc(); var o3 = Acc();
//#if Q5
  let q4 = subgroupMatrixLoad<Left, row_major>(&sKV, qo + 64u, KP);
//#endif
//#if Q6
  let q5 = subgroupMatrixLoad<Left, row_major>(&sKV, qo + 80u, KP);
//#endif
//#if HEAD_DIM_128
  let q6 = subgroupMatrixLoad<Left, row_major>(&sKV, qo + 96u, KP);
  let q7 = subgroupMatrixLoad<Left, row_major>(&sKV, qo + 112u, KP);
//#endif
//#if Q5
  var o4 = Acc();
//#endif
//#if Q6
  var o5 = Acc();
//#endif
//#if HEAD_DIM_128
  var o6 = Acc(); var o7 = Acc();
//#endif

  // This lane's softmax row and key parity: row 16 sg + r, keys 2i + h of each tile.
  let r = lane % 16u;
  let h = lane / 16u;
  let row = sg * 16u + r;
  let rowPos = firstPos + min(row / G, nRows - 1u); // padding rows mirror the last token
  let sRow = r * SS; // this lane's row in sS[sg] and sP[sg]
  let pRow = r * SP;
  var m = NEG;
  var l = 0.0;

  var kReg: array<vec4<u32>, KCH>;
//#if SLIDING
  for (var c = 0u; c < KCH + z; c++) { kReg[c] = fetch(sq, kt0 * BK, c, lid, true); }

  for (var kt = kt0; kt < numKeyTiles; kt++) {
//#else
  for (var c = 0u; c < KCH + z; c++) { kReg[c] = fetch(sq, 0u, c, lid, true); }

  for (var kt = 0u; kt < numKeyTiles; kt++) {
//#endif
    let key0 = kt * BK;
    workgroupBarrier(); // the previous tile's P·V (or the Q loads) are done with sKV and sP
    for (var c = 0u; c < KCH + z; c++) { let i = lid + c * WG; stageRow(i / D8, i % D8, kReg[c]); }
    workgroupBarrier();

    // S = Q Kᵀ, one cache block (16 keys) at a time.
    {
      var s = Acc();
      s = subgroupMatrixMultiplyAccumulate(q0, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 0u * KP + 0u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q1, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 0u * KP + 16u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q2, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 0u * KP + 32u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q3, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 0u * KP + 48u, KP), s);
//#if Q5
      s = subgroupMatrixMultiplyAccumulate(q4, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 0u * KP + 64u, KP), s);
//#endif
//#if Q6
      s = subgroupMatrixMultiplyAccumulate(q5, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 0u * KP + 80u, KP), s);
//#endif
//#if HEAD_DIM_128
      s = subgroupMatrixMultiplyAccumulate(q6, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 0u * KP + 96u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q7, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 0u * KP + 112u, KP), s);
//#endif
      subgroupMatrixStore<row_major>(&sS[sg], 0u, s, SS);
    }
    {
      var s = Acc();
      s = subgroupMatrixMultiplyAccumulate(q0, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 16u * KP + 0u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q1, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 16u * KP + 16u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q2, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 16u * KP + 32u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q3, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 16u * KP + 48u, KP), s);
//#if Q5
      s = subgroupMatrixMultiplyAccumulate(q4, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 16u * KP + 64u, KP), s);
//#endif
//#if Q6
      s = subgroupMatrixMultiplyAccumulate(q5, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 16u * KP + 80u, KP), s);
//#endif
//#if HEAD_DIM_128
      s = subgroupMatrixMultiplyAccumulate(q6, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 16u * KP + 96u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q7, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 16u * KP + 112u, KP), s);
//#endif
      subgroupMatrixStore<row_major>(&sS[sg], 16u, s, SS);
    }
//#if !EMULATE
    {
      var s = Acc();
      s = subgroupMatrixMultiplyAccumulate(q0, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 32u * KP + 0u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q1, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 32u * KP + 16u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q2, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 32u * KP + 32u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q3, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 32u * KP + 48u, KP), s);
//#if Q5
      s = subgroupMatrixMultiplyAccumulate(q4, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 32u * KP + 64u, KP), s);
//#endif
//#if Q6
      s = subgroupMatrixMultiplyAccumulate(q5, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 32u * KP + 80u, KP), s);
//#endif
//#if HEAD_DIM_128
      s = subgroupMatrixMultiplyAccumulate(q6, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 32u * KP + 96u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q7, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 32u * KP + 112u, KP), s);
//#endif
      subgroupMatrixStore<row_major>(&sS[sg], 32u, s, SS);
    }
    {
      var s = Acc();
      s = subgroupMatrixMultiplyAccumulate(q0, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 48u * KP + 0u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q1, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 48u * KP + 16u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q2, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 48u * KP + 32u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q3, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 48u * KP + 48u, KP), s);
//#if Q5
      s = subgroupMatrixMultiplyAccumulate(q4, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 48u * KP + 64u, KP), s);
//#endif
//#if Q6
      s = subgroupMatrixMultiplyAccumulate(q5, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 48u * KP + 80u, KP), s);
//#endif
//#if HEAD_DIM_128
      s = subgroupMatrixMultiplyAccumulate(q6, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 48u * KP + 96u, KP), s);
      s = subgroupMatrixMultiplyAccumulate(q7, subgroupMatrixLoad<Right, col_major>(&sKV, ko + 48u * KP + 112u, KP), s);
//#endif
      subgroupMatrixStore<row_major>(&sS[sg], 48u, s, SS);
    }
//#endif
    var vReg: array<vec4<u32>, KCH>;
    for (var c = 0u; c < KCH + z; c++) { vReg[c] = fetch(sq, key0, c, lid, false); }
    workgroupBarrier(); // S is visible; K is no longer needed

    // Online softmax of this lane's half row (keys past the row's position are masked; that
    // covers the blocks past the last query and every key at or past seqLen).
    var tileMax = NEG;
    for (var i = 0u; i < BK / 2u + z; i++) {
      let key = 2u * i + h;
//#if SCORES
      tileMax = max(tileMax, scoreLog2(sS[sg][sRow + key], key0 + key, rowPos));
//#else
      tileMax = max(tileMax, select(NEG, sS[sg][sRow + key] * p.scaleLog2, key0 + key <= rowPos));
//#endif
    }
    tileMax = max(tileMax, partner(tileMax));
    let mNew = select(m, tileMax, tileMax > m + TAU);
    let corr = exp2(m - mNew);
    var lTile = 0.0;
    for (var i = 0u; i < BK / 2u + z; i++) {
      let key = 2u * i + h;
//#if SCORES
      // A key the row does not see adds exactly 0: with SLIDING a whole tile can precede a row's window
      // while the row's max is still NEG (no rescale would clear what it added).
      let sc = scoreLog2(sS[sg][sRow + key], key0 + key, rowPos);
      let pr = f16(select(0.0, exp2(sc - mNew), sc > NEG));
//#else
      let pr = f16(exp2(select(NEG, sS[sg][sRow + key] * p.scaleLog2, key0 + key <= rowPos) - mNew));
//#endif
      sP[sg][pRow + key] = pr;
      lTile += f32(pr);
    }
    lTile += partner(lTile);
    l = l * corr + lTile;
    if (mNew != m && m != NEG) { sRescale.x = kt + 1u; } // any lane of any subgroup
    m = mNew;
    for (var c = 0u; c < KCH + z; c++) { let i = lid + c * WG; stageRow(i / D8, i % D8, vReg[c]); }
    let flags = workgroupUniformLoad(&sRescale).x; // also the barrier before P and V are read

    if (flags == kt + 1u) {
      // Some row's max moved: O *= corr through workgroup memory (corr is 1 for the others),
      // 64 columns at a time.
      subgroupMatrixStore<row_major>(&sS[sg], 0u, o0, SS); subgroupMatrixStore<row_major>(&sS[sg], 16u, o1, SS);
      subgroupMatrixStore<row_major>(&sS[sg], 32u, o2, SS); subgroupMatrixStore<row_major>(&sS[sg], 48u, o3, SS);
      workgroupBarrier();
      for (var i = 0u; i < 32u + z; i++) { sS[sg][sRow + h * 32u + i] *= corr; }
      workgroupBarrier();
      o0 = subgroupMatrixLoad<Acc, row_major>(&sS[sg], 0u, SS); o1 = subgroupMatrixLoad<Acc, row_major>(&sS[sg], 16u, SS);
      o2 = subgroupMatrixLoad<Acc, row_major>(&sS[sg], 32u, SS); o3 = subgroupMatrixLoad<Acc, row_major>(&sS[sg], 48u, SS);
//#if Q5
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&sS[sg], 0u, o4, SS);
//#if Q6
      subgroupMatrixStore<row_major>(&sS[sg], 16u, o5, SS);
//#endif
//#if HEAD_DIM_128
      subgroupMatrixStore<row_major>(&sS[sg], 32u, o6, SS); subgroupMatrixStore<row_major>(&sS[sg], 48u, o7, SS);
//#endif
      workgroupBarrier();
      for (var i = 0u; i < 32u + z; i++) { sS[sg][sRow + h * 32u + i] *= corr; }
      workgroupBarrier();
      o4 = subgroupMatrixLoad<Acc, row_major>(&sS[sg], 0u, SS);
//#if Q6
      o5 = subgroupMatrixLoad<Acc, row_major>(&sS[sg], 16u, SS);
//#endif
//#if HEAD_DIM_128
      o6 = subgroupMatrixLoad<Acc, row_major>(&sS[sg], 32u, SS); o7 = subgroupMatrixLoad<Acc, row_major>(&sS[sg], 48u, SS);
//#endif
//#endif
      workgroupBarrier();
    }

    // Next K tile in flight during O += P V.
    if (kt + 1u < numKeyTiles) {
      for (var c = 0u; c < KCH + z; c++) { kReg[c] = fetch(sq, key0 + BK, c, lid, true); }
    }
    {
      let pj = subgroupMatrixLoad<Left, row_major>(&sP[sg], 0u, SP);
      o0 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 0u * KP + 0u, KP), o0);
      o1 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 0u * KP + 16u, KP), o1);
      o2 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 0u * KP + 32u, KP), o2);
      o3 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 0u * KP + 48u, KP), o3);
//#if Q5
      o4 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 0u * KP + 64u, KP), o4);
//#endif
//#if Q6
      o5 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 0u * KP + 80u, KP), o5);
//#endif
//#if HEAD_DIM_128
      o6 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 0u * KP + 96u, KP), o6);
      o7 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 0u * KP + 112u, KP), o7);
//#endif
    }
    {
      let pj = subgroupMatrixLoad<Left, row_major>(&sP[sg], 16u, SP);
      o0 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 16u * KP + 0u, KP), o0);
      o1 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 16u * KP + 16u, KP), o1);
      o2 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 16u * KP + 32u, KP), o2);
      o3 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 16u * KP + 48u, KP), o3);
//#if Q5
      o4 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 16u * KP + 64u, KP), o4);
//#endif
//#if Q6
      o5 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 16u * KP + 80u, KP), o5);
//#endif
//#if HEAD_DIM_128
      o6 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 16u * KP + 96u, KP), o6);
      o7 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 16u * KP + 112u, KP), o7);
//#endif
    }
//#if !EMULATE
    {
      let pj = subgroupMatrixLoad<Left, row_major>(&sP[sg], 32u, SP);
      o0 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 32u * KP + 0u, KP), o0);
      o1 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 32u * KP + 16u, KP), o1);
      o2 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 32u * KP + 32u, KP), o2);
      o3 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 32u * KP + 48u, KP), o3);
//#if Q5
      o4 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 32u * KP + 64u, KP), o4);
//#endif
//#if Q6
      o5 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 32u * KP + 80u, KP), o5);
//#endif
//#if HEAD_DIM_128
      o6 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 32u * KP + 96u, KP), o6);
      o7 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 32u * KP + 112u, KP), o7);
//#endif
    }
    {
      let pj = subgroupMatrixLoad<Left, row_major>(&sP[sg], 48u, SP);
      o0 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 48u * KP + 0u, KP), o0);
      o1 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 48u * KP + 16u, KP), o1);
      o2 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 48u * KP + 32u, KP), o2);
      o3 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 48u * KP + 48u, KP), o3);
//#if Q5
      o4 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 48u * KP + 64u, KP), o4);
//#endif
//#if Q6
      o5 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 48u * KP + 80u, KP), o5);
//#endif
//#if HEAD_DIM_128
      o6 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 48u * KP + 96u, KP), o6);
      o7 = subgroupMatrixMultiplyAccumulate(pj, subgroupMatrixLoad<Right, row_major>(&sKV, ko + 48u * KP + 112u, KP), o7);
//#endif
    }
//#endif
  }

  // out = O / l, 64 columns at a time through workgroup memory.
  let tok = row / G;
  let outBase = ((tok0 + tok) * p.numHeads + head0 + row % G) * (D / 4u);
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&sS[sg], 0u, o0, SS); subgroupMatrixStore<row_major>(&sS[sg], 16u, o1, SS);
  subgroupMatrixStore<row_major>(&sS[sg], 32u, o2, SS); subgroupMatrixStore<row_major>(&sS[sg], 48u, o3, SS);
  workgroupBarrier();
  if (tok < nRows) { writeRow(outBase, sg, sRow + h * 32u, h * 8u, l, z); }
//#if Q5
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&sS[sg], 0u, o4, SS);
//#if Q6
  subgroupMatrixStore<row_major>(&sS[sg], 16u, o5, SS);
//#endif
//#if HEAD_DIM_128
  subgroupMatrixStore<row_major>(&sS[sg], 32u, o6, SS); subgroupMatrixStore<row_major>(&sS[sg], 48u, o7, SS);
//#endif
  workgroupBarrier();
//#if HEAD_DIM_128
  if (tok < nRows) { writeRow(outBase + 16u, sg, sRow + h * 32u, h * 8u, l, z); }
//#else
  // D 80 or 96: the last 16 or 32 columns, all in the first half row (h = 0).
  if (tok < nRows && h == 0u) { writeCols(outBase + 16u, sg, sRow, l, (D - 64u) / 4u + z); }
//#endif
//#endif
}

//#if Q5
//#if !HEAD_DIM_128
// n vec4 (4n columns) of an output row from sS[s] at c0, divided by l.
fn writeCols(outBase: u32, s: u32, c0: u32, l: f32, n: u32) {
  for (var i = 0u; i < n; i++) {
    let c = c0 + i * 4u;
    out[outBase + i] = vec4<f16>(vec4<f32>(sS[s][c], sS[s][c + 1u], sS[s][c + 2u], sS[s][c + 3u]) / l);
  }
}
//#endif
//#endif

// 32 columns of an output row from sS[s] (this lane's half of 64) divided by l, as 8 vec4.
fn writeRow(outBase: u32, s: u32, c0: u32, v0: u32, l: f32, z: u32) {
  for (var i = 0u; i < 8u + z; i++) {
    let c = c0 + i * 4u;
    let v = vec4<f32>(sS[s][c], sS[s][c + 1u], sS[s][c + 2u], sS[s][c + 3u]) / l;
    out[outBase + v0 + i] = vec4<f16>(v);
  }
}
