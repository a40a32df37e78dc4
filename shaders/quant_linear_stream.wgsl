// quant_linear_stream: the per-segment partial sums of out = x · dequant(W)ᵀ on tensor cores for few rows
// (decode, M ≤ 32) over a packed quantized weight (src/quant/packed_weight.ts): the wide quantized weight
// stream. linear_subgroup_matrix_stream's schedule (one workgroup = one 64-column slice × one K segment;
// linear_fold then adds the segments and the bias into out), but every lane loads a whole vec4<u32> of
// packed words per weight load (16 bytes: 32 int4 or 16 int8 weights, one group's scale and zero with it)
// where the QUANT stream loads 4 or 8 bytes per 8-k chunk, at a k-step BK of 128 or 256 instead of 64.
// Same reduction order as linear_subgroup_matrix_stream, hence the same bits for the same weights: K cut
//   into numSeg segments of segLen (a multiple of BK here, as is K: the wrapper checks); segment s = one
//   chain of 16×16×16 multiply-accumulates over its 16-wide k-steps in increasing order from +0 (p_s); the
//   weights are lib/quant_dequant's f16((q − z)·s), the values every quantized kernel multiplies by.
// Bindings (quantLinear's order): 0 x: [M, K] f16 read as vec4<u32>
//   1 qw: [N, K·bits/32] u32 read as vec4<u32> (Q4: 8 int4 per word, Q8: 4 bytes per word; SIGNED: int8
//     two's complement)   2 qs: [N, K / GS] f16 scales   ZEROS: 3 qz: [N, K / GS] f16 zeros
//   then part: [numSeg, BM, N] f32, p_s of all BM = 16·TM rows (rows past M hold garbage), then params.
// Needs K % BK == 0, segLen % BK == 0, N % 16 == 0, M ≤ BM, GS % KV == 0 (KV = k per vec4: 32 for Q4, 16
//   for Q8). Rows past M and N read clamped rows (x's become zeros); a subgroup whose 16 columns all lie past
//   N stores nothing.
// Workgroup: 128 invocations = 4 subgroups of 32; subgroup j owns columns 16j..16j+15 of the slice, TM (1,
//   or 2 with TM2) 16-row tiles. Per k-step every invocation loads WL packed vec4 of w (rows wr + l·RSW,
//   vec4 wq of the row's k-step) with their groups' scale and zero, and XL vec4 of x, into registers two
//   k-steps ahead (two register sets, alternating); the packed words are dequantized only when staged into
//   workgroup memory (Bs, row stride LDS). WL = BK·bits/256: 2, 4 (define W4) or 8 (W8); XL = TM·BK/64:
//   2, 4 (X4) or 8 (X8): the wrapper sets the defines, const_asserts check them.
// Workgroup memory: (BM + 64)·(BK + 8)·2 bytes: BK 128 20-26 KB, BK 256 42 KB (TM1) or 50 KB (TM2).
// Dispatch: grid(tilesN · numSeg), slice = id % tilesN, segment = id / tilesN (linear_subgroup_matrix_stream's).
// EMULATE: matrix ops emulated in plain WGSL (lib/sgm_workgroup; lavapipe). SGM_BOOL: older Dawn's spelling.
enable f16;
//#if !EMULATE
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
//#endif

//#if TM2
const TM = 2u;
//#else
const TM = 1u;
//#endif
const BM = 16u * TM;
const BN = 64u;
//#if BK256
const BK = 256u;
//#else
const BK = 128u;
//#endif
const WG = 128u;
const LDS = BK + 8u;            // staged row stride in f16
const C8 = BK / 8u;             // x vec4 per staged row
//#if Q4
const KV = 32u;                 // k per packed vec4
//#else
const KV = 16u;
//#endif
const VPR = BK / KV;            // packed vec4 per weight row per k-step
const RSW = WG / VPR;           // weight rows per round of invocations
const WL = BN / RSW;            // packed vec4 per invocation per k-step
const RSX = WG / C8;            // x rows per round of invocations
const XL = BM / RSX;            // x vec4 per invocation per k-step
//#if W8
const_assert WL == 8u;
//#else
//#if W4
const_assert WL == 4u;
//#else
const_assert WL == 2u;
//#endif
//#endif
//#if X8
const_assert XL == 8u;
//#else
//#if X4
const_assert XL == 4u;
//#else
const_assert XL == 2u;
//#endif
//#endif

