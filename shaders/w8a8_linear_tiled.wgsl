// w8a8_linear_tiled: out = (xq · wqᵀ) · sx · sw (+ bias) on plain ALUs: int8 activations (per-row scales)
// times int8 weights (per-channel scales), accumulated exactly in i32 (W8A8 where the device has no int8
// subgroup matrices, and for every M that the tensor-core kernel does not take: the bits are the same).
// Bindings: lib/w8a8_out (xq, sx, wq, sw, BIAS bias, out, params { M, N, K, tilesM }).
// Workgroup: 16 × 16 invocations, each owning a 2 × 2 micro-tile (rows ty + 16i, columns tx + 16j) of a
//   32 × 32 block; 16 words (64 k) of x and w staged per step in workgroup memory. DOT4: dot4I8Packed (the
//   packed_4x8_integer_dot_product language feature), else the bytes unpacked.
// Dispatch: grid(tilesM · tilesN), id = tileN · tilesM + tileM.
enable f16;
//#if DOT4
requires packed_4x8_integer_dot_product;
//#endif

struct Params { M: u32, N: u32, K: u32, tilesM: u32 }
//#include w8a8_out

const T = 16u;                  // invocations per side
const B = 32u;                  // block rows / columns
const KW = 16u;                 // words per step
var<workgroup> xs: array<u32, B * KW>;
var<workgroup> ws: array<u32, B * KW>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x + wid.y * nwg.x;
  let tilesN = (p.N + B - 1u) / B;
  if (t >= p.tilesM * tilesN) { return; }
  let m0 = (t % p.tilesM) * B;
  let n0 = (t / p.tilesM) * B;
  let tx = lid % T;
  let ty = lid / T;
  let words = p.K / 4u;
  var acc: array<array<i32, 2>, 2>;
  for (var k0 = 0u; k0 < words; k0 += KW) {
    for (var i = lid; i < B * KW; i += 256u) {
      let kw = k0 + i % KW;
      let r = min(m0 + i / KW, p.M - 1u);
      let c = min(n0 + i / KW, p.N - 1u);
      xs[i] = select(0u, xq[r * words + min(kw, words - 1u)], kw < words);
      ws[i] = select(0u, wq[c * words + min(kw, words - 1u)], kw < words);
    }
    workgroupBarrier();
    for (var kw = 0u; kw < KW; kw++) {
      let a0 = xs[ty * KW + kw];
      let a1 = xs[(ty + T) * KW + kw];
      let b0 = ws[tx * KW + kw];
      let b1 = ws[(tx + T) * KW + kw];
      acc[0][0] += dot4(a0, b0); acc[0][1] += dot4(a0, b1);
      acc[1][0] += dot4(a1, b0); acc[1][1] += dot4(a1, b1);
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 2u; i++) {
    for (var j = 0u; j < 2u; j++) {
      let r = m0 + ty + i * T;
      let c = n0 + tx + j * T;
      if (r < p.M && c < p.N) { w8a8Store(acc[i][j], r, c); }
    }
  }
}
