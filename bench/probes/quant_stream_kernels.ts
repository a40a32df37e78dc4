// WGSL generators for bench/probes/quant_probe.ts (experiments, not tknp kernels): decode weight streams
// over a packed quantized weight (src/quant/packed_weight.ts's layout) that read 16 bytes per lane per load
// (vec4<u32> = 32 int4 or 16 int8 weights) where the shipped kernels read 4 (int4) or 8 (int8).
//   quantStreamWide: shaders/linear_subgroup_matrix_stream.wgsl's schedule (64 columns × one K segment per
//     workgroup, tensor cores, partials folded by linear_fold) with a BK of 128 or 256 and the packed words
//     kept raw in registers two k-steps ahead, dequantized only when staged. The shipped QUANT stream now
//     does the same at BK 64 (lib/quant_weight's wRaw / wDeq; it used to dequantize inside loadStep, so
//     every load was waited for where issued); what this probe adds is the wider load. Same 16-wide k-step chain per segment
//     in increasing k, hence the same bits as the shipped plan (dequant 'f32': the shipped arithmetic;
//     'h': (1024+q) − (1024+z) and ·s in f16, the same value except where the product is subnormal).
//   quantGemvWide: a dequantizing GEMV ('fast' mode candidate, M ≤ 8): each 32-lane row group owns RS weight
//     rows; lane j loads vec4 j, j+32, … of each (U per trip), dequantizes each 8-k chunk once to the f16
//     weights f16((q − z)·s) and multiplies it with every x row (x loaded once per chunk for all RS rows).
// Bindings (both, the order quantLinear passes): 0 x: [M, K] f16 as vec4<u32>  1 qw: [N, K·bits/32] u32
//   as vec4<u32>  2 qs: [N, K/GS] f16  ZEROS: 3 qz  then stream: part [numSeg, BM, N] f32 / GEMV: out [M, N]
//   f16, then the params (stream: linear_subgroup_matrix_stream's Params; GEMV: M, N, K, 0).
// Needs K % (32·BK / bits … ) as checked by the generators' callers: GS a multiple of the k per vec4
// (32 for int4, 16 for int8), stream segLen % BK == 0.

export interface QuantFormat {
  readonly bits: 4 | 8;
  /** Explicit integer zeros (ZEROS); else z = 8 (int4) or signed int8 with z = 0. */
  readonly zeros: boolean;
  readonly groupSize: number;
}

export type Dequant = 'f32' | 'h';

const range = (n: number) => [...Array(n).keys()];

/** k per vec4<u32> of packed weights. */
export const kPerVec4 = (bits: 4 | 8) => 128 / bits;

function bindings(f: QuantFormat, outDecl: string): string {
  const last = f.zeros ? 4 : 3;
  return `@group(0) @binding(0) var<storage, read> x: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> qw: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> qs: array<f16>;
${f.zeros ? '@group(0) @binding(3) var<storage, read> qz: array<f16>;' : ''}
@group(0) @binding(${last}) ${outDecl}
@group(0) @binding(${last + 1}) var<uniform> p: Params;`;
}

/** WGSL of the zero point (f32) of row n, group g. */
function zeroExpr(f: QuantFormat, n: string, g: string): string {
  if (f.zeros) return `f32(qz[${n} * (p.K / GS) + ${g}])`;
  return f.bits === 4 ? '8.0' : '0.0';
}

/**
 * WGSL functions dequantizing one 8-k chunk (one word for int4, two for int8) into 8 f16 weights:
 * `deqChunk(v: vec2<u32>, z: f32, s: f32) -> array<f16, 8>` in k order (v.y unused for int4).
 */
