// decode_attention (pass 1 of 2, split-K / flash-decoding): for one query token per sequence,
// each workgroup streams ONE partition of P cached tokens of ONE kv head and computes, for the
// GW q heads it serves, the partition's max logit m, sum of exponentials l = Σ exp(s - m) and
// unnormalised output o = Σ exp(s - m) · v, all in f32; decode_attention_merge combines the
// partitions. P is fixed (never derived from the batch), so a sequence's partials, and hence its
// output, are bitwise the same whatever else is in the batch.
//
// Bindings: 0 q:           array<vec4u> [numSeqs, numHeads, D] f16 (a vec4u holds 8 halves)
//           1 kCache:      array<vec4u> [numBlocks, numKvHeads, 16, D] f16
//           2 vCache:      array<vec4u> [numBlocks, numKvHeads, 16, D] f16
//           3 blockTables: array<u32>   [numSeqs, maxBlocksPerSeq]
//           4 seqLens:     array<u32>   [numSeqs]
//           5 partOut:     array<vec4f> [numSeqs, numHeads, maxPartitions, D] f32 (unnormalised o)
//           6 partStats:   array<vec2f> [numSeqs, numHeads, maxPartitions] f32 (m, l)
//           7 params
// Heads:   q head h reads kv head h / G (G = numHeads / numKvHeads); a workgroup serves the GW
//          q heads wid.y * GW + [0, GW) of one kv head, so K/V are read once per GW heads. The
//          heads sit in the 4 lanes of a vec4 ("quad"); q and the output accumulators are
//          mat4x4f with one column per head, so no function-scope array is ever indexed at run
//          time (NVIDIA's compiler would put such arrays in local memory). GW <= 4: one quad
//          (lanes past GW compute on zeros); define H8: two quads (GW 5..8).
// Lanes:   a token is read by TPK consecutive lanes of one subgroup (a "token group"); lane j
//          owns the 16-byte chunk j of the head dim (define C2: also chunk j + TPK; C4 with C2:
//          also j + 2·TPK and j + 3·TPK), so one subgroup load covers whole contiguous 16·D-byte
//          rows of a (block, head) tile. MASK: the lanes' chunks cover more than the row's CH
//          (D 80 or 96: CH = 10 or 12 on 16 lanes): a chunk past the row has zero q (adds 0 to
//          q·k), reads the row's last chunk (in bounds) and is never stored. The
//          NG = WG / TPK token groups of a workgroup take tokens grp, grp + NG, ...
// Loop:    each trip loads K and V of 4 tokens per group (8 or 16 16-byte loads in flight per
//          lane), reduces each token's q·k over its TPK lanes (subgroup butterfly: all lanes
//          get the same bits), and folds the 4 tokens into the lane's online softmax state
//          (running max, sum, accumulators). No barrier inside the loop.
// End:     states are merged within the subgroup (butterfly over the token groups) and across
//          subgroups through workgroup memory, in a fixed order: all GW heads at once (EPI_ALL, one
//          barrier; the wrapper's choice where it fits in 16 KiB) or one head at a time; same bits.
// Variants: SLIDING (a sliding window of p.window keys: the query sees keys [seqLen - window, seqLen);
//          partitions wholly before them return at once) and SOFTCAP (scores s -> tanh(s / c) · c).
// Dispatch: (maxPartitions, numHeads / GW, numSeqs); workgroups past a sequence's end return.
enable subgroups;
diagnostic(off, subgroup_uniformity);

struct Params {
  numHeads: u32,
  numKvHeads: u32,
  headGroups: u32,
  maxBlocksPerSeq: u32,
  maxPartitions: u32,
  scale: f32,
//#if SLIDING
  window: u32,
//#endif
//#if SOFTCAP
  softcap: f32,
//#endif
}

