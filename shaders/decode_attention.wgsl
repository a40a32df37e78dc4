// decode_attention (pass 1 of 2, split-K / flash-decoding): for one query token per sequence,
// each workgroup computes over ONE partition of P cached tokens of ONE kv head, for the GW
// query heads it serves, the partition's max logit m, sum of exponentials l = Σ exp(s - m)
// and unnormalised output o = Σ exp(s - m) · v, all in f32. decode_attention_merge combines
// the partitions. P is fixed (never derived from the batch), so a sequence's partials, and
// hence its output, are bitwise the same whatever else is in the batch.
//
// Bindings: 0 q:           array<vec4u> [numSeqs, numHeads, D] f16 (a vec4u holds 8 halves)
//           1 kCache:      array<vec4u> [numBlocks, numKvHeads, 16, D] f16
//           2 vCache:      array<vec4u> [numBlocks, numKvHeads, 16, D] f16
//           3 blockTables: array<u32>   [numSeqs, maxBlocksPerSeq]
//           4 seqLens:     array<u32>   [numSeqs]
//           5 partOut:     array<vec4f> [numSeqs, numHeads, maxPartitions, D] f32 (unnormalised o)
//           6 partStats:   array<vec2f> [numSeqs, numHeads, maxPartitions] f32 (m, l)
//           7 params
// Heads: q head h reads kv head h / G (G = numHeads / numKvHeads); a workgroup serves the GW
//        q heads kvHead * G + headGroup * GW + [0, GW), so K/V are read once per GW heads.
// Threads: a token is read by TPK consecutive lanes of one subgroup ("token group"), lane j
//        owning 16-byte chunks j, j + TPK, ... of the head dim (CPT = D / 8 / TPK chunks), so a
//        subgroup's load covers whole contiguous 16·D-byte rows of a block tile. A workgroup of
//        WG threads holds NG = WG / TPK token groups; group g takes tokens g, g + NG, ...
// Phases: (1) q·k: each token's dot product is reduced over its TPK lanes by a subgroup
//        butterfly; logits go to workgroup memory. (2) max over the partition, logits → exp.
//        (3) p·v: each lane accumulates its dims over its tokens; (4) groups are summed within
//        the subgroup (butterfly) and across subgroups through workgroup memory.
//        Barriers only between phases, none inside the token loops.
// Dispatch: (maxPartitions, numKvHeads * G / GW, numSeqs); workgroups past a sequence's
//        length return at once.
enable subgroups;
diagnostic(off, subgroup_uniformity);

