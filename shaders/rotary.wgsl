// rotary: rotary position embedding applied in place to q and k, computed in f32, rounded once.
// Each pair (x0, x1) of head dims with frequency index f at position pos becomes
//   x0' = x0 * cos - x1 * sin,  x1' = x1 * cos + x0 * sin,  cos/sin = cosSin[pos, f] / [pos, rd/2 + f].
//   NEOX: pairs (f, f + rd/2) (rotate_half).  GPTJ: pairs (2f, 2f + 1) (interleaved).
//   Dims >= rotaryDim (rd) are left untouched; tokens whose position >= maxPositions too.
// Bindings: 0 q: array<E> [T, Hq, D] (read_write)  1 k: array<E> [T, Hk, D] (read_write)
//           2 positions: array<u32> [T]  3 cosSin: array<CS> [maxPositions, rd] f32  4 params
// Layout:   (element type and rotation: lib/rotary_pair)
//           PACKED (rd % 4 == 0, D even): E = u32 holding 2 halves, CS = vec2f; a thread rotates
//           the two pairs of frequencies 2j, 2j + 1 (j < rd/4) with two 4-byte loads and stores.
//           Otherwise E = f16, CS = f32 and a thread rotates the one pair of frequency j < rd/2.
//           p.itemsPerHead = rd/4 (PACKED) or rd/2; p.headWords = D/2 (PACKED) or D.
// Workgroup: WG threads (override); thread g handles item j of head h (q heads, then k heads)
//           of token t, g = (t * (Hq + Hk) + h) * itemsPerHead + j.
// Dispatch: grid(ceil(T * (Hq + Hk) * itemsPerHead / WG)), linearised as wid.x + wid.y * nwg.x.
enable f16;

//#include rotary_pair

struct Params { numTokens: u32, numQHeads: u32, numKHeads: u32, headWords: u32, itemsPerHead: u32, maxPositions: u32 }

@group(0) @binding(0) var<storage, read_write> q: array<E>;
@group(0) @binding(1) var<storage, read_write> k: array<E>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> cosSin: array<CS>;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 128;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = (wid.x + wid.y * nwg.x) * WG + lid;
  let heads = p.numQHeads + p.numKHeads;
  let itemsPerToken = heads * p.itemsPerHead;
  let t = g / itemsPerToken;
  if (t >= p.numTokens) { return; }
  let r = g - t * itemsPerToken;
  let h = r / p.itemsPerHead;
  let j = r - h * p.itemsPerHead;
  let pos = positions[t];
  if (pos >= p.maxPositions) { return; }
  let row = pos * 2u * p.itemsPerHead;
  let c = cosSin[row + j];
  let s = cosSin[row + p.itemsPerHead + j];
  if (h < p.numQHeads) {
    let w = pairWords((t * p.numQHeads + h) * p.headWords, j, p.itemsPerHead);
    let o = rotate(q[w.x], q[w.y], c, s);
    q[w.x] = o[0];
    q[w.y] = o[1];
  } else {
    let w = pairWords((t * p.numKHeads + h - p.numQHeads) * p.headWords, j, p.itemsPerHead);
    let o = rotate(k[w.x], k[w.y], c, s);
    k[w.x] = o[0];
    k[w.y] = o[1];
  }
}
