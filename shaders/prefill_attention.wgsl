// prefill_attention: causal flash attention of prefill query rows over the paged KV cache
// (chunked prefill; the chunk's own k/v are already in the cache). Plain path: f32 FMA on
// workgroup-memory tiles; the subgroup-matrix path is prefill_attention_sgmat.wgsl.
//
// Bindings: 0 q: [numTokens, numHeads, D] f16 (read as vec4)
//           1 kCache, 2 vCache: [numBlocks, numKvHeads, 16, D] f16 (vec4)
//           3 queryStartLoc: [numSeqs + 1] u32 (absolute q rows)   4 seqLens: [numSeqs] u32
//           5 blockTables: [numSeqs, maxBlocksPerSeq] u32
//           6 out: [numTokens, numHeads, D] f16 (vec4; only the sequences' rows are written)
//           7 params (Params: shaders/lib/prefill_params.wgsl)
// Variants: SLIDING (sliding window: key tiles before every row's window skipped), SOFTCAP (capped
//   scores), both through lib/prefill_params' scoreLog2 (define SCORES). D by define (lib/prefill_params: 64, 80, 96, 128, 256). Q is staged in workgroup memory
//   DQ = min(D, 128) dims at a time: all of it once per workgroup, or (D 256: 64 dims, so that the
//   tiles fit 32 KiB) a slice per key tile beside the same slice of K; the q·k sums run over d in
//   order either way.
// Workgroup: 128 threads, one tile of BM = 64 packed query rows of one kv head: the rows are
//   (token, head) pairs, token-major, for R = 64 / G consecutive tokens of one sequence and
//   the G = numHeads / numKvHeads query heads that share the kv head, so every K/V tile read
//   from the cache serves 64 rows whatever the GQA ratio.
// Dispatch: grid(numSeqs * numKvHeads * numQTiles), numQTiles = ceil(maxQueryLen / R),
//   linearised wid.x + wid.y * nwg.x; tiles past a sequence's query length exit at once.
//   Query tiles of a sequence run last-first (the longest causal rows start first).
// Keys: tiles of BK = 32 at absolute positions [32 kt, 32 kt + 32), kt = 0, 1, ... in order,
//   with online softmax (exp2 of log2e-scaled scores, f32 running max and sum). A row's
//   arithmetic depends only on its own position, never on its slot in the tile or on the
//   chunking of the prompt: results are bitwise batch- and chunk-invariant.
enable f16;

@group(0) @binding(0) var<storage, read> q: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read> kCache: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read> vCache: array<vec4<f16>>;
//#include prefill_params
const D4: u32 = D / 4u;
const BM: u32 = 64u;          // packed query rows per workgroup
const BM4: u32 = BM / 4u;
const BK: u32 = 32u;          // keys per tile
const BK4: u32 = BK / 4u;
const WG: u32 = 128u;         // threads: 16 row groups (4 rows each) x 8 key/column groups
const BLOCK: u32 = 16u;       // cache block size
const CPT: u32 = (D4 + 7u) / 8u; // vec4 column chunks per thread in P·V (D 80: the last only for kg < 4)
const DQ: u32 = select(D, 64u, D > 128u); // Q (and K) dims staged at once
const DQ4: u32 = DQ / 4u;
const NQC: u32 = D / DQ;      // Q slices: 1, or 4 (D 256)
const NEG: f32 = -1.0e30;     // masked score (exp2 of it minus any real max is exactly 0)

// Q tile transposed: sQ[d * BM4 + m / 4][m % 4] = q row m, dim dc·DQ + d of slice dc.
var<workgroup> sQ: array<vec4<f16>, DQ * BM4>;
// K tile (slice) transposed, sKV[d * BK4 + key / 4][key % 4], then the V tile, sKV[key * D4 + d / 4].
var<workgroup> sKV: array<vec4<f16>, BK * D4>;
// Scores then probabilities, transposed: sS[key * BM4 + m / 4][m % 4].
var<workgroup> sS: array<vec4<f32>, BK * BM4>;