@group(0) @binding(0) var<storage, read> q: array<vec4u>;
@group(0) @binding(1) var<storage, read> kCache: array<vec4u>;
@group(0) @binding(2) var<storage, read> vCache: array<vec4u>;
@group(0) @binding(3) var<storage, read> blockTables: array<u32>;
@group(0) @binding(4) var<storage, read> seqLens: array<u32>;
@group(0) @binding(5) var<storage, read_write> partOut: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> partStats: array<vec2f>;
@group(0) @binding(7) var<uniform> p: Params;

override D: u32 = 128;     // head dim, a multiple of 8 (TPK · chunks per lane · 8, or less with MASK)
override GW: u32 = 4;      // q heads per workgroup: 1..4, or 5..8 with H8
override TPK: u32 = 16;    // lanes per token: a power of two <= the minimum subgroup size
override WG: u32 = 128;    // threads per workgroup, a multiple of the subgroup size
override P: u32 = 512;     // partition size in tokens, a multiple of 16
override SGMIN: u32 = 4;   // minimum subgroup size (sizes the cross-subgroup buffers)

const BLOCK_SIZE = 16u;
const NEG_BIG = -3.0e38;
override CH: u32 = D / 8u;          // 16-byte chunks per head row (TPK, 2·TPK with C2, 4·TPK with C4; fewer with MASK)
override NG: u32 = WG / TPK;
override NW: u32 = WG / SGMIN;
override PB: u32 = P / BLOCK_SIZE;

var<workgroup> blocks: array<u32, PB>;
var<workgroup> red: array<vec4f, NW * 4u>;          // [subgroup, (m0, l0, m1, l1)]
//#if EPI_ALL
override HS: u32 = GW;     // head slots of accRed: all GW heads at once
//#else
override HS: u32 = 1u;     // one head at a time
//#endif
var<workgroup> accRed: array<vec4f, NW * HS * CH * 2u>;  // [subgroup, head slot, D / 4]

struct Quad { lo: mat4x4f, hi: mat4x4f }  // 4 heads × 8 dims, column = head
struct Tok {
  k0: vec4u, v0: vec4u,
//#if C2
  k1: vec4u, v1: vec4u,
//#endif
//#if C4
  k2: vec4u, v2: vec4u, k3: vec4u, v3: vec4u,
//#endif
}

fn lo4(u: vec4u) -> vec4f { return vec4f(unpack2x16float(u.x), unpack2x16float(u.y)); }
fn hi4(u: vec4u) -> vec4f { return vec4f(unpack2x16float(u.z), unpack2x16float(u.w)); }
fn dot8(qd: Quad, k: vec4u) -> vec4f { return lo4(k) * qd.lo + hi4(k) * qd.hi; }
fn colScale(a: mat4x4f, s: vec4f) -> mat4x4f { return mat4x4f(a[0] * s.x, a[1] * s.y, a[2] * s.z, a[3] * s.w); }
fn outer(v: vec4f, s: vec4f) -> mat4x4f { return mat4x4f(v * s.x, v * s.y, v * s.z, v * s.w); }
fn rescale(a: Quad, s: vec4f) -> Quad { return Quad(colScale(a.lo, s), colScale(a.hi, s)); }
fn addPV(a: Quad, v: vec4u, s: vec4f) -> Quad { return Quad(a.lo + outer(lo4(v), s), a.hi + outer(hi4(v), s)); }
fn reduceTok(x: vec4f) -> vec4f {
  var s = x;
  for (var m = 1u; m < TPK; m <<= 1u) { s += subgroupShuffleXor(s, m); }
//#if SOFTCAP
  s = tanh(clamp(s / p.softcap, vec4f(-15.0), vec4f(15.0))) * p.softcap; // Gemma 2's soft-capped logits
//#endif
  return s;
}
fn shufQuad(a: Quad, m: u32) -> Quad {
  return Quad(
    mat4x4f(subgroupShuffleXor(a.lo[0], m), subgroupShuffleXor(a.lo[1], m), subgroupShuffleXor(a.lo[2], m), subgroupShuffleXor(a.lo[3], m)),
    mat4x4f(subgroupShuffleXor(a.hi[0], m), subgroupShuffleXor(a.hi[1], m), subgroupShuffleXor(a.hi[2], m), subgroupShuffleXor(a.hi[3], m)),
  );
}
fn addQuad(a: Quad, b: Quad) -> Quad { return Quad(a.lo + b.lo, a.hi + b.hi); }
fn quadCol(a: Quad, h: u32, half: u32) -> vec4f {
  var m = a.lo;
  if (half == 1u) { m = a.hi; }
  switch (h) {
    case 0u: { return m[0]; }
    case 1u: { return m[1]; }
    case 2u: { return m[2]; }
    default: { return m[3]; }
  }
}
fn comp(v: vec4f, h: u32) -> f32 {
  switch (h) {
    case 0u: { return v.x; }
    case 1u: { return v.y; }
    case 2u: { return v.z; }
    default: { return v.w; }
  }
}

