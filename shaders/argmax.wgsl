// argmax: out[row] = index of the largest logit of the row; ties -> lowest index; NaN never wins
// (an all-NaN row gives 0). Exact (an integer max over order-preserving keys), so the result
// does not depend on how a row is split between workgroups: batch invariant by construction.
// Bindings:
//   plain:    0 logits [numSeqs, V] (f32 or f16)  1 out [numSeqs] u32                 2 params
//   SPLIT:    0 logits                            1 part [numSeqs, chunks, 2] u32 (key, index) 2 params
//   FINALIZE: 0 part [numSeqs, chunks, 2] u32     1 out [numSeqs] u32                 2 params
// Layout: row-major logits. VEC: 4 logits per load (vec4<f32>, or vec2<u32> = 4 halves; needs
//   V % 4 == 0); else one logit per load. p.chunkLen is a multiple of 4 elements.
// Workgroup: WG threads (override, a multiple of the subgroup size). Thread lid reads units
//   lid, lid + WG, ... of its chunk (coalesced); (key, index) pairs are reduced with
//   subgroupMax/subgroupMin and one workgroup atomic per subgroup.
// Dispatch: plain/SPLIT: grid(numSeqs * chunks) workgroups, w = wid.x + wid.y * nwg.x,
//   row = w / chunks, chunk = w % chunks (plain: chunks == 1). FINALIZE: grid(numSeqs).
enable f16;
enable subgroups;

struct Params { V: u32, numSeqs: u32, chunks: u32, chunkLen: u32 }

//#if FINALIZE
@group(0) @binding(0) var<storage, read> part: array<vec2<u32>>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
//#else
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
//#if SPLIT
@group(0) @binding(1) var<storage, read_write> part: array<vec2<u32>>;
//#else
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
//#endif
//#endif
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256;

//#include float_key
//#include workgroup_argmax

var<private> bestKey: u32 = 0u;
var<private> bestIdx: u32 = 0xffffffffu;

fn consider(key: u32, idx: u32) {
  if (key > bestKey || (key == bestKey && idx < bestIdx)) {
    bestKey = key;
    bestIdx = idx;
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) {
    atomicStore(&wKey, 0u);
    atomicStore(&wIdx, 0xffffffffu);
  }
  workgroupBarrier();
  let w = wid.x + wid.y * nwg.x;
//#if FINALIZE
  let row = w;
  if (row >= p.numSeqs) { return; }
  for (var c = lid; c < p.chunks; c += WG) {
    let e = part[row * p.chunks + c];
    consider(e.x, e.y);
  }
  let r = workgroupArgmax(bestKey, bestIdx);
  if (lid == 0u) { out[row] = select(r.y, 0u, r.y == 0xffffffffu); }
//#else
  let row = w / p.chunks;
  let chunk = w % p.chunks;
  if (row >= p.numSeqs) { return; }
  let start = chunk * p.chunkLen;
  let end = min(p.V, start + p.chunkLen);
//#if VEC
  let base = row * (p.V / 4u);
  for (var g = start / 4u + lid; g < end / 4u; g += WG) {
//#if F16
    let u = logits[base + g];
    let v = vec4<f32>(unpack2x16float(u.x), unpack2x16float(u.y));
//#else
    let v = logits[base + g];
//#endif
    consider(keyOf(v.x), 4u * g);
    consider(keyOf(v.y), 4u * g + 1u);
    consider(keyOf(v.z), 4u * g + 2u);
    consider(keyOf(v.w), 4u * g + 3u);
  }
//#else
  let base = row * p.V;
  for (var e = start + lid; e < end; e += WG) {
    consider(keyOf(f32(logits[base + e])), e);
  }
//#endif
  let r = workgroupArgmax(bestKey, bestIdx);
//#if SPLIT
  if (lid == 0u) { part[w] = r; }
//#else
  if (lid == 0u) { out[row] = select(r.y, 0u, r.y == 0xffffffffu); }
//#endif
//#endif
}