function dequantFns(f: QuantFormat, mode: Dequant): string {
  const signed = f.bits === 8 && !f.zeros;
  if (mode === 'f32') {
    // The shipped arithmetic (lib/quant_weight): f16((f32(q) − z)·s), the f32 product exact.
    const ints = (w: string) =>
      f.bits === 4
        ? `vec4<f32>((vec4<u32>(${w}) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(15u)), vec4<f32>((vec4<u32>(${w}) >> vec4<u32>(4u, 12u, 20u, 28u)) & vec4<u32>(15u))`
        : signed
          ? `vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(${w}) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u))`
          : `vec4<f32>((vec4<u32>(${w}) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u))`;
    const body =
      f.bits === 4
        ? `  let e = array<vec4<f32>, 2>(${ints('v.x')});   // even k, odd k
  let a = vec4<f16>((e[0] - z) * s);
  let b = vec4<f16>((e[1] - z) * s);
  return array<f16, 8>(a.x, b.x, a.y, b.y, a.z, b.z, a.w, b.w);`
        : `  let a = vec4<f16>((${ints('v.x')} - z) * s);
  let b = vec4<f16>((${ints('v.y')} - z) * s);
  return array<f16, 8>(a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w);`;
    return `fn deqChunk(v: vec2<u32>, z: f32, s: f32) -> array<f16, 8> {\n${body}\n}`;
  }
  // 'h': OR the small integers into the mantissa of 1024.0h (0x6400): exact (1024 + q) in f16; minus
  // (1024 + z) exact; times s rounded once in f16 (the exact product rounded, as the f32 path rounds it).
  const bias = signed ? 1152 : 1024; // signed int8: bytes XOR 0x80 hold q + 128
  const x = signed ? ' ^ 0x80808080u' : '';
  const body =
    f.bits === 4
      ? `  let m = ((vec4<u32>(v.x) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(0x000F000Fu)) | vec4<u32>(0x64006400u);
  let zz = vec2<f16>(f16(${bias}.0 + z));
  let ss = vec2<f16>(f16(s));
  let p0 = (bitcast<vec2<f16>>(m.x) - zz) * ss;   // k 0, 4
  let p1 = (bitcast<vec2<f16>>(m.y) - zz) * ss;   // k 1, 5
  let p2 = (bitcast<vec2<f16>>(m.z) - zz) * ss;
  let p3 = (bitcast<vec2<f16>>(m.w) - zz) * ss;
  return array<f16, 8>(p0.x, p1.x, p2.x, p3.x, p0.y, p1.y, p2.y, p3.y);`
      : `  let w = vec2<u32>(v.x${x}, v.y${x});
  let m = ((vec4<u32>(w.x, w.x, w.y, w.y) >> vec4<u32>(0u, 8u, 0u, 8u)) & vec4<u32>(0x00FF00FFu)) | vec4<u32>(0x64006400u);
  let zz = vec2<f16>(f16(${bias}.0 + z));
  let ss = vec2<f16>(f16(s));
  let p0 = (bitcast<vec2<f16>>(m.x) - zz) * ss;   // k 0, 2
  let p1 = (bitcast<vec2<f16>>(m.y) - zz) * ss;   // k 1, 3
  let p2 = (bitcast<vec2<f16>>(m.z) - zz) * ss;   // k 4, 6
  let p3 = (bitcast<vec2<f16>>(m.w) - zz) * ss;   // k 5, 7
  return array<f16, 8>(p0.x, p1.x, p0.y, p1.y, p2.x, p3.x, p2.y, p3.y);`;
  return `fn deqChunk(v: vec2<u32>, z: f32, s: f32) -> array<f16, 8> {\n${body}\n}`;
}

/** The chunks (8 k each) of a vec4 of packed words, as deqChunk arguments. */
function chunkWords(bits: 4 | 8, v: string): string[] {
  return bits === 4 ? ['x', 'y', 'z', 'w'].map((c) => `vec2<u32>(${v}.${c}, 0u)`) : [`${v}.xy`, `${v}.zw`];
}

export interface StreamOptions {
  readonly format: QuantFormat;
  readonly BK: 128 | 256 | 64;
  readonly TM: 1 | 2;
  readonly dequant: Dequant;
  readonly emulate: boolean;
}