// Online-softmax state of one quad over this lane's tokens.
struct State { m: vec4f, l: vec4f, a0: Quad,
//#if C2
  a1: Quad,
//#endif
//#if C4
  a2: Quad, a3: Quad,
//#endif
}

fn zeroQuad() -> Quad { return Quad(mat4x4f(), mat4x4f()); }

// Folds 4 tokens (scores s0..s3, NEG_BIG where invalid) into the state.
fn fold(st: State, s0: vec4f, s1: vec4f, s2: vec4f, s3: vec4f, x0: Tok, x1: Tok, x2: Tok, x3: Tok) -> State {
  let mNew = max(max(st.m, max(s0, s1)), max(s2, s3));
  let alpha = exp(st.m - mNew);
  let p0 = select(vec4f(0.0), exp(s0 - mNew), s0 > vec4f(NEG_BIG));
  let p1 = select(vec4f(0.0), exp(s1 - mNew), s1 > vec4f(NEG_BIG));
  let p2 = select(vec4f(0.0), exp(s2 - mNew), s2 > vec4f(NEG_BIG));
  let p3 = select(vec4f(0.0), exp(s3 - mNew), s3 > vec4f(NEG_BIG));
  var r: State;
  r.m = mNew;
  r.l = st.l * alpha + ((p0 + p1) + (p2 + p3));
  r.a0 = addPV(addPV(addPV(addPV(rescale(st.a0, alpha), x0.v0, p0), x1.v0, p1), x2.v0, p2), x3.v0, p3);
//#if C2
  r.a1 = addPV(addPV(addPV(addPV(rescale(st.a1, alpha), x0.v1, p0), x1.v1, p1), x2.v1, p2), x3.v1, p3);
//#endif
//#if C4
  r.a2 = addPV(addPV(addPV(addPV(rescale(st.a2, alpha), x0.v2, p0), x1.v2, p1), x2.v2, p2), x3.v2, p3);
  r.a3 = addPV(addPV(addPV(addPV(rescale(st.a3, alpha), x0.v3, p0), x1.v3, p1), x2.v3, p2), x3.v3, p3);
//#endif
  return r;
}

// Merges another lane's state (butterfly partner: both sides get the same bits).
fn mergeState(a: State, m: u32) -> State {
  let om = subgroupShuffleXor(a.m, m);
  let ol = subgroupShuffleXor(a.l, m);
  let mNew = max(a.m, om);
  let sa = exp(a.m - mNew);
  let sb = exp(om - mNew);
  var r: State;
  r.m = mNew;
  r.l = a.l * sa + ol * sb;
  r.a0 = addQuad(rescale(a.a0, sa), rescale(shufQuad(a.a0, m), sb));
//#if C2
  r.a1 = addQuad(rescale(a.a1, sa), rescale(shufQuad(a.a1, m), sb));
//#endif
//#if C4
  r.a2 = addQuad(rescale(a.a2, sa), rescale(shufQuad(a.a2, m), sb));
  r.a3 = addQuad(rescale(a.a3, sa), rescale(shufQuad(a.a3, m), sb));
//#endif
  return r;
}

//#if MASK
// This lane's chunks j + i·TPK (i = 0..3) clamped into the row: where loadTok reads them.
var<private> cOff: vec4u;
//#endif

