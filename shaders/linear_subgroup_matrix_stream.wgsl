// linear_subgroup_matrix_stream: the per-segment partial sums of out = x Wᵀ on tensor cores for few rows
// (decode, M ≤ 64): a weight stream. One workgroup = one 64-column slice of w (128 with TM4) × one K
// segment; w arrives with wide coalesced loads (vec4 = 8 f16 per invocation) staged through workgroup
// memory, as in the block kernel; linear_fold then adds the segments (and the bias) into out.
// Same reduction order as linear_subgroup_matrix (see its header), hence the same bits: K cut into numSeg
//   segments of segLen (a multiple of 128, so of BK); segment s = one chain of 16×16×16 multiply-accumulates
//   over its 16-wide k-steps in increasing order from +0 (p_s); out = (((0 + p_0) + p_1) + …) + bias.
// Bindings: 0 x: [M, K] f16 read as vec4<u32>   1 w: [N, K] f16 likewise (Hugging Face layout)
//           2 part: [numSeg, BM, N] f32, p_s of all BM = 16·TM rows (rows past M hold garbage), 3 params.
// Needs K % 64 == 0, N % 16 == 0 and M ≤ BM (the wrapper checks). Rows past M and columns past N are
//   computed from clamped rows; a subgroup whose 16 columns all lie past N stores nothing.
// Workgroup: BN/16 subgroups of 32; subgroup j owns columns 16j..16j+15 of the slice and TM (TM2: ≥ 2,
//   TM4: 4) 16-row tiles. Per k-step of BK every invocation loads 4 (EMULATE: 2) vec4 of w and x its BM·BK/8
//   vec4 (one or two per invocation) into registers two k-steps ahead (two register sets, alternating: the
//   loop runs two k-steps per trip), then both go to workgroup memory. Two ahead instead of one: M16
//   14336→4096 75 µs instead of 90 on the H100, the other decode shapes within 2% (bench/RESULTS.md, session 5).
//   The partials leave by matrix stores straight to `part` (through workgroup memory and lanes they cost
//   20% at 4096→28672, bench/probes/sgmat_ceiling.ts).
// Dispatch: grid(tilesN · numSeg), slice = id % tilesN, segment = id / tilesN.
// EMULATE: matrix ops emulated in plain WGSL (BK 32, for lavapipe's 32 KiB of workgroup memory).
// QUANT: w is a packed quantized weight (lib/quant_weight: bindings 1-2 or 1-3, part and params after):
//   the registers ahead hold the packed words with their groups' scale and zero as loaded (no arithmetic
//   on them, so the loads stay in flight), dequantized to f16 only as they are staged; the order, hence
//   the bits for the same f16 weights, is unchanged.
enable f16;
//#if !EMULATE
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
//#endif

//#if TM4
const TM = 4u;
//#else
//#if TM2
const TM = 2u;
//#else
const TM = 1u;
//#endif
//#endif
const BM = 16u * TM;
//#if TM4
const BN = 128u;                // 8 subgroups (x then takes two vec4 per invocation)
//#else
const BN = 64u;                 // 4 subgroups: twice the workgroups of 128 (probe: 0.45 → 0.7 TB/s at 512-long segments)
//#endif
//#if EMULATE
const BK = 32u;
//#else
const BK = 64u;
//#endif
const WG = 2u * BN;             // one subgroup of 32 per 16 columns
const LDS = BK + 8u;            // staged row stride in f16
const C8 = BK / 8u;             // vec4 per staged row; w: C8 / 2 (2 or 4) vec4 per invocation per k-step
// First row of x tiles 1-3 (clamped into As where TM leaves them unused: Dawn checks constant matrix-load
// offsets against the array's size even in code that never runs).
const ROW1 = min(16u, BM - 16u);
const ROW2 = min(32u, BM - 16u);
const ROW3 = min(48u, BM - 16u);