// Offset in vec4 units of the cache row of absolute key position `pos` (pos < seqLen).
fn cacheRow(seq: u32, kvHead: u32, pos: u32) -> u32 {
  let block = blockTables[seq * p.maxBlocksPerSeq + pos / BLOCK];
  return ((block * p.numKvHeads + kvHead) * BLOCK + pos % BLOCK) * D4;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  //#include prefill_query_tile

  // Q tile -> workgroup memory (rows of padding tokens are zero); slice by slice in the key loop if NQC > 1.
  if (NQC == 1u) { stageQ(lid, 0u, tok0, nRows, G, head0); }

  let rg = lid / 8u; // rows 4rg .. 4rg+3
  let kg = lid % 8u; // keys 4kg .. 4kg+3 (scores); columns chunks kg + 8c (P·V)
  var rowPos: vec4<u32>;
  for (var i = 0u; i < 4u; i++) { rowPos[i] = firstPos + (rg * 4u + i) / G; }

  var m = vec4<f32>(NEG);   // running max (log2 units)
  var l = vec4<f32>(0.0);   // running sum of exp2(s - m)
  var o: array<vec4<f32>, 4u * CPT>; // o[i * CPT + c]: row 4rg+i, columns 4(kg + 8c) .. +3

//#if SLIDING
  for (var kt = kt0; kt < numKeyTiles; kt++) {
//#else
  for (var kt = 0u; kt < numKeyTiles; kt++) {
//#endif
    let key0 = kt * BK;
    // S = Q Kᵀ for rows 4rg.., keys 4kg..; s_j holds key 4kg+j for the 4 rows.
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var s3 = vec4<f32>(0.0);
    for (var dc = 0u; dc < NQC; dc++) {
      workgroupBarrier(); // previous tile's P·V (or slice's q·k) is done with sKV, sQ and sS
      if (NQC > 1u) { stageQ(lid, dc, tok0, nRows, G, head0); }
      for (var i = lid; i < BK * DQ4; i += WG) {
        let key = i / DQ4;
        let d4 = i % DQ4;
        var v = vec4<f16>(0.0);
        if (key0 + key < seqLen) { v = kCache[cacheRow(seq, kvHead, key0 + key) + dc * DQ4 + d4]; }
        for (var c = 0u; c < 4u; c++) { sKV[(d4 * 4u + c) * BK4 + key / 4u][key % 4u] = v[c]; }
      }
      workgroupBarrier();
      for (var d = 0u; d < DQ; d++) {
        let qv = vec4<f32>(sQ[d * BM4 + rg]);
        let kv = vec4<f32>(sKV[d * BK4 + kg]);
        s0 = fma(qv, vec4<f32>(kv.x), s0);
        s1 = fma(qv, vec4<f32>(kv.y), s1);
        s2 = fma(qv, vec4<f32>(kv.z), s2);
        s3 = fma(qv, vec4<f32>(kv.w), s3);
      }
    }
    let kpos = key0 + kg * 4u;
//#if SCORES
    s0 = scores4(s0, kpos, rowPos);
    s1 = scores4(s1, kpos + 1u, rowPos);
    s2 = scores4(s2, kpos + 2u, rowPos);
    s3 = scores4(s3, kpos + 3u, rowPos);
//#else
    s0 = select(vec4<f32>(NEG), s0 * p.scaleLog2, vec4<u32>(kpos) <= rowPos);
    s1 = select(vec4<f32>(NEG), s1 * p.scaleLog2, vec4<u32>(kpos + 1u) <= rowPos);
    s2 = select(vec4<f32>(NEG), s2 * p.scaleLog2, vec4<u32>(kpos + 2u) <= rowPos);
    s3 = select(vec4<f32>(NEG), s3 * p.scaleLog2, vec4<u32>(kpos + 3u) <= rowPos);
//#endif
    sS[(kg * 4u + 0u) * BM4 + rg] = s0;
    sS[(kg * 4u + 1u) * BM4 + rg] = s1;
    sS[(kg * 4u + 2u) * BM4 + rg] = s2;
    sS[(kg * 4u + 3u) * BM4 + rg] = s3;
    workgroupBarrier();

    // V tile -> sKV (K is no longer needed); the rows' tile max from all scores.
    for (var i = lid; i < BK * D4; i += WG) {
      let key = i / D4;
      var v = vec4<f16>(0.0);
      if (key0 + key < seqLen) { v = vCache[cacheRow(seq, kvHead, key0 + key) + i % D4]; }
      sKV[i] = v;
    }
    var mNew = m;
    for (var k = 0u; k < BK; k++) { mNew = max(mNew, sS[k * BM4 + rg]); }
    workgroupBarrier();
//#if SCORES
    // A key the row does not see adds exactly 0 (with SLIDING a tile can be wholly before a row's window).
    sS[(kg * 4u + 0u) * BM4 + rg] = select(vec4<f32>(0.0), exp2(s0 - mNew), s0 > vec4<f32>(NEG));
    sS[(kg * 4u + 1u) * BM4 + rg] = select(vec4<f32>(0.0), exp2(s1 - mNew), s1 > vec4<f32>(NEG));
    sS[(kg * 4u + 2u) * BM4 + rg] = select(vec4<f32>(0.0), exp2(s2 - mNew), s2 > vec4<f32>(NEG));
    sS[(kg * 4u + 3u) * BM4 + rg] = select(vec4<f32>(0.0), exp2(s3 - mNew), s3 > vec4<f32>(NEG));
//#else
    sS[(kg * 4u + 0u) * BM4 + rg] = exp2(s0 - mNew);
    sS[(kg * 4u + 1u) * BM4 + rg] = exp2(s1 - mNew);
    sS[(kg * 4u + 2u) * BM4 + rg] = exp2(s2 - mNew);
    sS[(kg * 4u + 3u) * BM4 + rg] = exp2(s3 - mNew);
//#endif
    workgroupBarrier();

    // O = O * exp2(m - mNew) + P V, l likewise (keys in increasing order).
    let corr = exp2(m - mNew);
    m = mNew;
    for (var c = 0u; c < 4u * CPT; c++) { o[c] *= corr[c / CPT]; }
    var lTile = vec4<f32>(0.0);
    for (var k = 0u; k < BK; k++) {
      let pk = sS[k * BM4 + rg];
      lTile += pk;
      for (var c = 0u; c < CPT; c++) {
        let v = vec4<f32>(sKV[k * D4 + min(kg + 8u * c, D4 - 1u)]); // (a column past D4: never stored)
        o[0u * CPT + c] = fma(vec4<f32>(pk.x), v, o[0u * CPT + c]);
        o[1u * CPT + c] = fma(vec4<f32>(pk.y), v, o[1u * CPT + c]);
        o[2u * CPT + c] = fma(vec4<f32>(pk.z), v, o[2u * CPT + c]);
        o[3u * CPT + c] = fma(vec4<f32>(pk.w), v, o[3u * CPT + c]);
      }
    }
    l = l * corr + lTile;
  }

  for (var i = 0u; i < 4u; i++) {
    let row = rg * 4u + i;
    let r = row / G;
    if (r >= nRows) { continue; }
    let base = ((tok0 + r) * p.numHeads + head0 + row % G) * D4;
    for (var c = 0u; c < CPT; c++) {
      if (kg + 8u * c < D4) { out[base + kg + 8u * c] = vec4<f16>(o[i * CPT + c] / l[i]); }
    }
  }
}

//#if SCORES
// Scores of key `key` for the 4 rows at rowPos (lib/prefill_params scoreLog2).
fn scores4(s: vec4<f32>, key: u32, rowPos: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(scoreLog2(s.x, key, rowPos.x), scoreLog2(s.y, key, rowPos.y), scoreLog2(s.z, key, rowPos.z), scoreLog2(s.w, key, rowPos.w));
}
//#endif

// Q slice dc (dims dc·DQ ..) of the workgroup's rows -> sQ, transposed (rows of padding tokens are zero).
fn stageQ(lid: u32, dc: u32, tok0: u32, nRows: u32, G: u32, head0: u32) {
  for (var i = lid; i < BM * DQ4; i += WG) {
    let m = i / DQ4;
    let d4 = i % DQ4;
    let r = m / G;
    var v = vec4<f16>(0.0);
    if (r < nRows) { v = q[((tok0 + r) * p.numHeads + head0 + m % G) * D4 + dc * DQ4 + d4]; }
    for (var c = 0u; c < 4u; c++) { sQ[(d4 * 4u + c) * BM4 + m / 4u][m % 4u] = v[c]; }
  }
}