//#if SLIDING
// Token t of the partition is attended: inside the sequence and not before the window.
fn live(t: u32, n: u32, lo: u32) -> bool { return t < n && t >= lo; }
//#endif

fn loadTok(base: u32) -> Tok {
  var x: Tok;
//#if MASK
  x.k0 = kCache[base + cOff.x];
  x.v0 = vCache[base + cOff.x];
//#if C2
  x.k1 = kCache[base + cOff.y];
  x.v1 = vCache[base + cOff.y];
//#endif
//#if C4
  x.k2 = kCache[base + cOff.z];
  x.v2 = vCache[base + cOff.z];
  x.k3 = kCache[base + cOff.w];
  x.v3 = vCache[base + cOff.w];
//#endif
//#else
  x.k0 = kCache[base];
  x.v0 = vCache[base];
//#if C2
  x.k1 = kCache[base + TPK];
  x.v1 = vCache[base + TPK];
//#endif
//#if C4
  x.k2 = kCache[base + 2u * TPK];
  x.v2 = vCache[base + 2u * TPK];
  x.k3 = kCache[base + 3u * TPK];
  x.v3 = vCache[base + 3u * TPK];
//#endif
//#endif
  return x;
}

fn loadQuad(row: u32, nh: u32, chunk: u32, scale: f32) -> Quad {
  // Heads row .. row + 3 (those >= nh are zero), 8 dims at `chunk`.
//#if MASK
  if (chunk >= CH) { return Quad(mat4x4f(), mat4x4f()); } // past the row: adds 0 to q·k
//#endif
  let h0 = q[row * CH + chunk];
  let h1 = select(vec4u(0u), q[(row + 1u) * CH + chunk], nh > 1u);
  let h2 = select(vec4u(0u), q[(row + 2u) * CH + chunk], nh > 2u);
  let h3 = select(vec4u(0u), q[(row + 3u) * CH + chunk], nh > 3u);
  return Quad(mat4x4f(lo4(h0), lo4(h1), lo4(h2), lo4(h3)) * scale, mat4x4f(hi4(h0), hi4(h1), hi4(h2), hi4(h3)) * scale);
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
  if (tStart >= seqLen || part >= p.maxPartitions) { return; }
//#if SLIDING
  // The query (position seqLen - 1) sees keys from wStart on; a partition wholly before them is skipped by both passes.
  let wStart = select(0u, seqLen - p.window, seqLen > p.window);
  if (tStart + P <= wStart) { return; }
  let lo = select(0u, wStart - tStart, wStart > tStart); // first visible token of the partition
//#endif
  let n = min(P, seqLen - tStart);
  let head0 = wid.y * GW;
  let grp = lid / TPK;
  let j = lid % TPK;
  let warp = lid / sgSize;

  let nb = (n + BLOCK_SIZE - 1u) / BLOCK_SIZE;
  let btRow = seq * p.maxBlocksPerSeq + part * PB;
  for (var i = lid; i < nb; i += WG) { blocks[i] = blockTables[btRow + i]; }

  let qRow = seq * p.numHeads + head0;
  let q00 = loadQuad(qRow, min(GW, 4u), j, p.scale);
//#if C2
  let q01 = loadQuad(qRow, min(GW, 4u), j + TPK, p.scale);
//#endif
//#if C4
  let q02 = loadQuad(qRow, min(GW, 4u), j + 2u * TPK, p.scale);
  let q03 = loadQuad(qRow, min(GW, 4u), j + 3u * TPK, p.scale);
//#endif
//#if H8
  let q10 = loadQuad(qRow + 4u, GW - 4u, j, p.scale);
//#if C2
  let q11 = loadQuad(qRow + 4u, GW - 4u, j + TPK, p.scale);
//#endif
//#if C4
  let q12 = loadQuad(qRow + 4u, GW - 4u, j + 2u * TPK, p.scale);
  let q13 = loadQuad(qRow + 4u, GW - 4u, j + 3u * TPK, p.scale);
//#endif
//#endif
  workgroupBarrier();

//#if MASK
  cOff = min(vec4u(j, j + TPK, j + 2u * TPK, j + 3u * TPK), vec4u(CH - 1u));
  let headOffset = kvHead * BLOCK_SIZE * CH;
//#else
  let headOffset = kvHead * BLOCK_SIZE * CH + j;
//#endif
  let blockStride = p.numKvHeads * BLOCK_SIZE * CH;
  let trips = (n + NG * 4u - 1u) / (NG * 4u);

  var st0 = State(vec4f(NEG_BIG), vec4f(0.0), zeroQuad(),
//#if C2
    zeroQuad(),
//#endif
//#if C4
    zeroQuad(), zeroQuad(),
//#endif
  );
//#if H8
  var st1 = st0;
//#endif
  for (var it = 0u; it < trips; it++) {
    let t0 = it * 4u * NG + grp;
    let ta = min(t0, n - 1u);
    let tb = min(t0 + NG, n - 1u);
    let tc = min(t0 + 2u * NG, n - 1u);
    let td = min(t0 + 3u * NG, n - 1u);
    let x0 = loadTok(blocks[ta / BLOCK_SIZE] * blockStride + headOffset + (ta % BLOCK_SIZE) * CH);
    let x1 = loadTok(blocks[tb / BLOCK_SIZE] * blockStride + headOffset + (tb % BLOCK_SIZE) * CH);
    let x2 = loadTok(blocks[tc / BLOCK_SIZE] * blockStride + headOffset + (tc % BLOCK_SIZE) * CH);
    let x3 = loadTok(blocks[td / BLOCK_SIZE] * blockStride + headOffset + (td % BLOCK_SIZE) * CH);
    let neg = vec4f(NEG_BIG);
    {
//#if C4
      let s0 = reduceTok((dot8(q00, x0.k0) + dot8(q01, x0.k1)) + (dot8(q02, x0.k2) + dot8(q03, x0.k3)));
      let s1 = reduceTok((dot8(q00, x1.k0) + dot8(q01, x1.k1)) + (dot8(q02, x1.k2) + dot8(q03, x1.k3)));
      let s2 = reduceTok((dot8(q00, x2.k0) + dot8(q01, x2.k1)) + (dot8(q02, x2.k2) + dot8(q03, x2.k3)));
      let s3 = reduceTok((dot8(q00, x3.k0) + dot8(q01, x3.k1)) + (dot8(q02, x3.k2) + dot8(q03, x3.k3)));
//#else
//#if C2
      let s0 = reduceTok(dot8(q00, x0.k0) + dot8(q01, x0.k1));
      let s1 = reduceTok(dot8(q00, x1.k0) + dot8(q01, x1.k1));
      let s2 = reduceTok(dot8(q00, x2.k0) + dot8(q01, x2.k1));
      let s3 = reduceTok(dot8(q00, x3.k0) + dot8(q01, x3.k1));
//#else
      let s0 = reduceTok(dot8(q00, x0.k0));
      let s1 = reduceTok(dot8(q00, x1.k0));
      let s2 = reduceTok(dot8(q00, x2.k0));
      let s3 = reduceTok(dot8(q00, x3.k0));
//#endif
//#endif
//#if SLIDING
      st0 = fold(st0, select(neg, s0, live(t0, n, lo)), select(neg, s1, live(t0 + NG, n, lo)), select(neg, s2, live(t0 + 2u * NG, n, lo)), select(neg, s3, live(t0 + 3u * NG, n, lo)), x0, x1, x2, x3);
//#else
      st0 = fold(st0, select(neg, s0, t0 < n), select(neg, s1, t0 + NG < n), select(neg, s2, t0 + 2u * NG < n), select(neg, s3, t0 + 3u * NG < n), x0, x1, x2, x3);
//#endif
    }
//#if H8
    {
//#if C4
      let s0 = reduceTok((dot8(q10, x0.k0) + dot8(q11, x0.k1)) + (dot8(q12, x0.k2) + dot8(q13, x0.k3)));
      let s1 = reduceTok((dot8(q10, x1.k0) + dot8(q11, x1.k1)) + (dot8(q12, x1.k2) + dot8(q13, x1.k3)));
      let s2 = reduceTok((dot8(q10, x2.k0) + dot8(q11, x2.k1)) + (dot8(q12, x2.k2) + dot8(q13, x2.k3)));
      let s3 = reduceTok((dot8(q10, x3.k0) + dot8(q11, x3.k1)) + (dot8(q12, x3.k2) + dot8(q13, x3.k3)));
//#else
//#if C2
      let s0 = reduceTok(dot8(q10, x0.k0) + dot8(q11, x0.k1));
      let s1 = reduceTok(dot8(q10, x1.k0) + dot8(q11, x1.k1));
      let s2 = reduceTok(dot8(q10, x2.k0) + dot8(q11, x2.k1));
      let s3 = reduceTok(dot8(q10, x3.k0) + dot8(q11, x3.k1));
//#else
      let s0 = reduceTok(dot8(q10, x0.k0));
      let s1 = reduceTok(dot8(q10, x1.k0));
      let s2 = reduceTok(dot8(q10, x2.k0));
      let s3 = reduceTok(dot8(q10, x3.k0));
//#endif
//#endif
//#if SLIDING
      st1 = fold(st1, select(neg, s0, live(t0, n, lo)), select(neg, s1, live(t0 + NG, n, lo)), select(neg, s2, live(t0 + 2u * NG, n, lo)), select(neg, s3, live(t0 + 3u * NG, n, lo)), x0, x1, x2, x3);
//#else
      st1 = fold(st1, select(neg, s0, t0 < n), select(neg, s1, t0 + NG < n), select(neg, s2, t0 + 2u * NG < n), select(neg, s3, t0 + 3u * NG < n), x0, x1, x2, x3);
//#endif
    }
//#endif
  }

  // Token groups of a subgroup, then subgroups through workgroup memory.
  for (var m = TPK; m < sgSize; m <<= 1u) {
    st0 = mergeState(st0, m);
//#if H8
    st1 = mergeState(st1, m);
//#endif
  }
  if (lane == 0u) {
    red[warp * 4u] = st0.m;
    red[warp * 4u + 1u] = st0.l;
//#if H8
    red[warp * 4u + 2u] = st1.m;
    red[warp * 4u + 3u] = st1.l;
//#endif
  }
  workgroupBarrier();
  let nw = WG / sgSize;
  var gm0 = vec4f(NEG_BIG);
  var gm1 = vec4f(NEG_BIG);
  for (var w = 0u; w < nw; w++) {
    gm0 = max(gm0, red[w * 4u]);
    gm1 = max(gm1, red[w * 4u + 2u]);
  }
  let ws0 = exp(st0.m - gm0);
//#if H8
  let ws1 = exp(st1.m - gm1);
//#endif
  let statsRow = (seq * p.numHeads + head0) * p.maxPartitions + part;
//#if H8
  let hiSt = st1;
  let hiWs = ws1;
//#else
  let hiSt = st0;
  let hiWs = ws0;
//#endif
//#if EPI_ALL
  // Every head's share through workgroup memory at once: one barrier, then each invocation adds up the
  // subgroups' copies of some (head, 4 dims) (the same sums in the same order as one head at a time).
  if (lane < TPK) {
    for (var h = 0u; h < GW; h++) { stashHead(h, h, warp, j, st0, hiSt, ws0, hiWs); }
  }
  workgroupBarrier();
  for (var i = lid; i < GW * CH * 2u; i += WG) {
    let h = i / (CH * 2u);
    sumHead(h, i % (CH * 2u), nw, statsRow + h * p.maxPartitions);
  }
  if (lid < GW) { partStats[statsRow + lid * p.maxPartitions] = headStats(lid, gm0, gm1, nw); }
//#else
  for (var h = 0u; h < GW; h++) {
    if (lane < TPK) { stashHead(h, 0u, warp, j, st0, hiSt, ws0, hiWs); }
    workgroupBarrier();
    let row = statsRow + h * p.maxPartitions;
    for (var i = lid; i < CH * 2u; i += WG) { sumHead(0u, i, nw, row); }
    if (lid == 0u) { partStats[row] = headStats(h, gm0, gm1, nw); }
    workgroupBarrier();
  }
//#endif
}

