// fold_in: the input of an elementwise epilogue (rms_norm FUSED_ADD, silu_and_mul) when it is a tensor-core
// linear's per-segment partial sums (FOLD) instead of its f16 output: foldWord(w, cw) is word w of the
// linear's output [M, N] (W: 8 halves, VEC8) exactly as linear_fold would have written it,
//   f16(((0 + p_0) + p_1) + … + p_{numSeg-1} + bias), bias word cw (FOLD_BIAS),
// so a fused epilogue gives the bits of linear + linear_fold + the epilogue (the fold moves, the order does not).
// The including shader includes vec8 first, declares `part` (array<PW>: [numSeg, rows, N] f32, read as
// vec4<f32>) and, with FOLD_BIAS, `fbias` (array<W>: [N] f16), and Params fields foldSegs, foldStride
// (elements of PW between two segments' partials) and foldZero (0).
// VEC8 only (the wrappers check N % 8 == 0; every tensor-core linear with partial sums has N % 16 == 0).
alias PW = vec4<f32>;
fn foldWord(w: u32, cw: u32) -> W {
  var a = vec4f(0.0);
  var b = vec4f(0.0);
  for (var s = 0u; s < p.foldSegs; s++) {
    let o = s * p.foldStride + 2u * w;
    a += part[o];
    b += part[o + 1u];
  }
//#if FOLD_BIAS
  let bw = fbias[cw];
  a += vec4f(lo(bw));
  b += vec4f(hi(bw));
//#endif
  // XOR with a uniform zero: lavapipe folds f32(f16(v)) back to v (docs/KERNELS.md), which would skip the
  // rounding where an epilogue widens the value again (silu); an opaque integer step keeps it.
  return pack(vec4<f16>(a), vec4<f16>(b)) ^ vec4<u32>(p.foldZero);
}
