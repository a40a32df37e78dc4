// sample: one token per row from logits with temperature, top-k and top-p, drawn by Gumbel-max
// with a counter-based RNG: token = argmax over kept i of (logit_i * invT + g(seed, step, i)).
// Bindings: 0 logits [numSeqs, V] (f32 or f16)  1 sp [numSeqs, 8] u32 (packSamplingParams)
//   2 out [numSeqs] u32  3 part [numSeqs, chunks] vec4<u32> (chunk summaries)
//   4 cand [numSeqs, CACHE] vec2<u32> (key, index)  5 candN [numSeqs] u32  6 params
//   (3..5 are scratch, used only when chunks > 1).
// sp row: [0] temperature f32 bits (0 = greedy), [1] topK (0 or >= V = off), [2] topP f32 bits
//   (>= 1 = off), [3] seed, [4] step, [5] invT = f32(1 / temperature) bits, [6..7] unused.
// Semantics (a pure function of the row's logits and sp; mirrored by src/kernels/ref/sampling.ts):
//   key = order-preserving u32 of the logit (NaN -> 0: never kept, never chosen; -0 -> +0).
//   top-k: keep key >= the k-th largest key (all ties at the boundary kept).
//   weights q_i = u32(exp((l_i - max) * invT) * 2^31 + 0.5), summed exactly in 64 bits.
//   top-p: keep key >= c, c = the largest key with sum(q over kept keys >= c) >= target,
//   target = max(1, ceil(topP * Z)) with Z (the kept total) rounded to f32 (see scan()).
//   g = -log(-log(u)), u = (23 hash bits + 0.5) / 2^23, hash = pcg(pcg(i ^ pcg(seed)) + rk2),
//   rk2 = pcg(step ^ pcg(seed)); never depends on the batch, the row index, WG or the split.
// Thresholds: radix select over the keys (11 + 11 + 10 bits): a histogram per level (counts, or
//   64-bit fixed-point mass) in workgroup memory, a scan (subgroup scans + subgroup totals) to
//   find the bin holding the threshold, then the next level inside that bin; a level ends the
//   select early when its bin is entirely in (count) or holds a single key (mass). Integer sums
//   and exact argmaxes make each result independent of WG, of the order of atomics, of the
//   cache, of the split and of the batch.
// Stages (main's loop, one pass over the row or the cache each; see ST_*): greedy rows: the max
//   pass is the argmax. No top-k/top-p: one Gumbel pass. Otherwise: max pass; top-k with
//   k <= WG: select the k-th largest of the WG per-thread maxima (a lower bound of the k-th
//   key), one pass copying the keys above it into the cache, then every later level and the
//   Gumbel pass run on the cache (2 reads of the row in all); top-p only: max pass, the level-0
//   mass histogram over the row, then a level-1 pass that also caches the keys at or above the
//   level-0 bin when they fit (typically 3 reads). Rows whose candidates do not fit the cache
//   (flat distributions, big k) fall back to full-row passes (up to 5 or 6).
// Candidate cache: a full-row pass may copy every key >= a floor (below every threshold still
//   to find) into workgroup memory (up to CACHE entries); a pass then reads the cache when it
//   holds everything >= the pass's floor.
// Phases (p.phase): 2 = one workgroup per row does everything (chunks == 1), or finishes after
//   0 and 1 (chunks > 1, small batches): 0 = chunk workgroups (row, chunk) run the max pass
//   (greedy rows: argmax; top-k rows: also their bound) or the whole Gumbel pass (rows without
//   top-k/top-p) over their part of the row and write a summary to part; 1 = chunk workgroups
//   of top-k rows append their keys >= max(chunk bounds) to cand (global, CACHE entries);
//   phase 2 merges the summaries (exact argmaxes) and loads cand into the workgroup cache.
// Layout: row-major logits; VEC: 4 logits per load (vec4<f32> or vec2<u32> = 4 halves;
//   V % 4 == 0), one load in flight ahead of the one being visited; else one logit per load.
//   A chunk is p.chunkUnits loads.
// Workgroup: WG threads (override; 256, 512 or 1024, a multiple of the subgroup size); thread
//   lid visits loads lid, lid + WG, ... of its row or chunk (coalesced). Workgroup memory:
//   3 * 2048 * 4 bytes of histogram + 8 * CACHE bytes of cache + 2 * WG bytes + ~100 bytes.
// Dispatch: phase 0 and 1: grid(numSeqs * chunks), row = w / chunks, chunk = w % chunks;
//   phase 2: grid(numSeqs), row = w; w = wid.x + wid.y * nwg.x.
enable f16;
enable subgroups;

