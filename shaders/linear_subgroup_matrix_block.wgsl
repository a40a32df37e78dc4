// linear_subgroup_matrix_block: out = x Wᵀ (+ bias) on tensor cores for many rows: one workgroup computes a
// BM×128 block of out (BM 128; BM64: 64), both operands staged through workgroup memory in k-steps of BK.
// Two schedules: SEQ (default, prefill) runs every K segment in one workgroup and writes out; PAR (decode
// batches: tiles × segments workgroups, the segments side by side like linear_subgroup_matrix_stream) runs
// one segment per workgroup and stores its partial sums p_s to `part`, which linear_fold adds up.
// Same reduction order as linear_subgroup_matrix (see its header), hence the same bits: K cut into numSeg
//   segments of segLen (a multiple of 128, so of BK); segment s = one chain of 16×16×16 multiply-accumulates
//   over its 16-wide k-steps in increasing order from +0 (p_s); k past K reads as 0;
//   out = (((0 + p_0) + p_1) + …) + bias, rounded once to the output dtype.
// Bindings: 0 x: [M, K] f16 read as vec4<u32> (8 f16)   1 w: [N, K] f16 likewise (Hugging Face layout)
//           SEQ: BIAS: 2 bias: [N] f16   then out: [M, N] f16 (f32 with OUT_F32), then params.
//           PAR: 2 part: [numSeg, tilesM·BM, N] f32 (rows past M hold garbage), 3 params.
// Needs K % 64 == 0 (PAR: and N % 16 == 0; the wrapper checks). Rows past M and columns past N are
//   computed from clamped rows and never stored (PAR: a subgroup's 16 columns past N are not stored).
// Workgroup: 256 invocations = 8 subgroups of 32, 2 over m × 4 over n; a subgroup owns BM/2×32 of the block
//   (4×2 tiles of 16×16; BM64: 2×2). Per k-step every invocation loads BM·BK/8/256 vec4 of x and 128·BK/8/256
//   of w into registers one k-step ahead, stores them to workgroup memory (rows padded by 8 f16 against bank
//   conflicts), and the subgroups run their tiles from there. SEQ: at a segment's end each subgroup folds its
//   tiles into per-lane f32 totals through `cs` (lane owns elements e = lane + 32·i of a tile, row e/16, col
//   e%16). PAR: at the end each subgroup stores its tiles to `part` with matrix stores.
//   bench/probes/sgmat_ceiling.ts chose this shape (its version: 226 TFLOP/s at 4096³ on the H100; 64×64
//   per subgroup, 256×128 blocks, double buffering and matrix-load staging were all slower). This kernel,
//   with the segment folds and the edges, runs at 131-141 TFLOP/s (bench/RESULTS.md).
// Dispatch: SEQ grid(tilesM · tilesN), the linear id walks groups of 8 m-tiles (n outer) for L2 reuse;
//   PAR grid(tilesM · tilesN · numSeg), id = (segment · tilesN + n-tile) · tilesM + m-tile (the m-tiles that
//   read one weight slice run side by side).
// EMULATE: matrix ops emulated in plain WGSL (BK 32: lavapipe has 32 KiB of workgroup memory; BK never
//   changes the order).
// QUANT: w is a packed quantized weight (lib/quant_weight: bindings 1-2 or 1-3; the rest move up by one or
//   two), dequantized to f16 as it is staged; the order, hence the bits for the same f16 weights, is unchanged.
enable f16;
//#if !EMULATE
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
//#endif

//#if BM64
const BM = 64u;
//#else
const BM = 128u;
//#endif
const BN = 128u;
//#if EMULATE
const BK = 32u;
//#else
const BK = 64u;
//#endif
const WG = 256u;                // 8 subgroups, 2 over m × 4 over n: a subgroup owns BM/2×32
const SGN = 4u;                 // subgroups over n
const LDS = BK + 8u;            // staged row stride in f16
const C8 = BK / 8u;             // vec4 per staged row
const MAX_SUBGROUPS = 8u;

