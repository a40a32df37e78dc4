// rotary: rotary position embedding applied in place to q and k, computed in f32, rounded once.
// Each pair (x0, x1) of head dims with frequency index f at position pos becomes
//   x0' = x0 * cos - x1 * sin,  x1' = x1 * cos + x0 * sin,  cos/sin = cosSin[pos, f] / [pos, rd/2 + f].
//   NEOX: pairs (f, f + rd/2) (rotate_half).  GPTJ: pairs (2f, 2f + 1) (interleaved).
//   Dims >= rotaryDim (rd) are left untouched; tokens whose position >= maxPositions too.
// Bindings: 0 q: array<E> [T, Hq, D] (read_write)  1 k: array<E> [T, Hk, D] (read_write)
//           2 positions: array<u32> [T]  3 cosSin: array<CS> [maxPositions, rd] f32  4 params
// Layout:   PACKED (rd % 4 == 0, D even): E = u32 holding 2 halves, CS = vec2f; a thread rotates
//           the two pairs of frequencies 2j, 2j + 1 (j < rd/4) with two 4-byte loads and stores.
//           Otherwise E = f16, CS = f32 and a thread rotates the one pair of frequency j < rd/2.
//           p.itemsPerHead = rd/4 (PACKED) or rd/2; p.headWords = D/2 (PACKED) or D.
// Workgroup: WG threads (override); thread g handles item j of head h (q heads, then k heads)
//           of token t, g = (t * (Hq + Hk) + h) * itemsPerHead + j.
// Dispatch: grid(ceil(T * (Hq + Hk) * itemsPerHead / WG)), linearised as wid.x + wid.y * nwg.x.
enable f16;

//#if PACKED
alias E = u32;
alias CS = vec2f;
fn unpack(e: E) -> vec2f { return vec2f(bitcast<vec2<f16>>(e)); }
fn pack(v: vec2f) -> E { return bitcast<u32>(vec2<f16>(v)); }
//#else
alias E = f16;
alias CS = f32;
fn unpack(e: E) -> f32 { return f32(e); }
fn pack(v: f32) -> E { return f16(v); }
//#endif

struct Params { numTokens: u32, numQHeads: u32, numKHeads: u32, headWords: u32, itemsPerHead: u32, maxPositions: u32 }

@group(0) @binding(0) var<storage, read_write> q: array<E>;
@group(0) @binding(1) var<storage, read_write> k: array<E>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> cosSin: array<CS>;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 128;

// The rotated (e0, e1): the words holding the pairs' first and second elements (NEOX, or any
// unpacked style) or, PACKED GPTJ, the words (x0, x1) and (x2, x3) of two adjacent pairs.
fn rotate(e0: E, e1: E, c: CS, s: CS) -> array<E, 2> {
//#if PACKED
//#if GPTJ
  let u = unpack(e0);
  let v = unpack(e1);
  let a = vec2f(u.x, v.x);
  let b = vec2f(u.y, v.y);
  let ra = a * c - b * s;
  let rb = b * c + a * s;
  return array<E, 2>(pack(vec2f(ra.x, rb.x)), pack(vec2f(ra.y, rb.y)));
//#else
  let a = unpack(e0);
  let b = unpack(e1);
  return array<E, 2>(pack(a * c - b * s), pack(b * c + a * s));
//#endif
//#else
  let a = unpack(e0);
  let b = unpack(e1);
  return array<E, 2>(pack(a * c - b * s), pack(b * c + a * s));
//#endif
}

// Word indices of item j in a head starting at word `base`.
fn pairWords(base: u32, j: u32) -> vec2u {
//#if GPTJ
  return vec2u(base + 2u * j, base + 2u * j + 1u);
//#else
  return vec2u(base + j, base + j + p.itemsPerHead);
//#endif
}

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
    let w = pairWords((t * p.numQHeads + h) * p.headWords, j);
    let o = rotate(q[w.x], q[w.y], c, s);
    q[w.x] = o[0];
    q[w.y] = o[1];
  } else {
    let w = pairWords((t * p.numKHeads + h - p.numQHeads) * p.headWords, j);
    let o = rotate(k[w.x], k[w.y], c, s);
    k[w.x] = o[0];
    k[w.y] = o[1];
  }
}
