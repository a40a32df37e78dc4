// reshape_and_cache: copies this step's keys and values into the paged KV cache.
// Bindings: 0 k:           array<vec4u> [T, numKvHeads, headDim] f16 (one vec4u = 8 halves)
//           1 v:           array<vec4u> [T, numKvHeads, headDim] f16
//           2 slotMapping: array<u32>   [T]; slot = block * 16 + offsetInBlock, 0xFFFFFFFF = skip
//           3 kCache:      array<vec4u> [numBlocks, numKvHeads, 16, headDim] f16
//           4 vCache:      array<vec4u> [numBlocks, numKvHeads, 16, headDim] f16
//           5 params
// Layout:   a (token, head) row of headDim halves goes to kCache[block, head, offsetInBlock, :].
//           Slots at or past numBlocks * 16 are skipped like 0xFFFFFFFF (never written).
// Workgroup: WG threads (override); each thread moves one 16-byte chunk of k and of v, so a
//           (token, head) row is read and written by headDim / 8 consecutive threads.
// Dispatch: grid(ceil(T * numKvHeads * headDim / 8 / WG)), linearised as wid.x + wid.y * nwg.x.

struct Params {
  numChunks: u32,     // T * numKvHeads * headDim / 8
  chunksPerToken: u32, // numKvHeads * headDim / 8
  chunksPerHead: u32,  // headDim / 8
  numSlots: u32,       // numBlocks * 16
}

@group(0) @binding(0) var<storage, read> k: array<vec4u>;
@group(0) @binding(1) var<storage, read> v: array<vec4u>;
@group(0) @binding(2) var<storage, read> slotMapping: array<u32>;
@group(0) @binding(3) var<storage, read_write> kCache: array<vec4u>;
@group(0) @binding(4) var<storage, read_write> vCache: array<vec4u>;
@group(0) @binding(5) var<uniform> p: Params;

override WG: u32 = 256;
const BLOCK_SIZE = 16u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.numChunks) { return; }
  let t = i / p.chunksPerToken;
  let slot = slotMapping[t];
  if (slot >= p.numSlots) { return; } // 0xFFFFFFFF (padding) or out of range
  let r = i - t * p.chunksPerToken; // head * chunksPerHead + chunk
  let head = r / p.chunksPerHead;
  let chunk = r - head * p.chunksPerHead;
  let block = slot / BLOCK_SIZE;
  let offset = slot % BLOCK_SIZE;
  let numKvHeads = p.chunksPerToken / p.chunksPerHead;
  let dst = ((block * numKvHeads + head) * BLOCK_SIZE + offset) * p.chunksPerHead + chunk;
  kCache[dst] = k[i];
  vCache[dst] = v[i];
}
