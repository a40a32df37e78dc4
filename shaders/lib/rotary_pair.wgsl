// rotary_pair: the element type and the rotation of one item of rotary position embedding, shared
// by rotary and split_qkv_rotary so that both round the same f32 expressions (same bits).
// Needs: defines PACKED, GPTJ (see rotary.wgsl); `enable f16;` in the including shader.
// Defines: E (u32 holding 2 halves with PACKED, else f16), CS (vec2f with PACKED, else f32),
//          unpack, pack, rotate(e0, e1, c, s) -> array<E, 2>, pairWords(base, j, itemsPerHead) -> vec2u.
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

// Word indices of item j in a head starting at word `base` (itemsPerHead: rotary items per head).
fn pairWords(base: u32, j: u32, itemsPerHead: u32) -> vec2u {
//#if GPTJ
  return vec2u(base + 2u * j, base + 2u * j + 1u);
//#else
  return vec2u(base + j, base + j + itemsPerHead);
//#endif
}
