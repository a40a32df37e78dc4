// Operand and output bindings of the W8A8 linear kernels (w8a8_linear_tiled, w8a8_linear_sgm) and their one
// epilogue, shared so that both round identically:
//   0 xq: [M, K/4] u32 (int8 × 4, kernels/quantize_rows_int8)   1 sx: [M] f32 (row scales)
//   2 wq: [N, K/4] u32 (the weight's int8 × 4: packed_weight's 8-bit symmetric layout)   3 sw: [N] f16 (channel scales)
//   BIAS: 4 bias: [N] f16, 5 out: [M, N] f16 (f32 with OUT_F32), 6 params; else 4 out, 5 params.
// out[r, c] = (f32(acc) · sx[r]) · sw[c], or fma(f32(acc) · sx[r], sw[c], bias[c]) (an explicit fma, so that
// no compiler contracts it differently in the two kernels); acc = Σ_k xq·wq is exact in i32, so every kernel
// and every M gives the same bits. The including shader declares `struct Params`.
//#if OUT_F32
alias OutT = f32;
//#else
alias OutT = f16;
//#endif
@group(0) @binding(0) var<storage, read> xq: array<u32>;
@group(0) @binding(1) var<storage, read> sx: array<f32>;
@group(0) @binding(2) var<storage, read> wq: array<u32>;
@group(0) @binding(3) var<storage, read> sw: array<f16>;
//#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<f16>;
@group(0) @binding(5) var<storage, read_write> out: array<OutT>;
@group(0) @binding(6) var<uniform> p: Params;
//#else
@group(0) @binding(4) var<storage, read_write> out: array<OutT>;
@group(0) @binding(5) var<uniform> p: Params;
//#endif

// Writes out[r, c] from its exact integer sum (r < M, c < N).
fn w8a8Store(acc: i32, r: u32, c: u32) {
  let t = f32(acc) * sx[r];
//#if BIAS
  let v = fma(t, f32(sw[c]), f32(bias[c]));
//#else
  let v = t * f32(sw[c]);
//#endif
  out[r * p.N + c] = OutT(v);
}

// Σ of the 4 products of two words of int8 × 4.
fn dot4(a: u32, b: u32) -> i32 {
//#if DOT4
  return dot4I8Packed(a, b);
//#else
  let x = bitcast<vec4<i32>>(vec4<u32>(a) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
  let y = bitcast<vec4<i32>>(vec4<u32>(b) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
  return x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
//#endif
}