struct Params { V: u32, numSeqs: u32, cacheOn: u32, chunks: u32, chunkUnits: u32, phase: u32 }

//#if F16
//#if VEC
@group(0) @binding(0) var<storage, read> logits: array<vec2<u32>>;
//#else
@group(0) @binding(0) var<storage, read> logits: array<f16>;
//#endif
//#else
//#if VEC
@group(0) @binding(0) var<storage, read> logits: array<vec4<f32>>;
//#else
@group(0) @binding(0) var<storage, read> logits: array<f32>;
//#endif
//#endif
@group(0) @binding(1) var<storage, read> sp: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<storage, read_write> part: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> cand: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read_write> candN: array<atomic<u32>>;
@group(0) @binding(6) var<uniform> p: Params;

//#if F16
alias LoadT = vec2<u32>;
fn component(u: LoadT, c: u32) -> f32 {
  let h = unpack2x16float(select(u.x, u.y, c >= 2u));
  return select(h.x, h.y, (c & 1u) != 0u);
}
//#else
alias LoadT = vec4<f32>;
fn component(a: LoadT, c: u32) -> f32 {
  return select(select(a.x, a.y, c == 1u), select(a.z, a.w, c == 3u), c >= 2u);
}
//#endif

override WG: u32 = 256;
override CACHE: u32 = 512;
const NB: u32 = 2048u;
override BPT: u32 = NB / WG; // histogram bins per thread in the scan (<= 8)
const GMAX: f32 = 17.0; // > the largest Gumbel value the 23-bit uniform can give (16.64)

// Histogram: count, and mass as 64 bits (lo, hi).
var<workgroup> hCnt: array<atomic<u32>, NB>;
var<workgroup> hLo: array<atomic<u32>, NB>;
var<workgroup> hHi: array<atomic<u32>, NB>;
var<workgroup> cKey: array<u32, CACHE>;
var<workgroup> cIdx: array<u32, CACHE>;
var<workgroup> cN: atomic<u32>;
var<workgroup> sgTot: array<vec4<u32>, WG / 8u>; // per-subgroup totals in scan() (subgroups >= 8 lanes)
//#include workgroup_argmax
// Written by one thread, read by all with workgroupUniformLoad.
struct ScanOut {
  found: u32,
  bin: u32,           // the bin holding the target
  cntAbove: u32,      // keys in the bins above it
  cntBin: u32,        // keys in it
  above: vec2<u32>,   // weight of the bins above it
  tgt: vec2<u32>,     // the target (computed from the total for top-p level 0)
}
var<workgroup> sScan: ScanOut;
// The cache holds every key >= floor (n of them) when valid.
struct CacheState { valid: u32, floor: u32, n: u32 }
var<workgroup> sCache: CacheState;
var<workgroup> sResult: vec2<u32>;
var<workgroup> sPart: vec4<u32>;
var<workgroup> sPartN: u32;

// What a pass does with each element (set before the pass; the same for every thread).
var<private> gRow: u32;
var<private> gChunkMode: bool;  // phases 0 and 1: this workgroup handles one chunk of a row
var<private> gBegin: u32;       // the loads [gBegin, gEnd) of the row this workgroup reads
var<private> gEnd: u32;
var<private> gLane: u32;
var<private> gSgSize: u32;
var<private> fFloor: u32;       // skip keys below this
var<private> fCollect: bool;    // copy keys >= fFloor into the cache
var<private> fHist: bool;
var<private> fMass: bool;
var<private> fPrefix: u32;
var<private> fPrefixMask: u32;
var<private> fShift: u32;
var<private> fBinMask: u32;
var<private> fGumbel: bool;
var<private> fMax: f32;         // the row's largest logit
var<private> fMaxKey: u32;
var<private> fInvT: f32;
var<private> fRk1: u32;
var<private> fRk2: u32;
// Per-thread running results.
var<private> tMaxKey: u32 = 0u;
var<private> tMaxIdx: u32 = 0xffffffffu;
var<private> tBestKey: u32 = 0u;
var<private> tBestIdx: u32 = 0xffffffffu;
var<private> tBestScore: f32 = 0.0;

