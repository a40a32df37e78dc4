// The dequantization arithmetic of every quantized weight read (lib/quant_weight, quant_linear_gemv):
// a weight is f16((q − z)·s), the exact product rounded once to f16. One place, so every kernel multiplies
// x by the same f16 values (the bits of the f16 plan on those values).
// Defines: Q4 (8 nibbles per u32, little end first) else 8-bit (4 bytes per u32); SIGNED: two's-complement
// bytes. QWord: the packed word(s) of one 8-k chunk (Q4: u32, else vec2<u32>). Q_ZERO: the implied zero
// point without stored zeros (8 for int4, 0 for int8).
//#if Q4
alias QWord = u32;
const Q_ZERO = 8.0h;
const Q_BIAS = 1024.0h;
//#else
alias QWord = vec2<u32>;
const Q_ZERO = 0.0h;
//#if SIGNED
const Q_BIAS = 1152.0h;         // 1024 + 128: the XORed bytes hold q + 128
const Q_FLIP = 0x80808080u;
//#else
const Q_BIAS = 1024.0h;
const Q_FLIP = 0u;
//#endif
//#endif

// Four stored integers (bytes of v at shifts sh, masked) as f32: signed bytes for SIGNED.
fn qBytes(v: u32, sh: vec4<u32>, mask: u32) -> vec4<f32> {
//#if SIGNED
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(v) << (vec4<u32>(24u) - sh)) >> vec4<u32>(24u));
//#else
  return vec4<f32>((vec4<u32>(v) >> sh) & vec4<u32>(mask));
//#endif
}

// The 8 weights of one chunk v with zero z and scale s, as 8 f16 in k order (4 u32 of f16 pairs), in f16
// arithmetic with no conversions (the "magic number" of Marlin-style kernels): each stored integer q is
// ORed into the mantissa of 1024.0h (0x6400), which holds 1024 + q exactly (q < 1024); minus 1024 + z
// (exact: integer z < 1024) gives q − z exactly; times s rounds the exact product once to f16, which is
// f16((q − z)·s) of the f32 formula (that product is exact in f32). SIGNED bytes, XORed with 0x80, hold
// q + 128: their bias is 1152. Pairs are made as (k j, k j + 4) (Q4) or (k j, k j + 2) (8-bit), two f16
// lanes at a time, then interleaved into k order.
fn qPair(m: u32, zz: vec2<f16>, ss: vec2<f16>) -> vec2<f16> { return (bitcast<vec2<f16>>(m | 0x64006400u) - zz) * ss; }
fn qPack(a: f16, b: f16) -> u32 { return bitcast<u32>(vec2<f16>(a, b)); }

fn qDeq(v: QWord, z: f16, s: f16) -> vec4<u32> {
  let zz = vec2<f16>(Q_BIAS + z);
  let ss = vec2<f16>(s);
//#if Q4
  // nibble i at bit 4i is k = i: m.j holds nibbles j (low half) and j + 4 (high half)
  let m = (vec4<u32>(v) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(0x000F000Fu);
  let p0 = qPair(m.x, zz, ss);   // k 0, 4
  let p1 = qPair(m.y, zz, ss);   // k 1, 5
  let p2 = qPair(m.z, zz, ss);   // k 2, 6
  let p3 = qPair(m.w, zz, ss);   // k 3, 7
  return vec4<u32>(qPack(p0.x, p1.x), qPack(p2.x, p3.x), qPack(p0.y, p1.y), qPack(p2.y, p3.y));
//#else
  // byte i of word j is k = 4j + i: shifts 0 and 8 give bytes (0, 2) and (1, 3) of each word
  let w = v ^ vec2<u32>(Q_FLIP);
  let m = (vec4<u32>(w.x, w.x, w.y, w.y) >> vec4<u32>(0u, 8u, 0u, 8u)) & vec4<u32>(0x00FF00FFu);
  let p0 = qPair(m.x, zz, ss);   // k 0, 2
  let p1 = qPair(m.y, zz, ss);   // k 1, 3
  let p2 = qPair(m.z, zz, ss);   // k 4, 6
  let p3 = qPair(m.w, zz, ss);   // k 5, 7
  return vec4<u32>(qPack(p0.x, p1.x), qPack(p0.y, p1.y), qPack(p2.x, p3.x), qPack(p2.y, p3.y));
//#endif
}
