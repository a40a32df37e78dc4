// Global → workgroup staging of the block and stream linear kernels: xAt / wAt read one vec4 (8 f16) of
// a row of x or w, putA / putB store 8 f16 into As / Bs. The including shader declares x, w (as
// array<vec4<u32>>), As, Bs (f16) and Params (M, N, K); under QUANT lib/quant_weight's wAt (dequantized
// from the packed weight) stands in for w's.
// One vec4 (8 f16) of x row r or w row r at k-vector kc. Rows past M (N) read row M-1 (N-1) instead:
// they only feed outputs that are never stored, and the loads stay unconditional (bounds checks around
// them cost 24% at 4096³, bench/probes/sgmat_ceiling.ts). x's rows past M then become zeros (a select
// after the load): the tensor cores' power, hence the clock, depends on the data they multiply, and a
// decode tile of 16 or 64 rows is mostly padding.
fn xAt(r: u32, kc: u32) -> vec4<u32> { return select(x[min(r, p.M - 1u) * (p.K / 8u) + kc], vec4<u32>(), r >= p.M); }
//#if !QUANT
fn wAt(r: u32, kc: u32) -> vec4<u32> { return w[min(r, p.N - 1u) * (p.K / 8u) + kc]; }
//#endif

// 8 f16 into workgroup memory at o.
fn putA(o: u32, v: vec4<u32>) {
  let h0 = bitcast<vec2<f16>>(v.x); let h1 = bitcast<vec2<f16>>(v.y);
  let h2 = bitcast<vec2<f16>>(v.z); let h3 = bitcast<vec2<f16>>(v.w);
  As[o] = h0.x; As[o + 1u] = h0.y; As[o + 2u] = h1.x; As[o + 3u] = h1.y;
  As[o + 4u] = h2.x; As[o + 5u] = h2.y; As[o + 6u] = h3.x; As[o + 7u] = h3.y;
}
fn putB(o: u32, v: vec4<u32>) {
  let h0 = bitcast<vec2<f16>>(v.x); let h1 = bitcast<vec2<f16>>(v.y);
  let h2 = bitcast<vec2<f16>>(v.z); let h3 = bitcast<vec2<f16>>(v.w);
  Bs[o] = h0.x; Bs[o + 1u] = h0.y; Bs[o + 2u] = h1.x; Bs[o + 3u] = h1.y;
  Bs[o + 4u] = h2.x; Bs[o + 5u] = h2.y; Bs[o + 6u] = h3.x; Bs[o + 7u] = h3.y;
}