//#include float_key

fn valueOf(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}

fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let lo = a.x + b.x;
  return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn sub64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}

fn lt64(a: vec2<u32>, b: vec2<u32>) -> bool {
  return a.y < b.y || (a.y == b.y && a.x < b.x);
}

fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

// Gumbel noise for token idx: g = -log(E), E = -log(u) ~ Exp(1), u = (k + 0.5) / 2^23 from 23
// hash bits. For u >= 0.5, E = -log(1 - v) with v = 1 - u computed exactly and
// -log(1 - v) = 2 atanh(v / (2 - v)) by its series (accurate where log(u) near 1 is not).
fn gumbel(idx: u32) -> f32 {
  let h = pcg(pcg(idx ^ fRk1) + fRk2);
  let k = h >> 9u;
  var e: f32;
  if (k >= 0x400000u) {
    let v = (f32(0x7fffffu - k) + 0.5) * (1.0 / 8388608.0);
    let z = v / (2.0 - v);
    let z2 = z * z;
    let s = 1.0 + z2 * (1.0 / 3.0 + z2 * (1.0 / 5.0 + z2 * (1.0 / 7.0 + z2 * (1.0 / 9.0 + z2 * (1.0 / 11.0
      + z2 * (1.0 / 13.0 + z2 * (1.0 / 15.0 + z2 * (1.0 / 17.0))))))));
    e = 2.0 * z * s;
  } else {
    e = -log((f32(k) + 0.5) * (1.0 / 8388608.0));
  }
  return -log(e);
}

// Fixed-point weight of a key: round(exp((l - max) * invT) * 2^31).
fn weightOf(key: u32) -> u32 {
  let x = select((valueOf(key) - fMax) * fInvT, 0.0, key == fMaxKey);
  return u32(exp(x) * 2147483648.0 + 0.5);
}

fn visit(key: u32, idx: u32) {
  if (key > tMaxKey || (key == tMaxKey && idx < tMaxIdx)) {
    tMaxKey = key;
    tMaxIdx = idx;
  }
  if (key < fFloor) { return; }
  if (fCollect) {
    if (gChunkMode) {
      let s = atomicAdd(&candN[gRow], 1u);
      if (s < CACHE) { cand[gRow * CACHE + s] = vec2<u32>(key, idx); }
    } else {
      let s = atomicAdd(&cN, 1u);
      if (s < CACHE) {
        cKey[s] = key;
        cIdx[s] = idx;
      }
    }
  }
  if (fHist && (key & fPrefixMask) == fPrefix) {
    let bin = (key >> fShift) & fBinMask;
    atomicAdd(&hCnt[bin], 1u);
    if (fMass) {
      let q = weightOf(key);
      let old = atomicAdd(&hLo[bin], q);
      if (old + q < old) { atomicAdd(&hHi[bin], 1u); }
    }
  }
  if (fGumbel) {
    let x = valueOf(key) * fInvT;
    if (x + GMAX >= tBestScore || tBestIdx == 0xffffffffu) {
      let s = x + gumbel(idx);
      let sk = keyOf(s);
      if (sk > tBestKey || (sk == tBestKey && idx < tBestIdx)) {
        tBestKey = sk;
        tBestIdx = idx;
        tBestScore = s;
      }
    }
  }
}