// This lane's 8 (C2: 16) dims of head h's unnormalised output, scaled to the workgroup's max, into
// accRed slot `slot` of subgroup `warp` (heads 4..7 come from the second quad's state `hi`).
fn stashHead(h: u32, slot: u32, warp: u32, j: u32, lo: State, hi: State, wsLo: vec4f, wsHi: vec4f) {
  var a0 = lo.a0;
  var s = comp(wsLo, h % 4u);
//#if C2
  var a1 = lo.a1;
//#endif
//#if C4
  var a2 = lo.a2;
  var a3 = lo.a3;
//#endif
  if (h >= 4u) {
    a0 = hi.a0;
    s = comp(wsHi, h % 4u);
//#if C2
    a1 = hi.a1;
//#endif
//#if C4
    a2 = hi.a2;
    a3 = hi.a3;
//#endif
  }
  let b = (warp * HS + slot) * CH * 2u;
//#if MASK
  stashChunk(b, j, a0, h, s);
//#if C2
  stashChunk(b, j + TPK, a1, h, s);
//#endif
//#if C4
  stashChunk(b, j + 2u * TPK, a2, h, s);
  stashChunk(b, j + 3u * TPK, a3, h, s);
//#endif
//#else
  accRed[b + j * 2u] = quadCol(a0, h % 4u, 0u) * s;
  accRed[b + j * 2u + 1u] = quadCol(a0, h % 4u, 1u) * s;
//#if C2
  accRed[b + (j + TPK) * 2u] = quadCol(a1, h % 4u, 0u) * s;
  accRed[b + (j + TPK) * 2u + 1u] = quadCol(a1, h % 4u, 1u) * s;
//#endif
//#if C4
  accRed[b + (j + 2u * TPK) * 2u] = quadCol(a2, h % 4u, 0u) * s;
  accRed[b + (j + 2u * TPK) * 2u + 1u] = quadCol(a2, h % 4u, 1u) * s;
  accRed[b + (j + 3u * TPK) * 2u] = quadCol(a3, h % 4u, 0u) * s;
  accRed[b + (j + 3u * TPK) * 2u + 1u] = quadCol(a3, h % 4u, 1u) * s;
//#endif
//#endif
}