struct Params { M: u32, N: u32, K: u32, segLen: u32, numSeg: u32, tilesM: u32, tilesN: u32, zero: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4<u32>>;
//#if QUANT
//#include quant_weight
//#else
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
//#endif
//#if PAR
//#if QUANT
@group(0) @binding(WB_END) var<storage, read_write> part: array<f32>;
@group(0) @binding(WB_END + 1u) var<uniform> p: Params;
//#else
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
//#endif
//#else
//#include linear_out
//#endif

var<workgroup> As: array<f16, BM * LDS>;
var<workgroup> Bs: array<f16, BN * LDS>;
//#if !PAR
var<workgroup> cs: array<f32, MAX_SUBGROUPS * 256u>; // one 16×16 f32 tile per subgroup (folds)
//#endif

//#include sgm_workgroup
//#if PAR
//#include linear_part_store
//#else
//#if EMULATE
//#replace subgroupMatrixStore<row_major>(&cs, => emuStoreC(
fn emuStoreC(off: u32, c: MatC, stride: u32) {
  for (var i = 0u; i < 8u + z(); i++) {
    let e = lane + 32u * i;
    cs[off + (e / 16u) * stride + e % 16u] = c.v[i];
  }
}
//#endif
//#if SGM_BOOL
//#replace subgroupMatrixStore<row_major>(&cs, => boolStoreC(
fn boolStoreC(off: u32, c: MatC, stride: u32) { subgroupMatrixStore(&cs, off, c, false, stride); }
//#endif

//#endif

//#if !PAR
// Lane values of one 16×16 tile: elements e = lane + 32·i, i = 0..3 in a, 4..7 in b.
struct Lane8 { a: vec4<f32>, b: vec4<f32> }

// The lane's 8 values of the tile its subgroup just stored to `cs` (call between two barriers).
fn csLane(sg: u32, ln: u32) -> Lane8 {
  let o = sg * 256u + ln;
  return Lane8(vec4(cs[o], cs[o + 32u], cs[o + 64u], cs[o + 96u]), vec4(cs[o + 128u], cs[o + 160u], cs[o + 192u], cs[o + 224u]));
}

// Stores tile (rows r0.., columns c0..) from the lane's totals, adding the bias.
fn emit(tot: Lane8, ln: u32, r0: u32, c0: u32) {
  for (var i = 0u; i < 8u; i++) {
    let e = ln + 32u * i;
    let r = r0 + e / 16u;
    let col = c0 + e % 16u;
    if (r < p.M && col < p.N) {
      var v = select(tot.b[i % 4u], tot.a[i % 4u], i < 4u);
//#if BIAS
      v += f32(bias[col]);
//#endif
      out[r * p.N + col] = OutT(v);
    }
  }
}
//#endif

//#include linear_stage

// Staged offset of this invocation's l-th vec4 of a k-step.
fn stageOff(lid: u32, l: u32) -> u32 {
  let i = lid + l * WG;
  return (i / C8) * LDS + (i % C8) * 8u;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ln = lid % 32u;
//#if EMULATE
  lane = ln;
//#endif
  let sg = lid / 32u;
  let t = wid.x + wid.y * nwg.x;
  let tiles = p.tilesM * p.tilesN;
//#if PAR
  if (t >= tiles * p.numSeg) { return; }           // whole workgroups only
  let seg = t / tiles;
  let mB = (t % p.tilesM) * BM;
  let nB = ((t % tiles) / p.tilesM) * BN;
  let kBeg = seg * p.segLen;
  let K = min(kBeg + p.segLen, p.K);
//#else
  if (t >= tiles) { return; }                      // whole workgroups only
  let span = 8u * p.tilesN;
  let tm0 = (t / span) * 8u;
  let rows = min(p.tilesM - tm0, 8u);
  let mB = (tm0 + (t % span) % rows) * BM;
  let nB = ((t % span) / rows) * BN;
  let kBeg = 0u;
  let K = p.K;
//#endif
  let am = (sg / SGN) * (BM / 2u);                 // the subgroup's rows and columns in the block
  let bn = (sg % SGN) * 32u;
  // This invocation's vec4s of a k-step: row lid / C8 + l·WG / C8, k-vector lid % C8 (x: BM·C8/WG of them,
  // w: 128·C8/WG; lib/linear_block_load says which registers by the wrapper's X1/X2/W2 defines).
  let r0 = lid / C8;
  let rs = WG / C8;
  let kq = lid % C8;
  let kc0 = kBeg / 8u + kq;

  var c00 = MatC(); var c01 = MatC(); var c10 = MatC(); var c11 = MatC();
//#if !R2
  var c20 = MatC(); var c21 = MatC(); var c30 = MatC(); var c31 = MatC();
//#endif
//#if !PAR
  var t00 = Lane8(); var t01 = Lane8(); var t10 = Lane8(); var t11 = Lane8();
//#if !R2
  var t20 = Lane8(); var t21 = Lane8(); var t30 = Lane8(); var t31 = Lane8();
//#endif
//#endif
  // Registers holding the next k-step (explicit variables: no private arrays in the loop).
  var xa0 = vec4<u32>(); var xa1 = vec4<u32>(); var xa2 = vec4<u32>(); var xa3 = vec4<u32>();
  var wb0 = vec4<u32>(); var wb1 = vec4<u32>(); var wb2 = vec4<u32>(); var wb3 = vec4<u32>();
  //#include linear_block_load
  for (var k0 = kBeg; k0 < K; k0 += BK) {
    workgroupBarrier();                            // the previous k-step's matrix loads are done
    //#include linear_block_put
    workgroupBarrier();
    let kn = k0 + BK;
    if (kn < K) {
      let kc0 = kn / 8u + kq;
      //#include linear_block_load
    }
    // The four 16-wide k-steps of BK = 64 written out (as a runtime loop they cost half the speed;
    // //#if, not `if (BK > 32u)`: a constant branch still splits the code the driver schedules).
    {
      let a0 = subgroupMatrixLoad<MatA, row_major>(&As, am * LDS + 0u, LDS); let a1 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 16u) * LDS + 0u, LDS);
      let b0 = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDS + 0u, LDS); let b1 = subgroupMatrixLoad<MatB, col_major>(&Bs, (bn + 16u) * LDS + 0u, LDS);
      c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00); c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01); c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10); c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
