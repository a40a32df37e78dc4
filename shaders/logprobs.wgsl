// logprobs: per row, log_softmax of f32 logits at the sampled token and the K most likely tokens
// (ids and logprobs, largest first, ties to the lower id), K <= 20.
// Bindings: 0 logits [numSeqs, V] f32  1 sampled [numSeqs] u32 (token ids)
//   2 outLp [numSeqs, 1 + K] f32 (the sampled token's logprob, then the top K)
//   3 outIds [numSeqs, max(K, 1)] u32 (top K ids; 0xffffffff where a row has fewer non-NaN logits)  4 params
// Maths: m = max (an exact argmax over keys), s = sum over i of exp(l_i - m) (f32; per thread in index order, then a fixed
//   tree over threads), lse = m + log(s), logprob_i = l_i - lse. NaN logits are never top tokens
//   and are skipped in m and s. Selection is on order-preserving keys (float_key): exact.
// Top K: each thread keeps its own K best (key, id) in a sorted private list while it reads its
//   strided elements; then K rounds of a workgroup argmax over the threads' heads, the winner
//   thread popping its head. Everything is per row: a row's results never depend on the batch
//   or on K (the top list for K is a prefix of the list for any larger K).
// Workgroup: WG threads (override, default 256, a power of two); thread lid reads elements
//   lid, lid + WG, ... of its row.
// Dispatch: grid(numSeqs), row = wid.x + wid.y * nwg.x.
enable subgroups;

struct Params { V: u32, numSeqs: u32, K: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> sampled: array<u32>;
@group(0) @binding(2) var<storage, read_write> outLp: array<f32>;
@group(0) @binding(3) var<storage, read_write> outIds: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 256;
const KMAX: u32 = 20u;

var<workgroup> red: array<f32, WG>;
//#include workgroup_argmax
//#include float_key

fn valueOf(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}

// Sum over the workgroup by a fixed tree over red[0..WG); every thread gets the total.
fn workgroupSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

// Resets the workgroup argmax's accumulators (before every workgroupArgmax call).
fn resetArgmax(lid: u32) {
  if (lid == 0u) {
    atomicStore(&wKey, 0u);
    atomicStore(&wIdx, 0xffffffffu);
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.numSeqs) { return; }
  let V = p.V;
  let K = p.K;
  let base = row * V;
  var tKey: array<u32, KMAX>;
  var tIdx: array<u32, KMAX>;
  var tN = 0u;
  var mk = 0u; // this thread's largest key
  for (var i = lid; i < V; i += WG) {
    let x = logits[base + i];
    let key = keyOf(x);
    if (key == 0u) { continue; }
    mk = max(mk, key);
    // Insert into this thread's sorted top-K list (largest first; equal keys keep index order).
    if (K > 0u && (tN < K || key > tKey[K - 1u])) {
      var j = min(tN, K - 1u);
      if (tN < K) { tN++; }
      while (j > 0u && tKey[j - 1u] < key) {
        tKey[j] = tKey[j - 1u];
        tIdx[j] = tIdx[j - 1u];
        j--;
      }
      tKey[j] = key;
      tIdx[j] = i;
    }
  }
  resetArgmax(lid);
  let mx = valueOf(workgroupArgmax(mk, 0u).x);
  var s = 0.0;
  for (var i = lid; i < V; i += WG) {
    let x = logits[base + i];
    if (keyOf(x) != 0u) { s += exp(x - mx); }
  }
  let lse = mx + log(workgroupSum(s, lid));
  let ob = row * (1u + K);
  if (lid == 0u) { outLp[ob] = logits[base + sampled[row]] - lse; }
  var head = 0u;
  for (var r = 0u; r < K; r++) {
    resetArgmax(lid);
    let mine = head < tN;
    // Lower index first among equal keys: the argmax takes the lowest idx at the top key.
    let w = workgroupArgmax(select(0u, tKey[min(head, KMAX - 1u)], mine), select(0xffffffffu, tIdx[min(head, KMAX - 1u)], mine));
    if (mine && w.x != 0u && tIdx[head] == w.y) { head++; }
    if (lid == 0u) {
      outIds[row * max(K, 1u) + r] = select(0xffffffffu, w.y, w.x != 0u);
      outLp[ob + 1u + r] = select(0.0, valueOf(w.x) - lse, w.x != 0u);
    }
    workgroupBarrier();
  }
}
