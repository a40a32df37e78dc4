// prefill_attention_sgmat: the subgroup-matrix (tensor core) variant of prefill_attention.wgsl,
// same bindings, params, tiling of query rows, dispatch and absolute key tiles. Needs
// f16 16x16x16 subgroup matrices and subgroup size 32 (NVIDIA); the wrapper checks both.
//
// Bindings: 0 q: [numTokens, numHeads, D] f16 (vec4)   1 kCache, 2 vCache: [numBlocks,
//   numKvHeads, 16, D] f16 (scalar, for subgroupMatrixLoad)   3 queryStartLoc   4 seqLens
//   5 blockTables   6 out: [numTokens, numHeads, D] f16 (vec4)   7 params
// Workgroup: 4 subgroups of 32; subgroup s owns packed query rows 16s .. 16s+15 of the
//   workgroup's 64 (token-major (token, head) pairs of one kv head, as in the plain path).
// Per key tile (BK = 64 keys = 4 cache blocks at absolute positions):
//   S = Q Kᵀ: Q as D/16 left matrices held in registers, K as right matrices loaded straight
//   from the cache (a 16-key block of one head is one contiguous [16, D] tile);
//   softmax on S in workgroup memory, 2 lanes per row; P stored f16;
//   O += P V into D/16 result matrices that stay in registers. The running max is updated
//   lazily (only when a row's tile max exceeds it by more than TAU = 8 in log2 units, so
//   P <= 256 fits f16): O goes through workgroup memory for rescaling only then, which
//   after the first tiles is rare. Every decision depends on the row's own scores alone,
//   and rescaling a row by exactly 1 is exact: results stay chunk- and batch-invariant.
//   Cache blocks past seqLen or past the tile's last query are skipped; the one partial
//   block (holding seqLen - 1) reads V from a zero-padded copy, so never-written slots
//   (NaN, Inf) cannot reach the output through 0 * V.
//#if !EMULATE
diagnostic(off, chromium.subgroup_matrix_uniformity);
enable subgroups;
enable chromium_experimental_subgroup_matrix;
//#endif
enable f16;

struct Params {
  numHeads: u32,
  numKvHeads: u32,
  maxBlocksPerSeq: u32,
  numQTiles: u32,
  numSeqs: u32,
  groupSize: u32,
  tileTokens: u32,
  scaleLog2: f32,
}

@group(0) @binding(0) var<storage, read> q: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read> kCache: array<f16>;
@group(0) @binding(2) var<storage, read> vCache: array<f16>;
@group(0) @binding(3) var<storage, read> queryStartLoc: array<u32>;
@group(0) @binding(4) var<storage, read> seqLens: array<u32>;
@group(0) @binding(5) var<storage, read> blockTables: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<vec4<f16>>;
@group(0) @binding(7) var<uniform> p: Params;

//#if HEAD_DIM_128
const D: u32 = 128u;
//#else
const D: u32 = 64u;
//#endif
const D4: u32 = D / 4u;
const DT: u32 = D / 16u;      // 16-wide column tiles of the head dim
//#if EMULATE
const NSG: u32 = 2u;          // lavapipe has 32 KiB of workgroup memory
//#else
const NSG: u32 = 4u;          // subgroups per workgroup
//#endif
const WG: u32 = NSG * 32u;
const BM: u32 = NSG * 16u;    // packed query rows per workgroup
const BK: u32 = 64u;          // keys per tile
const NB: u32 = BK / 16u;     // cache blocks per tile
const BLOCK: u32 = 16u;
const SS: u32 = BK + 4u;      // row stride of sS (f32)
const SP: u32 = BK + 8u;      // row stride of P in sQP (f16)
const NEG: f32 = -1.0e30;
const TAU: f32 = 8.0;

// S [BM, SS] f32; also where O is rescaled and normalised, 64 columns at a time.
var<workgroup> sS: array<f32, BM * SS>;
// V of the partial block holding seqLen - 1, zero past seqLen: [16, D].
var<workgroup> sVTail: array<f16, BLOCK * D>;
var<workgroup> sRescale: u32;