// Every pass reads the row (or the cache) through this one loop with one call of visit: the
// shader stays small for compilers that inline everything (lavapipe).
fn runPass(lid: u32, fromCache: bool, n: u32) {
  let V = p.V;
//#if VEC
  let n4 = V / 4u;
  let base = gRow * n4;
  // One load ahead: the load of a thread's next 4 logits is in flight while it visits these 4.
  var a = LoadT();
  var next = LoadT();
  if (!fromCache && gBegin + lid < gEnd) { next = logits[base + gBegin + lid]; }
//#else
  let base = gRow * V;
//#endif
  for (var j = 0u; ; j++) {
    var key: u32;
    var idx: u32;
    if (fromCache) {
      let i = lid + j * WG;
      if (i >= n) { break; }
      key = cKey[i];
      idx = cIdx[i];
    } else {
//#if VEC
      let c = j & 3u;
      let g = gBegin + lid + (j >> 2u) * WG;
      if (g >= gEnd) { break; }
      if (c == 0u) {
        a = next;
        if (g + WG < gEnd) { next = logits[base + g + WG]; }
      }
      key = keyOf(component(a, c));
      idx = 4u * g + c;
//#else
      let e = gBegin + lid + j * WG;
      if (e >= gEnd) { break; }
      key = keyOf(f32(logits[base + e]));
      idx = e;
//#endif
    }
    visit(key, idx);
  }
}

fn clearHist(lid: u32) {
  for (var j = 0u; j < BPT; j++) {
    let b = lid * BPT + j;
    atomicStore(&hCnt[b], 0u);
    atomicStore(&hLo[b], 0u);
    atomicStore(&hHi[b], 0u);
  }
}

fn binWeight(mass: bool, c: u32, lo: u32, hi: u32) -> vec2<u32> {
  return select(vec2<u32>(c, 0u), vec2<u32>(lo, hi), mass);
}

// After a histogram pass: finds the bin holding the tgt-th unit of weight counted from the top
// bin down (weight = count, or mass when `mass`). With fromTotal the target is
// max(1, ceil(topP * Z)) for the histogram's total mass Z. Results go to sScan (read them with
// workgroupUniformLoad, whose barrier also ends the scan's reads of the histogram).
fn scan(targetIn: vec2<u32>, mass: bool, fromTotal: bool, topP: f32, lid: u32) {
  var sc = 0u;
  var sw = vec2<u32>(0u);
  for (var j = 0u; j < BPT; j++) {
    let bin = NB - 1u - (lid * BPT + j);
    let c = atomicLoad(&hCnt[bin]);
    sc += c;
    sw = add64(sw, binWeight(mass, c, atomicLoad(&hLo[bin]), atomicLoad(&hHi[bin])));
  }
  if (lid == 0u) { sScan.found = 0u; }
  // Inclusive scan of the per-thread sums over threads (top bins first): within each subgroup
  // with subgroupInclusiveAdd (mass in 16/16/32-bit limbs so no lane sum overflows), then across
  // subgroups through their totals.
  let sgc = subgroupInclusiveAdd(sc);
  let l0 = subgroupInclusiveAdd(sw.x & 0xffffu);
  let l1 = subgroupInclusiveAdd(sw.x >> 16u);
  let l2 = subgroupInclusiveAdd(sw.y);
  let sgw = add64(vec2<u32>(l0, l2 + (l1 >> 16u)), vec2<u32>(l1 << 16u, 0u));
  let sgId = lid / gSgSize;
  if (gLane == gSgSize - 1u) { sgTot[sgId] = vec4<u32>(sgc, sgw, 0u); }
  workgroupBarrier();
  var ic = sgc;
  var iw = sgw;
  var tw = vec2<u32>(0u);
  for (var s = 0u; s < WG / gSgSize; s++) {
    let t = sgTot[s];
    tw = add64(tw, t.yz);
    if (s < sgId) {
      ic += t.x;
      iw = add64(iw, t.yz);
    }
  }
  var tgt = targetIn;
  if (fromTotal) {
    let z = tw;
    // Z as f32 (low 8 bits dropped so each step is exact or one correctly rounded operation).
    let zf = f32(z.y) * 4294967296.0 + f32(z.x >> 8u) * 256.0;
    let tf = topP * zf;
    let thi = floor(tf * (1.0 / 4294967296.0));
    let tlo = ceil(tf - thi * 4294967296.0);
    tgt = vec2<u32>(u32(tlo), u32(thi));
    if (tgt.x == 0u && tgt.y == 0u) { tgt = vec2<u32>(1u, 0u); }
  }
  var ew = sub64(iw, sw);
  var ec = ic - sc;
  if (lt64(ew, tgt) && !lt64(iw, tgt)) {
    for (var j = 0u; j < BPT; j++) {
      let bin = NB - 1u - (lid * BPT + j);
      let c = atomicLoad(&hCnt[bin]);
      let nw = add64(ew, binWeight(mass, c, atomicLoad(&hLo[bin]), atomicLoad(&hHi[bin])));
      if (!lt64(nw, tgt)) {
        sScan.found = 1u;
        sScan.bin = bin;
        sScan.above = ew;
        sScan.cntAbove = ec;
        sScan.cntBin = c;
        break;
      }
      ew = nw;
      ec += c;
    }
  }
  if (lid == 0u) { sScan.tgt = tgt; }
}

