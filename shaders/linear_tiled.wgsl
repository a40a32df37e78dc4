// linear_tiled: out = x Wᵀ (+ bias) on plain ALUs, for devices without f16 subgroup matrices (and as the
// batch-invariant path there for every M).
// Bindings: 0 x: [M, K] f16   1 w: [N, K] f16 (Hugging Face layout)   BIAS: 2 bias: [N] f16
//           then out: [M, N] f16 (f32 with OUT_F32), then params.
// Reduction order, fixed for every M and tile shape: out[m, n] = fma chain over k = 0, 1, …, K-1 in f32
//   starting from 0 (acc = fma(x[m,k], w[n,k], acc)), then + bias, rounded once. Rows never interact.
// Workgroup: TX × TY invocations (overrides); each owns a TM × TN micro-tile whose rows are ty + i·TY
//   and columns tx + j·TX, so BM = TY·TM rows × BN = TX·TN columns; operands staged as f32 in workgroup
//   memory, BK k at a time (loads coalesced along k).
// Dispatch: grid(tilesM · tilesN), linear id = tileN · tilesM + tileM (m fastest: one weight tile is reused
//   by consecutive workgroups).
// QUANT: w is a packed quantized weight (lib/quant_weight: bindings 1-2 or 1-3, the rest move up), staged
//   as its f16 dequantized values; the order is unchanged.
enable f16;

struct Params { M: u32, N: u32, K: u32, tilesM: u32 }

@group(0) @binding(0) var<storage, read> x: array<f16>;
//#if QUANT
//#include quant_weight
alias WsT = f16;                // dequantized weights stay f16-typed (lavapipe would fold f32(f16(v)) to v)
//#else
@group(0) @binding(1) var<storage, read> w: array<f16>;
alias WsT = f32;
//#endif
//#include linear_out

override TX: u32 = 16;
override TY: u32 = 16;
override TM: u32 = 4;     // ≤ 4
override TN: u32 = 4;     // ≤ 4
override BK: u32 = 16;
override BM = TY * TM;
override BN = TX * TN;

var<workgroup> xs: array<f32, BM * BK>;   // [k][row]
var<workgroup> ws: array<WsT, BN * BK>;   // [k][col]

@compute @workgroup_size(TX * TY)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x + wid.y * nwg.x;
  let tilesN = (p.N + BN - 1u) / BN;
  if (t >= p.tilesM * tilesN) { return; }
  let m0 = (t % p.tilesM) * BM;
  let n0 = (t / p.tilesM) * BN;
  let tx = lid % TX;
  let ty = lid / TX;

  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var i = lid; i < BM * BK; i += TX * TY) {
      let r = m0 + i / BK;
      let k = k0 + i % BK;
      xs[(i % BK) * BM + i / BK] = select(0.0, f32(x[min(r * p.K + k, arrayLength(&x) - 1u)]), r < p.M && k < p.K);
    }
    for (var i = lid; i < BN * BK; i += TX * TY) {
      let c = n0 + i / BK;
      let k = k0 + i % BK;
//#if QUANT
      ws[(i % BK) * BN + i / BK] = select(WsT(0.0), wOne(min(c, p.N - 1u), min(k, p.K - 1u)), c < p.N && k < p.K);
//#else
      ws[(i % BK) * BN + i / BK] = select(0.0, f32(w[min(c * p.K + k, arrayLength(&w) - 1u)]), c < p.N && k < p.K);
//#endif
    }
    workgroupBarrier();
    let kn = min(BK, p.K - k0);             // never run the chain past K: every M sees the same steps
    for (var k = 0u; k < kn; k++) {
      var b: array<f32, 4>;
      for (var j = 0u; j < TN; j++) { b[j] = f32(ws[k * BN + tx + j * TX]); }
      for (var i = 0u; i < TM; i++) {
        let a = xs[k * BM + ty + i * TY];
        for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a, b[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let r = m0 + ty + i * TY;
    for (var j = 0u; j < TN; j++) {
      let c = n0 + tx + j * TX;
      if (r < p.M && c < p.N) {
        var v = acc[i][j];
//#if BIAS
        v += f32(bias[c]);
//#endif
        out[r * p.N + c] = OutT(v);
      }
    }
  }
}