//#if EMULATE
// Subgroup matrices emulated in plain WGSL for devices without them (tests of the index
// logic on lavapipe): "subgroups" of 32 invocations; lane owns result elements
// e = lane + 32 i (row e / 16, column e % 16); operands are read where they lie.
var<workgroup> sQ: array<f16, BM * D>;
var<workgroup> sQP: array<f16, BM * SP>;
var<workgroup> sX: array<f32, WG>;
var<private> inv: u32;
var<private> n8: u32; // 8, unknown to the compiler: keeps the emulation loops rolled (lavapipe compile time)
struct Left { src: u32, off: u32, stride: u32 } // src 0: sQ, 1: sQP (row-major)
struct Right { src: u32, off: u32 }             // src 0: kCache (col-major), 1: vCache, 2: sVTail
struct Acc { v: array<f32, 8> }
fn loadQ(sg: u32, t: u32) -> Left { return Left(0u, sg * 16u * D + t * 16u, D); }
fn loadP(sg: u32, j: u32) -> Left { return Left(1u, sg * 16u * SP + j * 16u, SP); }
fn loadK(off: u32) -> Right { return Right(0u, off); }
fn loadV(off: u32) -> Right { return Right(1u, off); }
fn loadVTail(off: u32) -> Right { return Right(2u, off); }
fn leftAt(a: Left, row: u32, k: u32) -> f32 {
  let i = a.off + row * a.stride + k;
  return select(f32(sQP[i % (BM * SP)]), f32(sQ[i % (BM * D)]), a.src == 0u);
}
fn rightAt(b: Right, k: u32, n: u32) -> f32 {
  if (b.src == 0u) { return f32(kCache[b.off + n * D + k]); }
  if (b.src == 1u) { return f32(vCache[b.off + k * D + n]); }
  return f32(sVTail[b.off + k * D + n]);
}
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
  var c: Acc;
  for (var i = 0u; i < n8; i++) { let e = inv % 32u + 32u * i; c.v[i] = sS[off + (e / 16u) * SS + e % 16u]; }
  return c;
}
fn partner(x: f32) -> f32 {
  workgroupBarrier();
  sX[inv] = x;
  workgroupBarrier();
  return sX[inv ^ 16u];
}
//#else
alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;
// Q tile [BM, D] (row-major) at the start, then P [BM, SP] f16.
var<workgroup> sQP: array<f16, max(BM * D, BM * SP)>;
fn loadQ(sg: u32, t: u32) -> Left { return subgroupMatrixLoad<Left>(&sQP, sg * 16u * D + t * 16u, false, D); }
fn loadP(sg: u32, j: u32) -> Left { return subgroupMatrixLoad<Left>(&sQP, sg * 16u * SP + j * 16u, false, SP); }
fn loadK(off: u32) -> Right { return subgroupMatrixLoad<Right>(&kCache, off, true, D); }
fn loadV(off: u32) -> Right { return subgroupMatrixLoad<Right>(&vCache, off, false, D); }
fn loadVTail(off: u32) -> Right { return subgroupMatrixLoad<Right>(&sVTail, off, false, D); }
fn mma(a: Left, b: Right, c: Acc) -> Acc { return subgroupMatrixMultiplyAccumulate(a, b, c); }
fn storeAcc(off: u32, c: Acc) { subgroupMatrixStore(&sS, off, c, false, SS); }
fn loadAcc(off: u32) -> Acc { return subgroupMatrixLoad<Acc>(&sS, off, false, SS); }
fn partner(x: f32) -> f32 { return subgroupShuffleXor(x, 16u); }
//#endif