/**
 * The wide quantized stream: WGSL text to preprocess (src/gpu/shaders preprocess, defines QUANT and
 * EMULATE / SGM_BOOL as the device needs) with lib includes. Grid and params: planStream's (BN 64).
 */
export function quantStreamWide(o: StreamOptions): string {
  const { format: f, BK, TM, dequant, emulate } = o;
  const WG = 128;
  const BN = 64;
  const C8 = BK / 8; // x vec4 per staged row
  const XL = (16 * TM * C8) / WG; // x vec4 per invocation per k-step
  const VPR = (BK * f.bits) / 128; // packed vec4 per weight row per k-step
  const RSW = WG / VPR; // weight rows per round of invocations
  const WL = BN / RSW; // packed vec4 per invocation per k-step
  const KV = kPerVec4(f.bits);
  if (!Number.isInteger(XL) || XL < 1 || !Number.isInteger(WL) || WL < 1) throw new Error(`quantStreamWide: BK ${BK} TM ${TM} does not tile 128 invocations`);
  const fields = [...range(WL).flatMap((l) => [`w${l}: vec4<u32>`, `s${l}: f32`, `z${l}: f32`]), ...range(XL).map((l) => `x${l}: vec4<u32>`)];
  const load = range(WL)
    .map((l) => `  { let n = min(nB + wr + ${l * RSW}u, p.N - 1u);
    t.w${l} = qw[n * (p.K / ${KV}u) + k0 / ${KV}u + wq];
    let g = (k0 + wq * ${KV}u) / GS;
    t.s${l} = f32(qs[n * (p.K / GS) + g]); t.z${l} = ${zeroExpr(f, 'n', 'g')}; }`)
    .join('\n');
  const loadX = range(XL).map((l) => `  t.x${l} = xAt(xr + ${(l * WG) / C8}u, k0 / 8u + xq);`).join('\n');
  const put = range(WL)
    .flatMap((l) =>
      chunkWords(f.bits, `t.w${l}`).map((c, i) => {
        const o2 = `(wr + ${l * RSW}u) * LDS + wq * ${KV}u + ${8 * i}u`;
        const st = range(8).map((e) => `Bs[o + ${e}u] = h[${e}];`).join(' ');
        return `  { let h = deqChunk(${c}, t.z${l}, t.s${l}); let o = ${o2};\n    ${st} }`;
      }),
    )
    .join('\n');
  const putX = range(XL).map((l) => `  putA((xr + ${(l * WG) / C8}u) * LDS + xq * 8u, t.x${l});`).join('\n');
  const mma = range(BK / 16)
    .map(
      (i) => `    {
      let b = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDS + ${16 * i}u, LDS);
      c0 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ${16 * i}u, LDS), b, c0);
${TM === 2 ? `      c1 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, 16u * LDS + ${16 * i}u, LDS), b, c1);` : ''}
    }`,
    )
    .join('\n');
  return `enable f16;
${emulate ? '' : 'enable chromium_experimental_subgroup_matrix;\ndiagnostic(off, chromium.subgroup_matrix_uniformity);'}
override GS: u32 = ${f.groupSize}u;
const BM = ${16 * TM}u;
const BN = ${BN}u;
const BK = ${BK}u;
const LDS = BK + 8u;
struct Params { M: u32, N: u32, K: u32, segLen: u32, numSeg: u32, tilesM: u32, tilesN: u32, zero: u32 }
${bindings(f, 'var<storage, read_write> part: array<f32>;')}
var<workgroup> As: array<f16, BM * LDS>;
var<workgroup> Bs: array<f16, BN * LDS>;
//#include sgm_workgroup
//#if EMULATE
//#replace subgroupMatrixStore<row_major>(&part, => emuStorePart(
fn emuStorePart(off: u32, c: MatC, stride: u32) {
  for (var i = 0u; i < 8u + z(); i++) {
    let e = lane + 32u * i;
    part[off + (e / 16u) * stride + e % 16u] = c.v[i];
  }
}
//#endif
//#if SGM_BOOL
//#replace subgroupMatrixStore<row_major>(&part, => boolStorePart(
fn boolStorePart(off: u32, c: MatC, stride: u32) { subgroupMatrixStore(&part, off, c, false, stride); }
//#endif
//#include linear_stage
${dequantFns(f, dequant)}
// One k-step's raw packed words (with their groups' scale and zero) and x, loaded ahead.
struct Step { ${fields.join(', ')} }
fn loadStep(k0: u32, nB: u32, wr: u32, wq: u32, xr: u32, xq: u32) -> Step {
  var t: Step;
${load}
${loadX}
  return t;
}
fn putStep(t: Step, wr: u32, wq: u32, xr: u32, xq: u32) {
${put}
${putX}
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
${emulate ? '  lane = lid % 32u;' : ''}
  let sg = lid / 32u;
  let t = wid.x + wid.y * nwg.x;
  if (t >= p.tilesN * p.numSeg) { return; }
  let nB = (t % p.tilesN) * BN;
  let seg = t / p.tilesN;
  let kBeg = seg * p.segLen;
  let kEnd = min(kBeg + p.segLen, p.K);
  let bn = sg * 16u;
  let wr = lid / ${VPR}u;
  let wq = lid % ${VPR}u;
  let xr = lid / ${C8}u;
  let xq = lid % ${C8}u;
  var c0 = MatC();
${TM === 2 ? '  var c1 = MatC();' : ''}
  var sb = loadStep(kBeg, nB, wr, wq, xr, xq);
  var sc = sb;
  if (kBeg + BK < kEnd) { sc = loadStep(kBeg + BK, nB, wr, wq, xr, xq); }
  for (var k0 = kBeg; k0 < kEnd; k0 += 2u * BK) {
    workgroupBarrier();
    putStep(sb, wr, wq, xr, xq);
    workgroupBarrier();
    if (k0 + 2u * BK < kEnd) { sb = loadStep(k0 + 2u * BK, nB, wr, wq, xr, xq); }
${mma}
    if (k0 + BK < kEnd) {
      workgroupBarrier();
      putStep(sc, wr, wq, xr, xq);
      workgroupBarrier();
      if (k0 + 3u * BK < kEnd) { sc = loadStep(k0 + 3u * BK, nB, wr, wq, xr, xq); }
${mma}
    }
  }
  if (nB + bn < p.N) {
    let o = seg * BM * p.N + nB + bn;
    subgroupMatrixStore<row_major>(&part, o, c0, p.N);
${TM === 2 ? '    subgroupMatrixStore<row_major>(&part, o + 16u * p.N, c1, p.N);' : ''}
  }
}
`;
}