struct Params { M: u32, N: u32, K: u32, segLen: u32, numSeg: u32, tilesM: u32, tilesN: u32, zero: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4<u32>>;
//#if QUANT
//#include quant_weight
@group(0) @binding(WB_END) var<storage, read_write> part: array<f32>;
@group(0) @binding(WB_END + 1u) var<uniform> p: Params;
//#else
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
//#endif

var<workgroup> As: array<f16, BM * LDS>;
var<workgroup> Bs: array<f16, BN * LDS>;

//#include sgm_workgroup
//#include linear_part_store

//#include linear_stage
//#if QUANT
// One k-step's registers of w (4 packed chunks as loaded, lib/quant_weight's QChunk: dequantized by putStep,
// so the loads stay in flight the two k-steps ahead; EMULATE: 2) and x (xa0; TM2: xa1).
struct Step { w0: QChunk, w1: QChunk, w2: QChunk, w3: QChunk, xa0: vec4<u32>, xa1: vec4<u32> }
fn loadStep(kc: u32, r0: u32, rs: u32, nB: u32, xIn: bool) -> Step {
  var t: Step;
  t.w0 = wRaw(nB + r0, kc); t.w1 = wRaw(nB + r0 + rs, kc);
//#if !EMULATE
  t.w2 = wRaw(nB + r0 + 2u * rs, kc); t.w3 = wRaw(nB + r0 + 3u * rs, kc);
//#endif
//#else
// One k-step's registers of w (4 vec4; EMULATE: 2) and x (xa0; TM2: xa1).
struct Step { w0: vec4<u32>, w1: vec4<u32>, w2: vec4<u32>, w3: vec4<u32>, xa0: vec4<u32>, xa1: vec4<u32> }
fn loadStep(kc: u32, r0: u32, rs: u32, nB: u32, xIn: bool) -> Step {
  var t: Step;
  t.w0 = wAt(nB + r0, kc); t.w1 = wAt(nB + r0 + rs, kc);
//#if !EMULATE
  t.w2 = wAt(nB + r0 + 2u * rs, kc); t.w3 = wAt(nB + r0 + 3u * rs, kc);
//#endif
//#endif
  if (xIn) { t.xa0 = xAt(r0, kc); }
//#if TM2
//#if !EMULATE
  t.xa1 = xAt(r0 + rs, kc);
//#endif
//#endif
  return t;
}
fn putStep(so: u32, rs: u32, xIn: bool, t: Step) {
//#if QUANT
  putB(so, wDeq(t.w0)); putB(so + rs * LDS, wDeq(t.w1));
//#if !EMULATE
  putB(so + 2u * rs * LDS, wDeq(t.w2)); putB(so + 3u * rs * LDS, wDeq(t.w3));
//#endif
//#else
  putB(so, t.w0); putB(so + rs * LDS, t.w1);
//#if !EMULATE
  putB(so + 2u * rs * LDS, t.w2); putB(so + 3u * rs * LDS, t.w3);
//#endif
//#endif
  if (xIn) { putA(so, t.xa0); }
//#if TM2
//#if !EMULATE
  putA(so + rs * LDS, t.xa1);
//#endif
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

  // This invocation's vec4s of a k-step: rows r0 + l·rs, k-vector kq (explicit registers, no arrays;
  // //#if rather than constant `if`s: a constant branch still splits the code the driver schedules).
  let r0 = lid / C8;
  let rs = WG / C8;
  let kq = lid % C8;
  let so = r0 * LDS + kq * 8u;                     // staged offset of row r0 (row r0 + l·rs: + l·rs·LDS)
  let xIn = lid < BM * C8;                         // x has fewer vec4 than invocations (TM1, or BK 32)
  var c0 = MatC();
//#if TM2
  var c1 = MatC();
//#endif
//#if TM4
  var c2 = MatC();
  var c3 = MatC();
//#endif
  // Two k-steps of w and x in registers ahead (sets b and c, alternating).
  var sb = loadStep(kBeg / 8u + kq, r0, rs, nB, xIn);
  var sc = sb;
  if (kBeg + BK < kEnd) { sc = loadStep((kBeg + BK) / 8u + kq, r0, rs, nB, xIn); }
  for (var k0 = kBeg; k0 < kEnd; k0 += 2u * BK) {
    workgroupBarrier();
    putStep(so, rs, xIn, sb);
    workgroupBarrier();
    if (k0 + 2u * BK < kEnd) { sb = loadStep((k0 + 2u * BK) / 8u + kq, r0, rs, nB, xIn); }
    //#include linear_stream_mma
    if (k0 + BK < kEnd) {
      workgroupBarrier();
      putStep(so, rs, xIn, sc);
      workgroupBarrier();
      if (k0 + 3u * BK < kEnd) { sc = loadStep((k0 + 3u * BK) / 8u + kq, r0, rs, nB, xIn); }
      //#include linear_stream_mma
    }
  }
  if (nB + bn < p.N) {
    let o = seg * BM * p.N + nB + bn;
    subgroupMatrixStore<row_major>(&part, o, c0, p.N);
//#if TM2
    subgroupMatrixStore<row_major>(&part, o + 16u * p.N, c1, p.N);
//#endif
//#if TM4
    subgroupMatrixStore<row_major>(&part, o + 32u * p.N, c2, p.N);
    subgroupMatrixStore<row_major>(&part, o + 48u * p.N, c3, p.N);
//#endif
  }
}
