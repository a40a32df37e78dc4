// penalties: vLLM's repetition, frequency and presence penalties applied in place to f32 logits,
// one workgroup per row, touching only the tokens the row's request has seen.
// Bindings: 0 logits [numSeqs, V] f32 (read_write)  1 rp [numSeqs, 8] u32 (packPenaltyRows)
//   2 entries [numEntries] vec2<u32> (token id, outputCount << 1 | inPrompt)  3 params
// rp row: [0] first entry, [1] end entry (exclusive), [2] presence f32 bits, [3] frequency f32
//   bits, [4] repetition f32 bits, [5..7] unused. A row's entries name distinct tokens.
// Per entry (token t, output count c, prompt flag q), in this order (as vLLM's apply_penalties):
//   if (q or c > 0) and repetition != 1: l = l > 0 ? l / repetition : l * repetition
//   l = l - frequency * f32(c);  if c > 0: l = l - presence
// Only the row's own entries are read or written, so a row's result never depends on the batch.
// Workgroup: WG threads (override, default 64); thread lid handles entries first + lid, + WG, ...
// Dispatch: grid(numSeqs), row = wid.x + wid.y * nwg.x.

struct Params { V: u32, numSeqs: u32 }

@group(0) @binding(0) var<storage, read_write> logits: array<f32>;
@group(0) @binding(1) var<storage, read> rp: array<u32>;
@group(0) @binding(2) var<storage, read> entries: array<vec2<u32>>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.numSeqs) { return; }
  let b = row * 8u;
  let first = rp[b];
  let end = rp[b + 1u];
  let presence = bitcast<f32>(rp[b + 2u]);
  let frequency = bitcast<f32>(rp[b + 3u]);
  let repetition = bitcast<f32>(rp[b + 4u]);
  for (var e = first + lid; e < end; e += WG) {
    let en = entries[e];
    let c = en.y >> 1u;
    let seen = c > 0u || (en.y & 1u) != 0u;
    let i = row * p.V + en.x;
    var l = logits[i];
    if (seen && repetition != 1.0) { l = select(l * repetition, l / repetition, l > 0.0); }
    l = l - frequency * f32(c);
    if (c > 0u) { l = l - presence; }
    logits[i] = l;
  }
}
