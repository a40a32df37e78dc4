// prefill_attention_sgmat: the subgroup-matrix (tensor core) variant of prefill_attention.wgsl:
// same bindings (caches read 16 bytes at a time), params, query-row tiling, dispatch and
// absolute key tiles. Needs f16 16x16x16 subgroup matrices and 32-wide subgroups (NVIDIA);
// the wrapper checks both. EMULATE runs the same tiling and index logic with the matrix
// operations in plain WGSL (devices without the feature: tests on lavapipe).
//
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
//   The running max moves lazily: only when a row's tile max exceeds it by more than TAU = 8
//   (log2 units; P <= 256 fits f16). Only then does O pass through workgroup memory to be
//   rescaled, which after the first tiles is rare. Each decision depends on the row's own
//   scores, and scaling a row by exactly 1 is exact: results stay chunk- and batch-invariant.
//   Blocks at or past the workgroup's last query position are skipped.
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
const DT: u32 = D / 16u;      // 16-wide column tiles of the head dim
//#if EMULATE
const NSG: u32 = 2u;          // lavapipe has 32 KiB of workgroup memory
const BK: u32 = 32u;
//#else
const NSG: u32 = 4u;
const BK: u32 = 64u;
//#endif
const WG: u32 = NSG * 32u;
const BM: u32 = NSG * 16u;    // packed query rows per workgroup
const NB: u32 = BK / 16u;     // cache blocks per key tile
const BLOCK: u32 = 16u;
const KP: u32 = D + 8u;       // f16 row stride of the Q/K/V staging tile
const SS: u32 = max(BK, 64u) + 4u; // f32 row stride of S (and of O, 64 columns at a time)
const SP: u32 = BK + 8u;      // f16 row stride of P
const KCH: u32 = BK * D8 / WG; // 16-byte chunks per invocation per K or V tile
const NEG: f32 = -1.0e30;
const TAU: f32 = 8.0;

var<workgroup> sKV: array<f16, max(BM, BK) * KP>; // Q tile at the start, then K or V tiles
var<workgroup> sS: array<f32, BM * SS>;           // S; O when rescaled or written out
var<workgroup> sP: array<f16, BM * SP>;
var<workgroup> sRescale: u32;

