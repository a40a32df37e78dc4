// split_qkv_rotary: split_qkv, rotary and (CACHE) reshape_and_cache in one pass. Reads the fused
// q/k/v projection, writes q and k rotated and v copied into their own tensors and, with CACHE,
// k and v of rows t < numCacheRows into the paged KV cache at slot slotMapping[t]. Every value is
// the one the three kernels produce in turn (the rotation is lib/rotary_pair's, also rotary's).
// Bindings: 0 qkv: array<E> [T, (Hq + 2·Hk)·D] (row t = q heads, k heads, v heads of token t)
//           1 q: array<E> [T, Hq, D]   2 k: array<E> [T, Hk, D]   3 v: array<E> [T, Hk, D]
//           4 positions: array<u32> [T]   5 cosSin: array<CS> [maxPositions, rd] f32
//           CACHE: 6 slotMapping: array<u32> [numCacheRows] (0xFFFFFFFF or >= numSlots: skip)
//                  7 kCache, 8 vCache: array<E> [numBlocks, Hk, 16, D]
//           then params (6, or 9 with CACHE)
// Layout:   E/CS, PACKED and GPTJ as in rotary.wgsl (lib/rotary_pair); p.headWords = D/2 (PACKED) or D.
//           A head's items: p.itemsPerHead rotary items (2 words each: pairWords), then
//           p.tailWords single words (the dims >= rd, copied). q and k heads rotate their pairs
//           (unless the token's position >= maxPositions: copied as rotary leaves them); v heads
//           copy the same words.
// Workgroup: WG threads (override); thread g handles item j of head h (q, then k, then v heads) of
//           token t, g = (t * (Hq + 2·Hk) + h) * (itemsPerHead + tailWords) + j.
// Dispatch: grid(ceil(T * (Hq + 2·Hk) * (itemsPerHead + tailWords) / WG)), linearised as wid.x + wid.y * nwg.x.
enable f16;

//#include rotary_pair

struct Params {
  numTokens: u32,
  numQHeads: u32,
  numKvHeads: u32,
  headWords: u32,
  itemsPerHead: u32,
  tailWords: u32,
  maxPositions: u32,
  numCacheRows: u32,
  numSlots: u32,
}

@group(0) @binding(0) var<storage, read> qkv: array<E>;
@group(0) @binding(1) var<storage, read_write> q: array<E>;
@group(0) @binding(2) var<storage, read_write> k: array<E>;
@group(0) @binding(3) var<storage, read_write> v: array<E>;
@group(0) @binding(4) var<storage, read> positions: array<u32>;
@group(0) @binding(5) var<storage, read> cosSin: array<CS>;
//#if CACHE
@group(0) @binding(6) var<storage, read> slotMapping: array<u32>;
@group(0) @binding(7) var<storage, read_write> kCache: array<E>;
@group(0) @binding(8) var<storage, read_write> vCache: array<E>;
@group(0) @binding(9) var<uniform> p: Params;
//#else
@group(0) @binding(6) var<uniform> p: Params;
//#endif

override WG: u32 = 128;
const BLOCK_SIZE = 16u;

// Stores word `w` (offset in its head) of head kv of token t: into k or v and, with CACHE, the cache.
fn storeKv(isK: bool, t: u32, kv: u32, w: u32, e: E, cacheBase: u32) {
  let dst = (t * p.numKvHeads + kv) * p.headWords + w;
  if (isK) { k[dst] = e; } else { v[dst] = e; }
//#if CACHE
  if (cacheBase != 0xffffffffu) {
    let c = cacheBase + kv * BLOCK_SIZE * p.headWords + w;
    if (isK) { kCache[c] = e; } else { vCache[c] = e; }
  }
//#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = (wid.x + wid.y * nwg.x) * WG + lid;
  let heads = p.numQHeads + 2u * p.numKvHeads;
  let itemsPerHead = p.itemsPerHead + p.tailWords;
  let itemsPerToken = heads * itemsPerHead;
  let t = g / itemsPerToken;
  if (t >= p.numTokens) { return; }
  let r = g - t * itemsPerToken;
  let h = r / itemsPerHead;
  let j = r - h * itemsPerHead;
  let src = (t * heads + h) * p.headWords; // the head's first word in qkv
  // With CACHE, where this token's k/v rows go: word 0 of kv head 0 of its cache slot (else none).
  var cacheBase = 0xffffffffu;
//#if CACHE
  if (h >= p.numQHeads && t < p.numCacheRows) {
    let slot = slotMapping[t];
    if (slot < p.numSlots) {
      cacheBase = ((slot / BLOCK_SIZE) * p.numKvHeads * BLOCK_SIZE + slot % BLOCK_SIZE) * p.headWords;
    }
  }
//#endif
  let isQ = h < p.numQHeads;
  let isK = !isQ && h < p.numQHeads + p.numKvHeads;
  let kv = select(h - p.numQHeads - p.numKvHeads, h - p.numQHeads, isK); // unused for q heads
  if (j >= p.itemsPerHead) {
    // A dim past rotaryDim: copied.
    let w = 2u * p.itemsPerHead + j - p.itemsPerHead;
    let e = qkv[src + w];
    if (isQ) { q[(t * p.numQHeads + h) * p.headWords + w] = e; } else { storeKv(isK, t, kv, w, e, cacheBase); }
    return;
  }
  let w = pairWords(0u, j, p.itemsPerHead);
  var o = array<E, 2>(qkv[src + w.x], qkv[src + w.y]);
  let pos = positions[t];
  if (h < p.numQHeads + p.numKvHeads && pos < p.maxPositions) {
    let row = pos * 2u * p.itemsPerHead;
    o = rotate(o[0], o[1], cosSin[row + j], cosSin[row + p.itemsPerHead + j]);
  }
  if (isQ) {
    let dst = (t * p.numQHeads + h) * p.headWords;
    q[dst + w.x] = o[0];
    q[dst + w.y] = o[1];
  } else {
    storeKv(isK, t, kv, w.x, o[0], cacheBase);
    storeKv(isK, t, kv, w.y, o[1], cacheBase);
  }
}