struct Params {
  numHeads: u32,
  numKvHeads: u32,
  headGroups: u32,      // G / GW: workgroups per kv head
  maxBlocksPerSeq: u32,
  maxPartitions: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> q: array<vec4u>;
@group(0) @binding(1) var<storage, read> kCache: array<vec4u>;
@group(0) @binding(2) var<storage, read> vCache: array<vec4u>;
@group(0) @binding(3) var<storage, read> blockTables: array<u32>;
@group(0) @binding(4) var<storage, read> seqLens: array<u32>;
@group(0) @binding(5) var<storage, read_write> partOut: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> partStats: array<vec2f>;
@group(0) @binding(7) var<uniform> p: Params;

override D: u32 = 128;      // head dim, a multiple of 8
override GW: u32 = 4;       // q heads per workgroup, <= MAXG
override TPK: u32 = 16;     // lanes per token: a power of two <= the minimum subgroup size
override WG: u32 = 256;     // threads per workgroup, a multiple of the maximum subgroup size
override P: u32 = 256;      // partition size in tokens, a multiple of 16
override SGMIN: u32 = 4;    // minimum subgroup size (sizes the cross-subgroup buffers)
override U: u32 = 4;        // tokens per group in flight per loop trip (<= MAXU)

const BLOCK_SIZE = 16u;
const MAXG = 8u;            // register arrays are sized for at most 8 heads,
const MAXC = 4u;            // 4 chunks (CPT) per lane
const MAXU = 4u;
const NEG_BIG = -3.0e38;

override CH: u32 = D / 8u;          // 16-byte chunks per head row
override CPT: u32 = CH / TPK;       // chunks per lane
override NG: u32 = WG / TPK;        // token groups per workgroup
override NW: u32 = WG / SGMIN;      // most subgroups a workgroup can have
override PB: u32 = P / BLOCK_SIZE;  // blocks per partition

var<workgroup> logits: array<f32, GW * P>;     // [GW, P]: scores, then exp(score - max)
var<workgroup> blocks: array<u32, PB>;         // physical blocks of this partition
var<workgroup> red: array<f32, NW * MAXG>;     // [subgroup, head]: maxima, then sums
var<workgroup> accRed: array<vec4f, NW * CH * 2u>; // [subgroup, D / 4]: one head's output

fn unpack8(u: vec4u) -> array<vec4f, 2> {
  return array<vec4f, 2>(
    vec4f(unpack2x16float(u.x), unpack2x16float(u.y)),
    vec4f(unpack2x16float(u.z), unpack2x16float(u.w)),
  );
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sgSize: u32,
) {
  let part = wid.x;
  let kvHead = wid.y / p.headGroups;
  let seq = wid.z;
  let seqLen = seqLens[seq];
  let tStart = part * P;
  if (tStart >= seqLen || part >= p.maxPartitions) { return; } // uniform over the workgroup
  let n = min(P, seqLen - tStart);
  let head0 = wid.y * GW; // = kvHead * G + headGroup * GW
  let grp = lid / TPK;
  let j = lid % TPK;
  let warp = lid / sgSize;

  // This partition's physical blocks (one table read per block, not per token).
  let nb = (n + BLOCK_SIZE - 1u) / BLOCK_SIZE;
  let btRow = seq * p.maxBlocksPerSeq + part * PB;
  for (var i = lid; i < nb; i += WG) { blocks[i] = blockTables[btRow + i]; }

  // q chunks of this lane, in f32, pre-multiplied by the softmax scale.
  var qv: array<vec4f, MAXG * MAXC * 2u>;
  for (var g = 0u; g < GW; g++) {
    for (var c = 0u; c < CPT; c++) {
      let x = unpack8(q[(seq * p.numHeads + head0 + g) * CH + c * TPK + j]);
      qv[(g * MAXC + c) * 2u] = x[0] * p.scale;
      qv[(g * MAXC + c) * 2u + 1u] = x[1] * p.scale;
    }
  }
  workgroupBarrier();

  let headOffset = kvHead * BLOCK_SIZE * CH + j;   // (head, lane chunk) inside a block tile
  let blockStride = p.numKvHeads * BLOCK_SIZE * CH;
  let trips = (n + NG * U - 1u) / (NG * U);        // uniform: every lane runs every trip

  // ---- Phase 1: logits = scale · q·k for every token of the partition.
  var mx: array<f32, MAXG>;
  for (var g = 0u; g < GW; g++) { mx[g] = NEG_BIG; }
  for (var it = 0u; it < trips; it++) {
    var kv: array<vec4u, MAXU * MAXC>;
    for (var u = 0u; u < U; u++) {
      let t = min((it * U + u) * NG + grp, n - 1u); // past the end: reread the last token
      let base = blocks[t / BLOCK_SIZE] * blockStride + headOffset + (t % BLOCK_SIZE) * CH;
      for (var c = 0u; c < CPT; c++) { kv[u * MAXC + c] = kCache[base + c * TPK]; }
    }
    for (var u = 0u; u < U; u++) {
      var dots: array<f32, MAXG>;
      for (var g = 0u; g < GW; g++) { dots[g] = 0.0; }
      for (var c = 0u; c < CPT; c++) {
        let k8 = unpack8(kv[u * MAXC + c]);
        for (var g = 0u; g < GW; g++) {
          dots[g] += dot(qv[(g * MAXC + c) * 2u], k8[0]) + dot(qv[(g * MAXC + c) * 2u + 1u], k8[1]);
        }
      }
      for (var g = 0u; g < GW; g++) {
        for (var m = 1u; m < TPK; m <<= 1u) { dots[g] += subgroupShuffleXor(dots[g], m); }
      }
      let t = (it * U + u) * NG + grp;
      if (t < n) {
        for (var g = 0u; g < GW; g++) {
          mx[g] = max(mx[g], dots[g]);
          if (j == g % TPK) { logits[g * P + t] = dots[g]; }
        }
      }
    }
  }

  // ---- Phase 2: partition max per head, then logits → exp(logit - max).
  for (var g = 0u; g < GW; g++) {
    let m = subgroupMax(mx[g]);
    if (lane == 0u) { red[warp * MAXG + g] = m; }
  }
  workgroupBarrier();
  let nw = WG / sgSize;
  var gmax: array<f32, MAXG>;
  for (var g = 0u; g < GW; g++) {
    var m = red[g];
    for (var w = 1u; w < nw; w++) { m = max(m, red[w * MAXG + g]); }
    gmax[g] = m;
    for (var t = lid; t < n; t += WG) { logits[g * P + t] = exp(logits[g * P + t] - m); }
  }
  workgroupBarrier();

  // ---- Phase 3: o = Σ p · v over this lane's tokens and dims; l = Σ p.
  var acc: array<vec4f, MAXG * MAXC * 2u>;
  var lsum: array<f32, MAXG>;
  for (var g = 0u; g < GW; g++) {
    lsum[g] = 0.0;
    for (var c = 0u; c < CPT * 2u; c++) { acc[g * MAXC * 2u + c] = vec4f(0.0); }
  }
  for (var it = 0u; it < trips; it++) {
    var vv: array<vec4u, MAXU * MAXC>;
    for (var u = 0u; u < U; u++) {
      let t = min((it * U + u) * NG + grp, n - 1u);
      let base = blocks[t / BLOCK_SIZE] * blockStride + headOffset + (t % BLOCK_SIZE) * CH;
      for (var c = 0u; c < CPT; c++) { vv[u * MAXC + c] = vCache[base + c * TPK]; }
    }
    for (var u = 0u; u < U; u++) {
      let t = (it * U + u) * NG + grp;
      let tc = min(t, n - 1u);
      var pw: array<f32, MAXG>;
      for (var g = 0u; g < GW; g++) {
        pw[g] = select(0.0, logits[g * P + tc], t < n);
        lsum[g] += pw[g];
      }
      for (var c = 0u; c < CPT; c++) {
        let v8 = unpack8(vv[u * MAXC + c]);
        for (var g = 0u; g < GW; g++) {
          acc[(g * MAXC + c) * 2u] += pw[g] * v8[0];
          acc[(g * MAXC + c) * 2u + 1u] += pw[g] * v8[1];
        }
      }
    }
  }

  // ---- Phase 4: sum the token groups: within a subgroup, then across subgroups.
  for (var m = TPK; m < sgSize; m <<= 1u) {
    for (var g = 0u; g < GW; g++) {
      lsum[g] += subgroupShuffleXor(lsum[g], m);
      for (var c = 0u; c < CPT; c++) {
        acc[(g * MAXC + c) * 2u] += subgroupShuffleXor(acc[(g * MAXC + c) * 2u], m);
        acc[(g * MAXC + c) * 2u + 1u] += subgroupShuffleXor(acc[(g * MAXC + c) * 2u + 1u], m);
      }
    }
  }
  if (lane == 0u) {
    for (var g = 0u; g < GW; g++) { red[warp * MAXG + g] = lsum[g]; }
  }
  let statsRow = (seq * p.numHeads + head0) * p.maxPartitions + part;
  for (var g = 0u; g < GW; g++) {
    if (lane < TPK) {
      for (var c = 0u; c < CPT; c++) {
        let d4 = (c * TPK + j) * 2u; // vec4 index of this lane's chunk
        accRed[warp * CH * 2u + d4] = acc[(g * MAXC + c) * 2u];
        accRed[warp * CH * 2u + d4 + 1u] = acc[(g * MAXC + c) * 2u + 1u];
      }
    }
    workgroupBarrier();
    let row = statsRow + g * p.maxPartitions; // (seq, head0 + g, part)
    for (var i = lid; i < CH * 2u; i += WG) {
      var o = accRed[i];
      for (var w = 1u; w < nw; w++) { o += accRed[w * CH * 2u + i]; }
      partOut[row * CH * 2u + i] = o;
    }
    if (lid == 0u) {
      var l = red[g];
      for (var w = 1u; w < nw; w++) { l += red[w * MAXG + g]; }
      partStats[row] = vec2f(gmax[g], l);
    }
    workgroupBarrier();
  }
}