//#if !R2
      let a2 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 32u) * LDS + 0u, LDS); let a3 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 48u) * LDS + 0u, LDS);
      c20 = subgroupMatrixMultiplyAccumulate(a2, b0, c20); c21 = subgroupMatrixMultiplyAccumulate(a2, b1, c21); c30 = subgroupMatrixMultiplyAccumulate(a3, b0, c30); c31 = subgroupMatrixMultiplyAccumulate(a3, b1, c31);
//#endif
    }
    {
      let a0 = subgroupMatrixLoad<MatA, row_major>(&As, am * LDS + 16u, LDS); let a1 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 16u) * LDS + 16u, LDS);
      let b0 = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDS + 16u, LDS); let b1 = subgroupMatrixLoad<MatB, col_major>(&Bs, (bn + 16u) * LDS + 16u, LDS);
      c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00); c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01); c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10); c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
//#if !R2
      let a2 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 32u) * LDS + 16u, LDS); let a3 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 48u) * LDS + 16u, LDS);
      c20 = subgroupMatrixMultiplyAccumulate(a2, b0, c20); c21 = subgroupMatrixMultiplyAccumulate(a2, b1, c21); c30 = subgroupMatrixMultiplyAccumulate(a3, b0, c30); c31 = subgroupMatrixMultiplyAccumulate(a3, b1, c31);
//#endif
    }
//#if !EMULATE
    {
      let a0 = subgroupMatrixLoad<MatA, row_major>(&As, am * LDS + 32u, LDS); let a1 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 16u) * LDS + 32u, LDS);
      let b0 = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDS + 32u, LDS); let b1 = subgroupMatrixLoad<MatB, col_major>(&Bs, (bn + 16u) * LDS + 32u, LDS);
      c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00); c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01); c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10); c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
//#if !R2
      let a2 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 32u) * LDS + 32u, LDS); let a3 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 48u) * LDS + 32u, LDS);
      c20 = subgroupMatrixMultiplyAccumulate(a2, b0, c20); c21 = subgroupMatrixMultiplyAccumulate(a2, b1, c21); c30 = subgroupMatrixMultiplyAccumulate(a3, b0, c30); c31 = subgroupMatrixMultiplyAccumulate(a3, b1, c31);
//#endif
    }
    {
      let a0 = subgroupMatrixLoad<MatA, row_major>(&As, am * LDS + 48u, LDS); let a1 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 16u) * LDS + 48u, LDS);
      let b0 = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDS + 48u, LDS); let b1 = subgroupMatrixLoad<MatB, col_major>(&Bs, (bn + 16u) * LDS + 48u, LDS);
      c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00); c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01); c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10); c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