//#if EMULATE
// Emulated subgroup matrices: "subgroups" of 32 invocations, lane owns result elements
// e = lane + 32 i (row e / 16, column e % 16); operands are read where they lie, so Q keeps
// a tile of its own.
var<workgroup> sQ: array<f16, BM * D>;
var<workgroup> sX: array<f32, WG>;
var<private> inv: u32;
var<private> n8: u32; // 8, unknown to the compiler: keeps the loops rolled (lavapipe compile time)
struct Left { src: u32, off: u32, stride: u32 } // src 0: sQ, 1: sP (row-major)
struct Right { colMajor: bool, off: u32 }       // in sKV
struct Acc { v: array<f32, 8> }
fn loadQ(sg: u32, t: u32) -> Left { return Left(0u, sg * 16u * D + t * 16u, D); }
fn loadP(sg: u32, j: u32) -> Left { return Left(1u, sg * 16u * SP + j * 16u, SP); }
fn loadK(j: u32, t: u32) -> Right { return Right(true, j * 16u * KP + t * 16u); }
fn loadV(j: u32, t: u32) -> Right { return Right(false, j * 16u * KP + t * 16u); }
fn leftAt(a: Left, row: u32, k: u32) -> f32 {
  let i = a.off + row * a.stride + k;
  return select(f32(sP[i % (BM * SP)]), f32(sQ[i % (BM * D)]), a.src == 0u);
}
fn rightAt(b: Right, k: u32, n: u32) -> f32 { return f32(sKV[b.off + select(k * KP + n, n * KP + k, b.colMajor)]); }
fn mma(a: Left, b: Right, c: Acc) -> Acc {
  var r = c;
  for (var i = 0u; i < n8; i++) {
    let e = inv % 32u + 32u * i;
    var s = 0.0;
    for (var k = 0u; k < 2u * n8; k++) { s = fma(leftAt(a, e / 16u, k), rightAt(b, k, e % 16u), s); }
    r.v[i] += s;
  }
  return r;
}
fn storeAcc(off: u32, c: Acc) {
  for (var i = 0u; i < n8; i++) { let e = inv % 32u + 32u * i; sS[off + (e / 16u) * SS + e % 16u] = c.v[i]; }
}
fn loadAcc(off: u32) -> Acc {
  var c = Acc();
  for (var i = 0u; i < n8; i++) { let e = inv % 32u + 32u * i; c.v[i] = sS[off + (e / 16u) * SS + e % 16u]; }
  return c;
}
fn partner(x: f32) -> f32 {
  workgroupBarrier();
  sX[inv] = x;
  workgroupBarrier();
  return sX[inv ^ 16u];
}
fn stageQ(m: u32, d8: u32, v: vec4<u32>) { for (var w = 0u; w < 4u; w++) { let h = bitcast<vec2<f16>>(v[w]); sQ[m * D + d8 * 8u + 2u * w] = h.x; sQ[m * D + d8 * 8u + 2u * w + 1u] = h.y; } }
//#else
alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;
//#if SGM_BOOL
fn loadQ(sg: u32, t: u32) -> Left { return subgroupMatrixLoad<Left>(&sKV, sg * 16u * KP + t * 16u, false, KP); }
fn loadP(sg: u32, j: u32) -> Left { return subgroupMatrixLoad<Left>(&sP, sg * 16u * SP + j * 16u, false, SP); }
fn loadK(j: u32, t: u32) -> Right { return subgroupMatrixLoad<Right>(&sKV, j * 16u * KP + t * 16u, true, KP); }
fn loadV(j: u32, t: u32) -> Right { return subgroupMatrixLoad<Right>(&sKV, j * 16u * KP + t * 16u, false, KP); }
fn storeAcc(off: u32, c: Acc) { subgroupMatrixStore(&sS, off, c, false, SS); }
fn loadAcc(off: u32) -> Acc { return subgroupMatrixLoad<Acc>(&sS, off, false, SS); }
//#else
fn loadQ(sg: u32, t: u32) -> Left { return subgroupMatrixLoad<Left, row_major>(&sKV, sg * 16u * KP + t * 16u, KP); }
fn loadP(sg: u32, j: u32) -> Left { return subgroupMatrixLoad<Left, row_major>(&sP, sg * 16u * SP + j * 16u, SP); }
fn loadK(j: u32, t: u32) -> Right { return subgroupMatrixLoad<Right, col_major>(&sKV, j * 16u * KP + t * 16u, KP); }
fn loadV(j: u32, t: u32) -> Right { return subgroupMatrixLoad<Right, row_major>(&sKV, j * 16u * KP + t * 16u, KP); }
fn storeAcc(off: u32, c: Acc) { subgroupMatrixStore<row_major>(&sS, off, c, SS); }
fn loadAcc(off: u32) -> Acc { return subgroupMatrixLoad<Acc, row_major>(&sS, off, SS); }
//#endif
fn mma(a: Left, b: Right, c: Acc) -> Acc { return subgroupMatrixMultiplyAccumulate(a, b, c); }
fn partner(x: f32) -> f32 { return subgroupShuffleXor(x, 16u); }
fn stageQ(m: u32, d8: u32, v: vec4<u32>) { stageRow(m, d8, v); }
//#endif