// Workgroup-wide (max key, lowest index among max keys) of per-thread (key, idx).
fn reduceArgmax(key: u32, idx: u32, lid: u32) -> vec2<u32> {
  if (lid == 0u) {
    atomicStore(&wKey, 0u);
    atomicStore(&wIdx, 0xffffffffu);
  }
  workgroupBarrier();
  let r = workgroupArgmax(key, idx);
  if (lid == 0u) { sResult = r; }
  return workgroupUniformLoad(&sResult);
}

// Stages: each loop iteration of main runs one pass over the row or the cache.
const ST_MAX: u32 = 0u;     // row max (= the argmax of greedy rows)
const ST_BOUND: u32 = 1u;   // select the k-th largest per-thread max (a lower bound of the k-th key)
const ST_COLLECT: u32 = 2u; // copy keys >= that bound into the cache
const ST_TOPK: u32 = 3u;    // radix-select level of the k-th largest key
const ST_TOPP: u32 = 4u;    // radix-select level of the top-p cut
const ST_GUMBEL: u32 = 5u;  // Gumbel-max over the kept keys
const ST_DONE: u32 = 6u;

// Phase 2: the row's token (index 0xffffffff, from an empty or all-NaN reduction, becomes 0).
fn emit(row: u32, idx: u32, lid: u32) {
  if (lid == 0u) { out[row] = select(idx, 0u, idx == 0xffffffffu); }
}