struct Params { M: u32, N: u32, K: u32, segLen: u32, numSeg: u32, tilesM: u32, tilesN: u32, zero: u32 }
override GS: u32 = 128u;

@group(0) @binding(0) var<storage, read> x: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> qw: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> qs: array<f16>;
//#if ZEROS
@group(0) @binding(3) var<storage, read> qz: array<f16>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;
//#else
@group(0) @binding(3) var<storage, read_write> part: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
//#endif

var<workgroup> As: array<f16, BM * LDS>;
var<workgroup> Bs: array<f16, BN * LDS>;

//#include sgm_workgroup
//#include linear_part_store
//#include linear_stage
//#include quant_dequant

// One packed vec4 of a weight row as loaded: KV weights of one group, with its scale and zero (no
// arithmetic at load, so the loads stay in flight while held).
struct QWide { v: vec4<u32>, s: f16, z: f16 }

// Packed vec4 kv of row min(r, N-1).
fn wWide(r: u32, kv: u32) -> QWide {
  let n = min(r, p.N - 1u);
  let i = n * (p.K / GS) + (kv * KV) / GS;
//#if ZEROS
  return QWide(qw[n * (p.K / KV) + kv], qs[i], qz[i]);
//#else
  return QWide(qw[n * (p.K / KV) + kv], qs[i], Q_ZERO);
//#endif
}

// The KV weights of c dequantized into Bs at o (k order).
fn putWide(o: u32, c: QWide) {
  let s = c.s;
  let z = c.z;
//#if Q4
  putB(o, qDeq(c.v.x, z, s)); putB(o + 8u, qDeq(c.v.y, z, s));
  putB(o + 16u, qDeq(c.v.z, z, s)); putB(o + 24u, qDeq(c.v.w, z, s));
//#else
  putB(o, qDeq(c.v.xy, z, s)); putB(o + 8u, qDeq(c.v.zw, z, s));
//#endif
}

// One k-step's registers: WL packed vec4 of w, XL vec4 of x (explicit fields, no arrays; //#if rather than
// constant `if`s, as in linear_subgroup_matrix_stream).
struct Step {
  w0: QWide, w1: QWide,
//#if W4
  w2: QWide, w3: QWide,
//#endif
//#if W8
  w2: QWide, w3: QWide, w4: QWide, w5: QWide, w6: QWide, w7: QWide,
//#endif
  x0: vec4<u32>, x1: vec4<u32>,
//#if X4
  x2: vec4<u32>, x3: vec4<u32>,
//#endif
//#if X8
  x2: vec4<u32>, x3: vec4<u32>, x4: vec4<u32>, x5: vec4<u32>, x6: vec4<u32>, x7: vec4<u32>,
//#endif
}

// k-step at k0: w rows nB + wr + l·RSW at vec4 wq of the step, x rows xr + l·RSX at vec4 xq.
fn loadStep(k0: u32, nB: u32, wr: u32, wq: u32, xr: u32, xq: u32) -> Step {
  var t: Step;
  let kv = k0 / KV + wq;
  let r = nB + wr;
  t.w0 = wWide(r, kv); t.w1 = wWide(r + RSW, kv);
//#if W4
  t.w2 = wWide(r + 2u * RSW, kv); t.w3 = wWide(r + 3u * RSW, kv);
//#endif
//#if W8
  t.w2 = wWide(r + 2u * RSW, kv); t.w3 = wWide(r + 3u * RSW, kv);
  t.w4 = wWide(r + 4u * RSW, kv); t.w5 = wWide(r + 5u * RSW, kv);
  t.w6 = wWide(r + 6u * RSW, kv); t.w7 = wWide(r + 7u * RSW, kv);
//#endif
  let kc = k0 / 8u + xq;
  t.x0 = xAt(xr, kc); t.x1 = xAt(xr + RSX, kc);
//#if X4
  t.x2 = xAt(xr + 2u * RSX, kc); t.x3 = xAt(xr + 3u * RSX, kc);
//#endif
//#if X8
  t.x2 = xAt(xr + 2u * RSX, kc); t.x3 = xAt(xr + 3u * RSX, kc);
  t.x4 = xAt(xr + 4u * RSX, kc); t.x5 = xAt(xr + 5u * RSX, kc);
  t.x6 = xAt(xr + 6u * RSX, kc); t.x7 = xAt(xr + 7u * RSX, kc);
//#endif
  return t;
}