fn blockBase(seq: u32, kvHead: u32, logicalBlock: u32) -> u32 {
  let block = blockTables[seq * p.maxBlocksPerSeq + logicalBlock];
  return (block * p.numKvHeads + kvHead) * BLOCK * D;
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
  let z = 0u; // loop bounds below are constants here: loops unroll, matrices stay in registers
//#endif
  let wgIndex = wid.x + wid.y * nwg.x;
  if (wgIndex >= p.numSeqs * p.numKvHeads * p.numQTiles) { return; }
  let kvHead = wgIndex % p.numKvHeads;
  let rest = wgIndex / p.numKvHeads;
  let qTile = p.numQTiles - 1u - rest % p.numQTiles;
  let seq = rest / p.numQTiles;

  let qStart = queryStartLoc[seq];
  let qLen = queryStartLoc[seq + 1u] - qStart;
  let R = p.tileTokens;
  let G = p.groupSize;
  if (qTile * R >= qLen) { return; }
  let seqLen = seqLens[seq];
  let firstPos = seqLen - qLen + qTile * R;
  let nRows = min(R, qLen - qTile * R);
  let lastPos = firstPos + nRows - 1u;
  let numKeyTiles = lastPos / BK + 1u;
  let tok0 = qStart + qTile * R;
  let head0 = kvHead * G;
  let keyEnd = lastPos + 1u; // keys at or past keyEnd are masked for every row here

  // Q tile -> workgroup memory (padding rows zero); the partial V block, zero-padded.
  for (var i = lid; i < BM * D4; i += WG) {
    let m = i / D4;
    let r = m / G;
    var v = vec4<f16>(0.0);
    if (r < nRows) { v = q[((tok0 + r) * p.numHeads + head0 + m % G) * D4 + i % D4]; }
//#if EMULATE
    for (var c = 0u; c < 4u; c++) { sQ[i * 4u + c] = v[c]; }
//#else
    for (var c = 0u; c < 4u; c++) { sQP[i * 4u + c] = v[c]; }
//#endif
  }
  let tailBlock = (seqLen - 1u) / BLOCK;
  let hasTail = seqLen % BLOCK != 0u && tailBlock * BLOCK < keyEnd;
  if (hasTail) {
    let base = blockBase(seq, kvHead, tailBlock);
    for (var i = lid; i < BLOCK * D; i += WG) {
      sVTail[i] = select(f16(0.0), vCache[base + i], tailBlock * BLOCK + i / D < seqLen);
    }
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

  for (var kt = 0u; kt < numKeyTiles; kt++) {
    let key0 = kt * BK;
    // S = Q Kᵀ, one 16-key cache block at a time.
    for (var j = 0u; j < NB + z; j++) {
      if (key0 + j * BLOCK >= keyEnd) { break; }
      let base = blockBase(seq, kvHead, kt * NB + j);
      var s = Acc();
      for (var t = 0u; t < DT + z; t++) {
        s = mma(qm[t], loadK(base + t * 16u), s);
      }
      storeAcc(sg * 16u * SS + j * 16u, s);
    }
    workgroupBarrier();

    // Online softmax of this lane's half row (keys past the causal limit, seqLen or the
    // skipped blocks are masked by position).
    var tileMax = NEG;
    for (var i = 0u; i < BK / 2u + z; i++) {
      let key = 2u * i + h;
      let s = select(NEG, sS[sRow + key] * p.scaleLog2, key0 + key <= rowPos);
      tileMax = max(tileMax, s);
    }
    tileMax = max(tileMax, partner(tileMax));
    let mNew = select(m, tileMax, tileMax > m + TAU);
    let corr = exp2(m - mNew);
    var lTile = 0.0;
    for (var i = 0u; i < BK / 2u + z; i++) {
      let key = 2u * i + h;
      let s = select(NEG, sS[sRow + key] * p.scaleLog2, key0 + key <= rowPos);
      let pr = f16(exp2(s - mNew));
      sQP[pRow + key] = pr;
      lTile += f32(pr);
    }
    lTile += partner(lTile);
    l = l * corr + lTile;
    if (mNew != m && m != NEG) { sRescale = kt + 1u; } // any lane of any subgroup
    m = mNew;
    let flags = workgroupUniformLoad(&sRescale); // also the barrier before P is read

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

    // O += P V.
    for (var j = 0u; j < NB + z; j++) {
      let blk = kt * NB + j;
      if (blk * BLOCK >= keyEnd) { break; }
      let pj = loadP(sg, j);
      if (hasTail && blk == tailBlock) {
        for (var t = 0u; t < DT + z; t++) {
          acc[t] = mma(pj, loadVTail(t * 16u), acc[t]);
        }
      } else {
        let base = blockBase(seq, kvHead, blk);
        for (var t = 0u; t < DT + z; t++) {
          acc[t] = mma(pj, loadV(base + t * 16u), acc[t]);
        }
      }
    }
    workgroupBarrier(); // P and S are rewritten by the next tile
  }

  // out = O / l, 64 columns at a time through workgroup memory.
  let tok = row / G;
  let outBase = ((tok0 + tok) * p.numHeads + head0 + row % G) * D4;
  for (var part = 0u; part < DT / 4u + z; part++) {
    for (var n = 0u; n < 4u + z; n++) { storeAcc(sg * 16u * SS + n * 16u, acc[part * 4u + n]); }
    workgroupBarrier();
    if (tok < nRows) {
      for (var i = 0u; i < 8u + z; i++) {
        let c = sRow + h * 32u + i * 4u;
        let v = vec4<f32>(sS[c], sS[c + 1u], sS[c + 2u], sS[c + 3u]) / l;
        out[outBase + part * 16u + h * 8u + i] = vec4<f16>(v);
      }
    }
    workgroupBarrier();
  }
}
