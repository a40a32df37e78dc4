// split_qkv: copies the fused q/k/v projection (one linear with the q, k and v weights stacked) into
// three contiguous tensors, the layout rotary, the KV cache and attention read.
// Bindings: 0 qkv: array<u32> [T, qWords + 2·kvWords] (2 f16 per word)   1 q: array<u32> [T, qWords]
//           2 k: array<u32> [T, kvWords]   3 v: array<u32> [T, kvWords]   4 params
// Layout:   row t of qkv = q row t, then k row t, then v row t (words = dims / 2; dims are even).
// Workgroup: WG threads (override, default 256); thread g copies word g % rowWords of row g / rowWords.
// Dispatch: grid(ceil(T · rowWords / WG)), linearised as wid.x + wid.y * nwg.x.

struct Params { numTokens: u32, qWords: u32, kvWords: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<u32>;
@group(0) @binding(1) var<storage, read_write> q: array<u32>;
@group(0) @binding(2) var<storage, read_write> k: array<u32>;
@group(0) @binding(3) var<storage, read_write> v: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let rowWords = p.qWords + 2u * p.kvWords;
  let g = (wid.x + wid.y * nwg.x) * WG + lid;
  if (g >= p.numTokens * rowWords) { return; }
  let t = g / rowWords;
  let c = g % rowWords;
  let x = qkv[g];
  if (c < p.qWords) {
    q[t * p.qWords + c] = x;
  } else if (c < p.qWords + p.kvWords) {
    k[t * p.kvWords + c - p.qWords] = x;
  } else {
    v[t * p.kvWords + c - p.qWords - p.kvWords] = x;
  }
}
