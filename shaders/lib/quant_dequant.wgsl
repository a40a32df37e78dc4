// The dequantization arithmetic of every quantized weight read (lib/quant_weight, quant_linear_stream):
// a weight is f16((q − z)·s), (q − z)·s computed in f32 (exact) and rounded once to f16. One place, so
// every kernel multiplies x by the same f16 values (the bits of the f16 plan on those values).
// Defines: Q4 (8 nibbles per u32, little end first) else 8-bit (4 bytes per u32); SIGNED: two's-complement
// bytes. QWord: the packed word(s) of one 8-k chunk (Q4: u32, else vec2<u32>). Q_ZERO: the implied zero
// point without stored zeros (8 for int4, 0 for int8).
//#if Q4
alias QWord = u32;
const Q_ZERO = 8.0h;
//#else
alias QWord = vec2<u32>;
const Q_ZERO = 0.0h;
//#endif

// Four stored integers (bytes of v at shifts sh, masked) as f32: signed bytes for SIGNED.
fn qBytes(v: u32, sh: vec4<u32>, mask: u32) -> vec4<f32> {
//#if SIGNED
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(v) << (vec4<u32>(24u) - sh)) >> vec4<u32>(24u));
//#else
  return vec4<f32>((vec4<u32>(v) >> sh) & vec4<u32>(mask));
//#endif
}

// f16((q − z)·s) of two vec4 (elements a.i, b.i alternate: a holds the even k, b the odd k) packed as
// 4 u32 of f16 pairs (k order).
fn qPackPairs(a: vec4<f32>, b: vec4<f32>, z: f32, s: f32) -> vec4<u32> {
  let ha = vec4<f16>((a - z) * s);
  let hb = vec4<f16>((b - z) * s);
  return vec4<u32>(bitcast<u32>(vec2<f16>(ha.x, hb.x)), bitcast<u32>(vec2<f16>(ha.y, hb.y)),
                   bitcast<u32>(vec2<f16>(ha.z, hb.z)), bitcast<u32>(vec2<f16>(ha.w, hb.w)));
}

// The 8 weights of one chunk v with zero z and scale s, as 8 f16 in k order (4 u32 of f16 pairs).
fn qDeq(v: QWord, z: f32, s: f32) -> vec4<u32> {
//#if Q4
  // nibble i at bit 4i: even k in bytes' low nibbles, odd k in their high nibbles
  return qPackPairs(qBytes(v, vec4<u32>(0u, 8u, 16u, 24u), 15u), qBytes(v, vec4<u32>(4u, 12u, 20u, 28u), 15u), z, s);
//#else
  // byte i of word j = element 4j + i: even k are bytes 0, 2 of each word, odd k bytes 1, 3
  let e = vec4<u32>(0u, 16u, 0u, 16u);
  let o = vec4<u32>(8u, 24u, 8u, 24u);
  let lo = qBytes(v.x, e, 255u);
  let hi = qBytes(v.y, e, 255u);
  let lo1 = qBytes(v.x, o, 255u);
  let hi1 = qBytes(v.y, o, 255u);
  return qPackPairs(vec4<f32>(lo.xy, hi.xy), vec4<f32>(lo1.xy, hi1.xy), z, s);
//#endif
}