//#if MASK
// Chunk c of head h's output (a lane's quad column, scaled by s) into accRed at b, if the row has it.
fn stashChunk(b: u32, c: u32, a: Quad, h: u32, s: f32) {
  if (c >= CH) { return; }
  accRed[b + c * 2u] = quadCol(a, h % 4u, 0u) * s;
  accRed[b + c * 2u + 1u] = quadCol(a, h % 4u, 1u) * s;
}
//#endif

// Element e (4 dims) of the head in accRed slot `slot`, summed over the nw subgroups in order, to partOut row `row`.
fn sumHead(slot: u32, e: u32, nw: u32, row: u32) {
  var o = accRed[slot * CH * 2u + e];
  for (var w = 1u; w < nw; w++) { o += accRed[(w * HS + slot) * CH * 2u + e]; }
  partOut[row * CH * 2u + e] = o;
}

// Head h's partition statistics (m, l) from the subgroups' (m, l) in `red`.
fn headStats(h: u32, gm0: vec4f, gm1: vec4f, nw: u32) -> vec2f {
  let qd = h / 4u;
  let gm = comp(select(gm0, gm1, qd == 1u), h % 4u);
  var l = 0.0;
  for (var w = 0u; w < nw; w++) {
    l += comp(red[w * 4u + qd * 2u + 1u], h % 4u) * exp(comp(red[w * 4u + qd * 2u], h % 4u) - gm);
  }
  return vec2f(gm, l);
}