// Phase 0: this chunk's summary for phase 2: (max key, its index, bound, 0), or for rows
// without top-k/top-p (0, 0xffffffff, Gumbel key, Gumbel index).
fn emitPart(w: u32, v: vec4<u32>, lid: u32) {
  if (lid == 0u) { part[w] = v; }
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sgSize: u32,
) {
  let w = wid.x + wid.y * nwg.x;
  let chunkMode = p.phase < 2u;
  let split = p.chunks > 1u;
  let row = select(w, w / p.chunks, chunkMode);
  let chunk = select(0u, w % p.chunks, chunkMode);
  if (row >= p.numSeqs) { return; }
  let V = p.V;
//#if VEC
  let units = V / 4u;
//#else
  let units = V;
//#endif
  gRow = row;
  gLane = lane;
  gSgSize = sgSize;
  gChunkMode = chunkMode;
  gBegin = chunk * p.chunkUnits;
  gEnd = select(units, min(units, gBegin + p.chunkUnits), chunkMode);
  let cacheOn = p.cacheOn != 0u;
  let pb = row * 8u;
  let greedy = (sp[pb] & 0x7fffffffu) == 0u;
  let topK = sp[pb + 1u];
  let topP = bitcast<f32>(sp[pb + 2u]);
  fInvT = bitcast<f32>(sp[pb + 5u]);
  fRk1 = pcg(sp[pb + 3u]);
  fRk2 = pcg(sp[pb + 4u] ^ fRk1);
  let kOn = !greedy && topK != 0u && topK < V;
  let pOn = !greedy && topP < 1.0;
  // Top-k rows whose k-th key gets a lower bound from per-thread maxima (then a cache fill).
  let boundOn = kOn && cacheOn && topK <= WG;
  if (lid == 0u) { sCache = CacheState(0u, 0u, 0u); }

  var stage = select(ST_GUMBEL, ST_MAX, greedy || kOn || pOn);
  var thr = 1u;        // keys >= thr are kept so far
  // Radix-select state of the current ST_BOUND / ST_TOPK / ST_TOPP select.
  var selFloor = 1u;   // only keys >= selFloor take part
  var level = 0u;
  var prefix = 0u;
  var tgt = vec2<u32>(topK, 0u);
  var nAtLeast = V;    // upper bound on the keys >= max(prefix, selFloor)
  var cntAboveAcc = 0u;
  var bound = 1u;
  var maxKI = vec2<u32>(0u, 0xffffffffu);

  if (chunkMode && p.phase == 1u) {
    // Phase 1: chunks of bound rows append their keys >= max(bounds) to cand.
    if (!boundOn) { return; }
    if (lid == 0u) {
      var f = 1u;
      for (var c = 0u; c < p.chunks; c++) { f = max(f, part[row * p.chunks + c].z); }
      sPart = vec4<u32>(f, 0u, 0u, 0u);
    }
    bound = workgroupUniformLoad(&sPart).x;
    stage = ST_COLLECT;
  } else if (chunkMode) {
    // Phase 0: the chunk's max (and for k <= WG its bound), or its Gumbel best.
    if (chunk == 0u && lid == 0u) { atomicStore(&candN[row], 0u); }
  } else if (split) {
    // Phase 2 after phases 0 and 1: finish from the chunk summaries and the filled cache.
    if (lid == 0u) {
      var mk = 0u;
      var mi = 0xffffffffu;
      var gk = 0u;
      var gi = 0xffffffffu;
      var f = 1u;
      for (var c = 0u; c < p.chunks; c++) {
        let e = part[row * p.chunks + c];
        if (e.x > mk || (e.x == mk && e.y < mi)) { mk = e.x; mi = e.y; }
        if (e.z > gk || (e.z == gk && e.w < gi)) { gk = e.z; gi = e.w; }
        f = max(f, e.z);
      }
      sPart = vec4<u32>(mk, mi, gk, gi);
      sCache = CacheState(0u, f, atomicLoad(&candN[row]));
    }
    let summary = workgroupUniformLoad(&sPart);
    let filled = workgroupUniformLoad(&sCache);
    if (greedy) {
      emit(row, summary.y, lid);
      return;
    }
    if (!kOn && !pOn) {
      emit(row, summary.w, lid);
      return;
    }
    fMaxKey = summary.x;
    fMax = valueOf(summary.x);
    if (boundOn) {
      bound = filled.floor;
      let n = filled.n;
      if (n <= CACHE) {
        for (var i = lid; i < n; i += WG) {
          let e = cand[row * CACHE + i];
          cKey[i] = e.x;
          cIdx[i] = e.y;
        }
      }
      if (lid == 0u) { sCache = CacheState(select(0u, 1u, n <= CACHE), bound, n); }
      selFloor = bound;
      nAtLeast = min(V, n);
    } else if (lid == 0u) {
      sCache = CacheState(0u, 0u, 0u);
    }
    stage = select(ST_TOPP, ST_TOPK, kOn);
  }

  loop {
    if (stage == ST_DONE) { break; }
    let isSel = stage == ST_BOUND || stage == ST_TOPK || stage == ST_TOPP;
    let mass = stage == ST_TOPP;
    var shift = 21u;
    var binMask = 0x7ffu;
    var prefixMask = 0u;
    if (level == 1u) { shift = 10u; prefixMask = 0xffe00000u; }
    if (level == 2u) { shift = 0u; binMask = 0x3ffu; prefixMask = 0xfffffc00u; }
    let cs = workgroupUniformLoad(&sCache);
    let cacheValid = cs.valid != 0u;
    let cacheFloor = cs.floor;
    var floorKey = 1u;
    var collect = false;
    if (stage == ST_MAX) {
      collect = !chunkMode && cacheOn && V <= CACHE;
    } else if (stage == ST_COLLECT) {
      floorKey = bound;
      collect = true;
    } else if (stage == ST_GUMBEL) {
      floorKey = thr;
    } else {
      floorKey = max(prefix, selFloor);
    }
    let useCache = stage != ST_MAX && stage != ST_COLLECT && cacheValid && cacheFloor <= floorKey;
    if (isSel) { collect = !useCache && cacheOn && nAtLeast <= CACHE; }
    fFloor = floorKey;
    fCollect = collect;
    fHist = isSel;
    fMass = mass;
    fPrefix = prefix;
    fPrefixMask = prefixMask;
    fShift = shift;
    fBinMask = binMask;
    fGumbel = stage == ST_GUMBEL;
    tBestKey = 0u;
    tBestIdx = 0xffffffffu;
    tBestScore = 0.0;
    if (isSel) { clearHist(lid); }
    if (lid == 0u) { atomicStore(&cN, 0u); }
    workgroupBarrier();
    runPass(lid, useCache, cs.n);
    workgroupBarrier();
    if (!chunkMode && collect && lid == 0u) {
      let n = atomicLoad(&cN);
      sCache = CacheState(select(0u, 1u, n <= CACHE), floorKey, n);
    }

    if (isSel) {
      scan(tgt, mass, mass && level == 0u, topP, lid);
      var done = false;
      var result = floorKey;
      let so = workgroupUniformLoad(&sScan);
      if (so.found == 0u) {
        // Fewer than k keys, or a top-p target above the total: keep everything in range.
        done = true;
      } else {
        let above = so.above;
        let cntBin = so.cntBin;
        tgt = so.tgt;
        prefix = prefix | (so.bin << shift);
        cntAboveAcc += so.cntAbove;
        nAtLeast = cntAboveAcc + cntBin;
        // Done when the whole bin is in (count) or the bin holds a single key (mass), or at the last level.
        done = select(above.x + cntBin == tgt.x, cntBin == 1u, mass) || level == 2u;
        tgt = sub64(tgt, above);
        result = max(prefix, selFloor);
        level += 1u;
      }
      if (done) {
        if (stage == ST_BOUND) {
          bound = result;
          stage = ST_COLLECT;
          if (chunkMode) {
            emitPart(w, vec4<u32>(maxKI, bound, 0u), lid);
            stage = ST_DONE;
          }
        } else {
          thr = result;
          stage = select(ST_GUMBEL, ST_TOPP, stage == ST_TOPK && pOn);
          selFloor = thr;
          level = 0u;
          prefix = 0u;
          tgt = vec2<u32>(0u);
          cntAboveAcc = 0u;
        }
      }
    } else if (stage == ST_COLLECT) {
      selFloor = bound;
      level = 0u;
      prefix = 0u;
      tgt = vec2<u32>(topK, 0u);
      cntAboveAcc = 0u;
      nAtLeast = min(V, workgroupUniformLoad(&sCache).n);
      stage = select(ST_TOPK, ST_DONE, chunkMode);
    } else {
      let isMax = stage == ST_MAX;
      let r = reduceArgmax(select(tBestKey, tMaxKey, isMax), select(tBestIdx, tMaxIdx, isMax), lid);
      if (chunkMode) {
        maxKI = r;
        if (!isMax) {
          emitPart(w, vec4<u32>(0u, 0xffffffffu, r), lid);
          stage = ST_DONE;
        } else if (!boundOn) {
          emitPart(w, vec4<u32>(r, 1u, 0u), lid);
          stage = ST_DONE;
        }
      } else if (!isMax || greedy) {
        emit(row, r.y, lid);
        stage = ST_DONE;
      }
      if (stage != ST_DONE) {
        fMaxKey = r.x;
        fMax = valueOf(r.x);
        let post = workgroupUniformLoad(&sCache);
        if (boundOn && post.valid == 0u) {
          // The k-th largest per-thread max bounds the k-th largest key from below: select it
          // over the maxima (a stand-in cache of WG entries), then cache every key above it.
          cKey[lid] = tMaxKey;
          cIdx[lid] = tMaxIdx;
          if (lid == 0u) { sCache = CacheState(1u, 0u, WG); }
          stage = ST_BOUND;
          nAtLeast = WG;
        } else {
          stage = select(ST_TOPP, ST_TOPK, kOn);
          nAtLeast = min(V, select(V, post.n, post.valid != 0u));
        }
        selFloor = 1u;
        level = 0u;
        prefix = 0u;
        tgt = vec2<u32>(topK, 0u);
        cntAboveAcc = 0u;
      }
    }
  }
}