export interface GemvOptions {
  readonly format: QuantFormat;
  /** Weight rows per 32-lane row group. */
  readonly RS: 1 | 2 | 4;
  /** Packed vec4 per row per lane per trip. */
  readonly U: 1 | 2 | 4;
  /** x rows held (≥ M, ≤ 8). */
  readonly MR: number;
  /** subgroupAdd over exactly 32-lane subgroups; else a workgroup-memory sum. */
  readonly sgReduce: boolean;
}

/** Row groups (of 32 lanes) per workgroup of the wide GEMV: its grid is ceil(N / (GEMV_GROUPS · RS)). */
export const GEMV_GROUPS = 4;

/** The wide dequantizing GEMV (fast mode): out [M, N] f16, no bias. Grid: grid(ceil(N / (4·RS))). */
export function quantGemvWide(o: GemvOptions): string {
  const { format: f, RS, U, MR, sgReduce } = o;
  const KV = kPerVec4(f.bits);
  const CH = KV / 8; // 8-k chunks per vec4
  const regs = range(RS).flatMap((r) => range(U).map((u) => [r, u] as const));
  const loads = regs
    .map(
      ([r, u]) => `    { let c = c0 + ${u * 32}u; let cc = min(c, nv - 1u);
      w${r}_${u} = select(vec4<u32>(), qw[n${r} * nv + cc], c < nv);
      let g = (cc * ${KV}u) / GS;
      s${r}_${u} = f32(qs[n${r} * (p.K / GS) + g]); z${r}_${u} = ${zeroExpr(f, `n${r}`, 'g')}; }`,
    )
    .join('\n');
  // Per (u, chunk): x rows as f32 once, then every weight row's chunk dequantized once for all x rows.
  const math = range(U)
    .flatMap((u) =>
      range(CH).map((i) => {
        const rows = range(RS)
          .map((r) => {
            const c = f.bits === 4 ? `vec2<u32>(w${r}_${u}[${i}], 0u)` : `vec2<u32>(w${r}_${u}[${2 * i}], w${r}_${u}[${2 * i + 1}])`;
            return `      { let h = deqChunk(${c}, z${r}_${u}, s${r}_${u});
        let wa = vec4<f32>(f32(h[0]), f32(h[1]), f32(h[2]), f32(h[3]));
        let wb = vec4<f32>(f32(h[4]), f32(h[5]), f32(h[6]), f32(h[7]));
        for (var m = 0u; m < MR; m++) { acc[${r}u * MR + m] += dot(xa[m], wa) + dot(xb[m], wb); } }`;
          })
          .join('\n');
        return `    { let xc = (c0 + ${u * 32}u) * ${CH}u + ${i}u;
      for (var m = 0u; m < MR; m++) {
        let v = select(vec4<u32>(), x[min(m, p.M - 1u) * (p.K / 8u) + min(xc, p.K / 8u - 1u)], m < p.M && xc < p.K / 8u);
        xa[m] = vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y));
        xb[m] = vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w));
      }
${rows}
    }`;
      }),
    )
    .join('\n');
  const reduce = sgReduce
    ? `  for (var i = 0u; i < ${RS}u * MR; i++) {
    let v = subgroupAdd(acc[i]);
    let n = nBase + i / MR;
    let m = i % MR;
    if (j == 0u && n < p.N && m < p.M) { out[m * p.N + n] = f16(v); }
  }`
    : `  for (var i = 0u; i < ${RS}u * MR; i++) { red[(grp * ${RS}u * MR + i) * 32u + j] = acc[i]; }
  workgroupBarrier();
  if (j < ${RS}u * MR) {
    var v = 0.0;
    for (var l = 0u; l < 32u; l++) { v += red[(grp * ${RS}u * MR + j) * 32u + l]; }
    let n = nBase + j / MR;
    let m = j % MR;
    if (n < p.N && m < p.M) { out[m * p.N + n] = f16(v); }
  }`;
  return `enable f16;
${sgReduce ? 'enable subgroups;' : ''}
override GS: u32 = ${f.groupSize}u;
const MR = ${MR}u;
struct Params { M: u32, N: u32, K: u32, pad: u32 }
${bindings(f, 'var<storage, read_write> out: array<f16>;')}
${sgReduce ? '' : `var<workgroup> red: array<f32, ${GEMV_GROUPS * RS * MR * 32}>;`}
${dequantFns(f, 'h')}

@compute @workgroup_size(${GEMV_GROUPS * 32})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let grp = lid / 32u;
  let j = lid % 32u;
  let nBase = ((wid.x + wid.y * nwg.x) * ${GEMV_GROUPS}u + grp) * ${RS}u;
${range(RS).map((r) => `  let n${r} = min(nBase + ${r}u, p.N - 1u);`).join('\n')}
  let nv = p.K / ${KV}u;                     // packed vec4 per row
  var acc: array<f32, ${RS * MR}>;
  var xa: array<vec4<f32>, ${MR}>;
  var xb: array<vec4<f32>, ${MR}>;
${regs.map(([r, u]) => `  var w${r}_${u}: vec4<u32>; var s${r}_${u}: f32; var z${r}_${u}: f32;`).join('\n')}
  for (var c0 = j; c0 < nv + j; c0 += ${32 * U}u) {   // the same trip count in every lane
${loads}
${math}
  }
${reduce}
}
`;
}