// 8 f16 (16 bytes) into row `row`, columns 8 d8 .. 8 d8 + 7 of the staging tile.
fn stageRow(row: u32, d8: u32, v: vec4<u32>) {
  for (var w = 0u; w < 4u; w++) {
    let h = bitcast<vec2<f16>>(v[w]);
    sKV[row * KP + d8 * 8u + 2u * w] = h.x;
    sKV[row * KP + d8 * 8u + 2u * w + 1u] = h.y;
  }
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
  let z = 0u; // constant loop bounds: loops unroll, matrices and prefetches stay in registers
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
  var qm: array<Left, DT>;
  for (var t = 0u; t < DT + z; t++) { qm[t] = loadQ(sg, t); }
  var acc: array<Acc, DT>;

  // This lane's softmax row and key parity: row 16 sg + r, keys 2i + h of each tile.
  let r = lane % 16u;
  let h = lane / 16u;
  let row = sg * 16u + r;
  let rowPos = firstPos + min(row / G, nRows - 1u); // padding rows mirror the last token
  let sRow = row * SS;
  let pRow = row * SP;
  var m = NEG;
  var l = 0.0;

  var kReg: array<vec4<u32>, KCH>;
  for (var c = 0u; c < KCH + z; c++) { kReg[c] = fetch(sq, 0u, c, lid, true); }

  for (var kt = 0u; kt < numKeyTiles; kt++) {
    let key0 = kt * BK;
    workgroupBarrier(); // the previous tile's P·V (or the Q loads) are done with sKV and sP
    for (var c = 0u; c < KCH + z; c++) { let i = lid + c * WG; stageRow(i / D8, i % D8, kReg[c]); }
    workgroupBarrier();

    // S = Q Kᵀ for the blocks below keyEnd.
    for (var j = 0u; j < NB + z; j++) {
      if (key0 + j * BLOCK >= keyEnd) { break; }
      var s = Acc();
      for (var t = 0u; t < DT + z; t++) { s = mma(qm[t], loadK(j, t), s); }
      storeAcc(sg * 16u * SS + j * 16u, s);
    }
    var vReg: array<vec4<u32>, KCH>;
    for (var c = 0u; c < KCH + z; c++) { vReg[c] = fetch(sq, key0, c, lid, false); }
    workgroupBarrier(); // S is visible; K is no longer needed

    // Online softmax of this lane's half row (keys past the row's position are masked; that
    // covers the skipped blocks and every key at or past seqLen).
    var tileMax = NEG;
    for (var i = 0u; i < BK / 2u + z; i++) {
      let key = 2u * i + h;
      tileMax = max(tileMax, select(NEG, sS[sRow + key] * p.scaleLog2, key0 + key <= rowPos));
    }
    tileMax = max(tileMax, partner(tileMax));
    let mNew = select(m, tileMax, tileMax > m + TAU);
    let corr = exp2(m - mNew);
    var lTile = 0.0;
    for (var i = 0u; i < BK / 2u + z; i++) {
      let key = 2u * i + h;
      let pr = f16(exp2(select(NEG, sS[sRow + key] * p.scaleLog2, key0 + key <= rowPos) - mNew));
      sP[pRow + key] = pr;
      lTile += f32(pr);
    }
    lTile += partner(lTile);
    l = l * corr + lTile;
    if (mNew != m && m != NEG) { sRescale = kt + 1u; } // any lane of any subgroup
    m = mNew;
    for (var c = 0u; c < KCH + z; c++) { let i = lid + c * WG; stageRow(i / D8, i % D8, vReg[c]); }
    let flags = workgroupUniformLoad(&sRescale); // also the barrier before P and V are read

    if (flags == kt + 1u) {
      // Some row's max moved: O *= corr through workgroup memory (corr is 1 for the others).
      for (var part = 0u; part < DT / 4u + z; part++) {
        for (var n = 0u; n < 4u + z; n++) { storeAcc(sg * 16u * SS + n * 16u, acc[part * 4u + n]); }
        workgroupBarrier();
        for (var i = 0u; i < 32u + z; i++) { sS[sRow + h * 32u + i] *= corr; }
        workgroupBarrier();
        for (var n = 0u; n < 4u + z; n++) { acc[part * 4u + n] = loadAcc(sg * 16u * SS + n * 16u); }
        workgroupBarrier();
      }
    }

    // Next K tile in flight during O += P V.
    if (kt + 1u < numKeyTiles) {
      for (var c = 0u; c < KCH + z; c++) { kReg[c] = fetch(sq, key0 + BK, c, lid, true); }
    }
    for (var j = 0u; j < NB + z; j++) {
      if (key0 + j * BLOCK >= keyEnd) { break; }
      let pj = loadP(sg, j);
      for (var t = 0u; t < DT + z; t++) { acc[t] = mma(pj, loadV(j, t), acc[t]); }
    }
  }

  // out = O / l, 64 columns at a time through workgroup memory.
  let tok = row / G;
  let outBase = ((tok0 + tok) * p.numHeads + head0 + row % G) * (D / 4u);
  for (var part = 0u; part < DT / 4u + z; part++) {
    workgroupBarrier();
    for (var n = 0u; n < 4u + z; n++) { storeAcc(sg * 16u * SS + n * 16u, acc[part * 4u + n]); }
    workgroupBarrier();
    if (tok < nRows) {
      for (var i = 0u; i < 8u + z; i++) {
        let c = sRow + h * 32u + i * 4u;
        let v = vec4<f32>(sS[c], sS[c + 1u], sS[c + 2u], sS[c + 3u]) / l;
        out[outBase + part * 16u + h * 8u + i] = vec4<f16>(v);
      }
    }
  }
}
