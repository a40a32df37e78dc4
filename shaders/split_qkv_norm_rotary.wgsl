// split_qkv_norm_rotary: for models with per-head q/k norms (Qwen3, Gemma 3: q_norm, k_norm), split_qkv,
// the RMSNorm of each q and k head, NeoX rotary and (CACHE) the KV cache write in one pass: what
// split_qkv → rms_norm (q, k viewed as [T·H, D]) → rotary → reshape_and_cache compute in turn, rounded
// as they round (rms_norm: n = f16(x · inverseSqrt(mean(x²) + eps)), y = f16(w · n); rotary:
// f16(a·c − b·s), f16(b·c + a·s) of the normed pair). Only the sum of squares may differ in its last
// bit: it is reduced in this kernel's own fixed order.
// Bindings: 0 qkv: array<f16> [T, (Hq + 2·Hk)·D] (row t = q heads, k heads, v heads)
//           1 qNorm, 2 kNorm: array<f16> [D] (Gemma: 1 + weight, as loaded)
//           3 q: [T, Hq, D]   4 k, 5 v: [T, Hk, D]   6 positions: array<u32> [T]
//           7 cosSin: array<f32> [maxPositions, R] (row p: cos then sin of p·invFreq[0..R/2))
//           CACHE: 8 slotMapping: array<u32> [numCacheRows] (0xFFFFFFFF or >= numSlots: skip)
//                  9 kCache, 10 vCache: array<f16> [numBlocks, Hk, 16, D]
//           then params (8, or 11 with CACHE)
// Workgroup: WG threads (override, a power of two) per (token, head): heads [0, Hq) of q, then k, then v.
//           Thread lid handles dims lid, lid + WG, ...; the sum of squares is reduced through workgroup
//           memory in a fixed tree (the order depends on D and WG only: batch invariant); the normed
//           head waits in workgroup memory for each dim's rotation partner (dims >= R are copied). A v head
//           is copied. A token at or past maxPositions is left unrotated (as rotary leaves it).
// Dispatch: grid(T · (Hq + 2·Hk)), linearised as wid.x + wid.y * nwg.x.
enable f16;

struct Params {
  numTokens: u32,
  numQHeads: u32,
  numKvHeads: u32,
  headDim: u32,
  rotaryDim: u32,
  maxPositions: u32,
  numCacheRows: u32,
  numSlots: u32,
  eps: f32,
}

@group(0) @binding(0) var<storage, read> qkv: array<f16>;
@group(0) @binding(1) var<storage, read> qNorm: array<f16>;
@group(0) @binding(2) var<storage, read> kNorm: array<f16>;
@group(0) @binding(3) var<storage, read_write> q: array<f16>;
@group(0) @binding(4) var<storage, read_write> k: array<f16>;
@group(0) @binding(5) var<storage, read_write> v: array<f16>;
@group(0) @binding(6) var<storage, read> positions: array<u32>;
@group(0) @binding(7) var<storage, read> cosSin: array<f32>;
//#if CACHE
@group(0) @binding(8) var<storage, read> slotMapping: array<u32>;
@group(0) @binding(9) var<storage, read_write> kCache: array<f16>;
@group(0) @binding(10) var<storage, read_write> vCache: array<f16>;
@group(0) @binding(11) var<uniform> p: Params;
//#else
@group(0) @binding(8) var<uniform> p: Params;
//#endif

override WG: u32 = 64;
const MAX_D = 256u;
const BLOCK_SIZE = 16u;
const NO_SLOT = 0xffffffffu;

var<workgroup> red: array<f32, WG>;
var<workgroup> normed: array<f16, MAX_D>;

// Writes dim d of kv head `kv` of token t: into k or v and, with CACHE, at cacheBase in the cache.
fn storeKv(isK: bool, t: u32, kv: u32, d: u32, e: f16, cacheBase: u32) {
  let dst = (t * p.numKvHeads + kv) * p.headDim + d;
  if (isK) { k[dst] = e; } else { v[dst] = e; }
//#if CACHE
  if (cacheBase != NO_SLOT) {
    let c = cacheBase + kv * BLOCK_SIZE * p.headDim + d;
    if (isK) { kCache[c] = e; } else { vCache[c] = e; }
  }
//#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let heads = p.numQHeads + 2u * p.numKvHeads;
  let g = wid.x + wid.y * nwg.x;
  let t = g / heads;
  if (t >= p.numTokens) { return; }
  let h = g - t * heads;
  let D = p.headDim;
  let src = (t * heads + h) * D;
  let isQ = h < p.numQHeads;
  let isK = !isQ && h < p.numQHeads + p.numKvHeads;
  let kv = select(h - p.numQHeads - p.numKvHeads, h - p.numQHeads, isK); // unused for q heads
  // Where this token's k/v rows go in the cache: word 0 of kv head 0 of its slot (else none).
  var cacheBase = NO_SLOT;
//#if CACHE
  if (!isQ && t < p.numCacheRows) {
    let slot = slotMapping[t];
    if (slot < p.numSlots) { cacheBase = ((slot / BLOCK_SIZE) * p.numKvHeads * BLOCK_SIZE + slot % BLOCK_SIZE) * D; }
  }
//#endif
  if (!isQ && !isK) {
    for (var d = lid; d < D; d += WG) { storeKv(false, t, kv, d, qkv[src + d], cacheBase); }
    return;
  }

  // RMSNorm of the head (every invocation of the workgroup takes this branch: h is per workgroup).
  var ss = 0.0;
  for (var d = lid; d < D; d += WG) {
    let x = f32(qkv[src + d]);
    ss += x * x;
  }
  red[lid] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let inv = inverseSqrt(red[0] / f32(D) + p.eps);
  for (var d = lid; d < D; d += WG) {
    let n = f16(f32(qkv[src + d]) * inv);
    normed[d] = select(kNorm[d], qNorm[d], isQ) * n; // f16 product: one rounding, as f16(f32(w) · f32(n))
  }
  workgroupBarrier();

  // NeoX rotation of dims [0, R): pairs (f, f + R/2); dims >= R are copied.
  let pos = positions[t];
  let half = p.rotaryDim / 2u;
  let row = pos * p.rotaryDim;
  for (var d = lid; d < D; d += WG) {
    var o = normed[d];
    if (d < p.rotaryDim && pos < p.maxPositions) {
      let f = d % half;
      let c = cosSin[row + f];
      let s = cosSin[row + half + f];
      let a = f32(normed[f]);
      let b = f32(normed[f + half]);
      o = select(f16(b * c + a * s), f16(a * c - b * s), d < half);
    }
    if (isQ) { q[(t * p.numQHeads + h) * D + d] = o; } else { storeKv(true, t, kv, d, o, cacheBase); }
  }
}
