// Order-preserving key of an f32: larger value -> larger key; NaN -> 0 (below -inf); -0 -> +0.
// Maxima and thresholds over keys are exact integer operations. Included by argmax, sample.
fn keyOf(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0u; }
  if (b == 0x80000000u) { return 0x80000000u; }
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