//#if !R2
      let a2 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 32u) * LDS + 48u, LDS); let a3 = subgroupMatrixLoad<MatA, row_major>(&As, (am + 48u) * LDS + 48u, LDS);
      c20 = subgroupMatrixMultiplyAccumulate(a2, b0, c20); c21 = subgroupMatrixMultiplyAccumulate(a2, b1, c21); c30 = subgroupMatrixMultiplyAccumulate(a3, b0, c30); c31 = subgroupMatrixMultiplyAccumulate(a3, b1, c31);
//#endif
    }
//#endif
//#if !PAR
    if (kn % p.segLen == 0u || kn >= K) {          // a segment ends: add its chains to the totals
      var v: Lane8;
      subgroupMatrixStore<row_major>(&cs, sg * 256u, c00, 16u);
      workgroupBarrier();
      v = csLane(sg, ln);
      workgroupBarrier();
      t00.a += v.a; t00.b += v.b;
      subgroupMatrixStore<row_major>(&cs, sg * 256u, c01, 16u);
      workgroupBarrier();
      v = csLane(sg, ln);
      workgroupBarrier();
      t01.a += v.a; t01.b += v.b;
      subgroupMatrixStore<row_major>(&cs, sg * 256u, c10, 16u);
      workgroupBarrier();
      v = csLane(sg, ln);
      workgroupBarrier();
      t10.a += v.a; t10.b += v.b;
      subgroupMatrixStore<row_major>(&cs, sg * 256u, c11, 16u);
      workgroupBarrier();
      v = csLane(sg, ln);
      workgroupBarrier();
      t11.a += v.a; t11.b += v.b;
      c00 = MatC(); c01 = MatC(); c10 = MatC(); c11 = MatC();
//#if !R2
      subgroupMatrixStore<row_major>(&cs, sg * 256u, c20, 16u);
      workgroupBarrier();
      v = csLane(sg, ln);
      workgroupBarrier();
      t20.a += v.a; t20.b += v.b;
      subgroupMatrixStore<row_major>(&cs, sg * 256u, c21, 16u);
      workgroupBarrier();
      v = csLane(sg, ln);
      workgroupBarrier();
      t21.a += v.a; t21.b += v.b;
      subgroupMatrixStore<row_major>(&cs, sg * 256u, c30, 16u);
      workgroupBarrier();
      v = csLane(sg, ln);
      workgroupBarrier();
      t30.a += v.a; t30.b += v.b;
      subgroupMatrixStore<row_major>(&cs, sg * 256u, c31, 16u);
      workgroupBarrier();
      v = csLane(sg, ln);
      workgroupBarrier();
      t31.a += v.a; t31.b += v.b;
      c20 = MatC(); c21 = MatC(); c30 = MatC(); c31 = MatC();
//#endif
    }
//#endif
  }
  let m0 = mB + am;
  let n0 = nB + bn;
//#if PAR
  // The segment's partial sums of all BM rows (part has tilesM·BM rows); 16 columns past N are not stored.
  let o = (seg * p.tilesM * BM + m0) * p.N + n0;
  if (n0 < p.N) {
    subgroupMatrixStore<row_major>(&part, o, c00, p.N);
    subgroupMatrixStore<row_major>(&part, o + 16u * p.N, c10, p.N);
//#if !R2
    subgroupMatrixStore<row_major>(&part, o + 32u * p.N, c20, p.N);
    subgroupMatrixStore<row_major>(&part, o + 48u * p.N, c30, p.N);
//#endif
  }
  if (n0 + 16u < p.N) {
    subgroupMatrixStore<row_major>(&part, o + 16u, c01, p.N);
    subgroupMatrixStore<row_major>(&part, o + 16u + 16u * p.N, c11, p.N);
//#if !R2
    subgroupMatrixStore<row_major>(&part, o + 16u + 32u * p.N, c21, p.N);
    subgroupMatrixStore<row_major>(&part, o + 16u + 48u * p.N, c31, p.N);
//#endif
  }
//#else
  emit(t00, ln, m0, n0); emit(t01, ln, m0, n0 + 16u);
  emit(t10, ln, m0 + 16u, n0); emit(t11, ln, m0 + 16u, n0 + 16u);
//#if !R2
  emit(t20, ln, m0 + 32u, n0); emit(t21, ln, m0 + 32u, n0 + 16u);
  emit(t30, ln, m0 + 48u, n0); emit(t31, ln, m0 + 48u, n0 + 16u);
//#endif
//#endif
}