// Stages a k-step: w at wo (+ l·RSW rows), dequantized; x at xo (+ l·RSX rows).
fn putStep(t: Step, wo: u32, xo: u32) {
  putWide(wo, t.w0); putWide(wo + RSW * LDS, t.w1);
//#if W4
  putWide(wo + 2u * RSW * LDS, t.w2); putWide(wo + 3u * RSW * LDS, t.w3);
//#endif
//#if W8
  putWide(wo + 2u * RSW * LDS, t.w2); putWide(wo + 3u * RSW * LDS, t.w3);
  putWide(wo + 4u * RSW * LDS, t.w4); putWide(wo + 5u * RSW * LDS, t.w5);
  putWide(wo + 6u * RSW * LDS, t.w6); putWide(wo + 7u * RSW * LDS, t.w7);
//#endif
  putA(xo, t.x0); putA(xo + RSX * LDS, t.x1);
//#if X4
  putA(xo + 2u * RSX * LDS, t.x2); putA(xo + 3u * RSX * LDS, t.x3);
//#endif
//#if X8
  putA(xo + 2u * RSX * LDS, t.x2); putA(xo + 3u * RSX * LDS, t.x3);
  putA(xo + 4u * RSX * LDS, t.x4); putA(xo + 5u * RSX * LDS, t.x5);
  putA(xo + 6u * RSX * LDS, t.x6); putA(xo + 7u * RSX * LDS, t.x7);
//#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
//#if EMULATE
  lane = lid % 32u;
//#endif
  let sg = lid / 32u;
  let t = wid.x + wid.y * nwg.x;
  if (t >= p.tilesN * p.numSeg) { return; }        // whole workgroups only
  let nB = (t % p.tilesN) * BN;
  let seg = t / p.tilesN;
  let kBeg = seg * p.segLen;
  let kEnd = min(kBeg + p.segLen, p.K);
  let bn = sg * 16u;
  let wr = lid / VPR;
  let wq = lid % VPR;
  let xr = lid / C8;
  let xq = lid % C8;
  let wo = wr * LDS + wq * KV;                     // staged offset of weight row wr's vec4
  let xo = xr * LDS + xq * 8u;
  var c0 = MatC();
//#if TM2
  var c1 = MatC();
//#endif
  // Two k-steps of w and x in registers ahead (sets b and c, alternating).
  var sb = loadStep(kBeg, nB, wr, wq, xr, xq);
  var sc = sb;
  if (kBeg + BK < kEnd) { sc = loadStep(kBeg + BK, nB, wr, wq, xr, xq); }
  for (var k0 = kBeg; k0 < kEnd; k0 += 2u * BK) {
    workgroupBarrier();
    putStep(sb, wo, xo);
    workgroupBarrier();
    if (k0 + 2u * BK < kEnd) { sb = loadStep(k0 + 2u * BK, nB, wr, wq, xr, xq); }
    //#include quant_stream_mma
    if (k0 + BK < kEnd) {
      workgroupBarrier();
      putStep(sc, wo, xo);
      workgroupBarrier();
      if (k0 + 3u * BK < kEnd) { sc = loadStep(k0 + 3u * BK, nB, wr, wq, xr, xq); }
      //#include quant_stream_mma
    }
  }
  if (nB + bn < p.N) {
    let o = seg * BM * p.N + nB + bn;
    subgroupMatrixStore<row_major>(&part, o, c0, p.N);
//#if TM2
    subgroupMatrixStore<row_major>(&part, o + 16u * p.N, c1, p.N);
//#endif
  }
}
