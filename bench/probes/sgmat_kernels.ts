// WGSL generators for bench/probes/sgmat_ceiling.ts (experiments, not tknp kernels). Template
// spelling of the subgroup-matrix builtins (current Dawn); unrolled by generation, so every
// matrix lives in its own variable.
export const HEADER = `enable f16;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
alias MatA = subgroup_matrix_left<f16, 16, 16>;
alias MatB = subgroup_matrix_right<f16, 16, 16>;
alias MatC = subgroup_matrix_result<f32, 16, 16>;
struct P { a: u32, b: u32, c: u32, d: u32 }
`;

export const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** WGSL storing the 8 f16 of vec4<u32> `v` into `dst[off ..]` (the staging every probe GEMM does). */
export function putF16(dst: string, off: string, v: string): string {
  return `{ let o = ${off}; let h0 = bitcast<vec2<f16>>(${v}.x); let h1 = bitcast<vec2<f16>>(${v}.y); let h2 = bitcast<vec2<f16>>(${v}.z); let h3 = bitcast<vec2<f16>>(${v}.w);
      ${dst}[o] = h0.x; ${dst}[o + 1u] = h0.y; ${dst}[o + 2u] = h1.x; ${dst}[o + 3u] = h1.y; ${dst}[o + 4u] = h2.x; ${dst}[o + 5u] = h2.y; ${dst}[o + 6u] = h3.x; ${dst}[o + 7u] = h3.y; }`;
}

/** Multiply-accumulate ceilings: p.a iterations of `nacc` independent chains per subgroup. */
export function mmaKernel(kind: 'mma' | 'ld-st' | 'ld-wg', sgs: number, nacc: number): string {
  const wg = 32 * sgs;
  const srcName = kind === 'ld-wg' ? 'wsrc' : 'src';
  return `${HEADER}
@group(0) @binding(0) var<storage, read> src: array<f16>;
@group(0) @binding(1) var<storage, read_write> sink: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
var<workgroup> wsrc: array<f16, 4096>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let sg = lid / 32u;
  ${kind === 'ld-wg' ? `for (var i = lid; i < 4096u; i += ${wg}u) { wsrc[i] = src[i]; }\n  workgroupBarrier();` : ''}
  var a = subgroupMatrixLoad<MatA, row_major>(&src, (sg % 4u) * 256u, 16u);
  var b = subgroupMatrixLoad<MatB, col_major>(&src, (sg % 4u) * 256u + 2048u, 16u);
  ${range(nacc).map((i) => `var c${i} = MatC();`).join(' ')}
  for (var i = 0u; i < p.a; i++) {
    ${kind === 'mma' ? '' : `let o = ((i + sg) & 7u) * 256u;
    a = subgroupMatrixLoad<MatA, row_major>(&${srcName}, o, 16u);
    b = subgroupMatrixLoad<MatB, col_major>(&${srcName}, o + 2048u, 16u);`}
    ${range(nacc).map((i) => `c${i} = subgroupMatrixMultiplyAccumulate(a, b, c${i});`).join('\n    ')}
  }
  let base = (wid.x * ${sgs}u + sg) * ${nacc}u * 256u;
  ${range(nacc).map((i) => `subgroupMatrixStore<row_major>(&sink, base + ${i * 256}u, c${i}, 16u);`).join('\n  ')}
}
`;
}

export interface GemmKernel {
  readonly label: string;
  readonly code: string;
  readonly BM: number;
  readonly BN: number;
}

function storeTiles(tm: number, tn: number): string {
  return range(tm)
    .flatMap((i) => range(tn).map((j) => `subgroupMatrixStore<row_major>(&out, (m0 + ${16 * i}u) * p.b + n0 + ${16 * j}u, c${i}_${j}, p.b);`))
    .join('\n  ');
}

function mmas(tm: number, tn: number): string {
  return range(tm)
    .flatMap((i) => range(tn).map((j) => `c${i}_${j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, c${i}_${j});`))
    .join('\n    ');
}

const ACC = (tm: number, tn: number) => range(tm).flatMap((i) => range(tn).map((j) => `var c${i}_${j} = MatC();`)).join(' ');

/** out[M,N] f32 = x[M,K]·w[N,K]ᵀ, matrix loads straight from storage; p = (M, N, K). */
export function gemmDirect(tm: number, tn: number, sgm: number, sgn: number): GemmKernel {
  const BM = 16 * tm * sgm, BN = 16 * tn * sgn;
  const code = `${HEADER}
@group(0) @binding(0) var<storage, read> x: array<f16>;
@group(0) @binding(1) var<storage, read> w: array<f16>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${32 * sgm * sgn})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let sg = lid / 32u;
  let m0 = wid.y * ${BM}u + (sg / ${sgn}u) * ${16 * tm}u;
  let n0 = wid.x * ${BN}u + (sg % ${sgn}u) * ${16 * tn}u;
  let K = p.c;
  ${ACC(tm, tn)}
  for (var k = 0u; k < K; k += 16u) {
    ${range(tm).map((i) => `let a${i} = subgroupMatrixLoad<MatA, row_major>(&x, (m0 + ${16 * i}u) * K + k, K);`).join('\n    ')}
    ${range(tn).map((j) => `let b${j} = subgroupMatrixLoad<MatB, col_major>(&w, (n0 + ${16 * j}u) * K + k, K);`).join('\n    ')}
    ${mmas(tm, tn)}
  }
  ${storeTiles(tm, tn)}
}
`;
  return { label: `gemm direct ${16 * tm}x${16 * tn}/sg ${sgm}x${sgn}sg`, code, BM, BN };
}

/**
 * Staged GEMM, out[M,N] f32 = x[M,K]·w[N,K]ᵀ through workgroup memory (rows padded by 8 f16), one k-step of
 * operands in registers ahead: `stage` 'vec4' (invocations load vec4<u32>, store 8 f16 scalars) or
 * 'sgm' (subgroups load 16×16 operand tiles with matrix loads and store them with matrix stores);
 * `bufs` 2: double-buffered workgroup memory, one barrier per k-step.
 */
export function gemmStaged2(c: { BM: number; BN: number; BK: number; SGM: number; SGN: number; stage: 'vec4' | 'sgm'; bufs: 1 | 2 }): GemmKernel {
  const { BM, BN, BK, SGM, SGN, stage, bufs } = c;
  const nsg = SGM * SGN;
  const wg = 32 * nsg;
  const tm = BM / SGM / 16, tn = BN / SGN / 16;
  const lds = BK + 8;
  const c8 = BK / 8;
  const aSize = BM * lds, bSize = BN * lds;
  // Staging units per invocation (vec4) or per subgroup (16×16 tiles).
  const la = stage === 'vec4' ? (BM * c8) / wg : ((BM / 16) * (BK / 16)) / nsg;
  const lb = stage === 'vec4' ? (BN * c8) / wg : ((BN / 16) * (BK / 16)) / nsg;
  if (![la, lb, tm, tn].every((v) => Number.isInteger(v) && v > 0)) throw new Error(`bad staged config ${JSON.stringify(c)}`);
  const regT = (w: 'a' | 'b') => (stage === 'vec4' ? 'vec4<u32>' : w === 'a' ? 'MatA' : 'MatB');
  const load = (w: 'a' | 'b', l: number) => {
    if (stage === 'vec4') {
      const [src, base] = w === 'a' ? ['x', 'mB'] : ['w', 'nB'];
      return `{ let i = lid + ${l * wg}u; r${w}${l} = ${src}[(${base} + i / ${c8}u) * K8 + kv / 8u + i % ${c8}u]; }`;
    }
    const kt = BK / 16;
    return w === 'a'
      ? `{ let t = sg + ${l * nsg}u; ra${l} = subgroupMatrixLoad<MatA, row_major>(&x, (mB + (t / ${kt}u) * 16u) * K + kv + (t % ${kt}u) * 16u, K); }`
      : `{ let t = sg + ${l * nsg}u; rb${l} = subgroupMatrixLoad<MatB, col_major>(&w, (nB + (t / ${kt}u) * 16u) * K + kv + (t % ${kt}u) * 16u, K); }`;
  };
  const store = (w: 'a' | 'b', l: number, buf: string) => {
    const dst = w === 'a' ? 'As' : 'Bs';
    const size = w === 'a' ? aSize : bSize;
    if (stage === 'vec4') {
      return `{ let i = lid + ${l * wg}u; ${putF16(dst, `${buf} * ${size}u + (i / ${c8}u) * ${lds}u + (i % ${c8}u) * 8u`, `r${w}${l}`)} }`;
    }
    const kt = BK / 16;
    const layout = w === 'a' ? 'row_major' : 'col_major';
    return `{ let t = sg + ${l * nsg}u; subgroupMatrixStore<${layout}>(&${dst}, ${buf} * ${size}u + (t / ${kt}u) * 16u * ${lds}u + (t % ${kt}u) * 16u, r${w}${l}, ${lds}u); }`;
  };
  const loadAll = () => [...range(la).map((l) => load('a', l)), ...range(lb).map((l) => load('b', l))].join('\n    ');
  const storeAll = (buf: string) => [...range(la).map((l) => store('a', l, buf)), ...range(lb).map((l) => store('b', l, buf))].join('\n    ');
  const compute = (buf: string) =>
    range(BK / 16)
      .map(
        (kk) => `{
    ${range(tm).map((i) => `let a${i} = subgroupMatrixLoad<MatA, row_major>(&As, ${buf} * ${aSize}u + (am + ${16 * i}u) * ${lds}u + ${16 * kk}u, ${lds}u);`).join('\n    ')}
    ${range(tn).map((j) => `let b${j} = subgroupMatrixLoad<MatB, col_major>(&Bs, ${buf} * ${bSize}u + (bn + ${16 * j}u) * ${lds}u + ${16 * kk}u, ${lds}u);`).join('\n    ')}
    ${mmas(tm, tn)}
    }`,
      )
      .join('\n    ');
  const loop =
    bufs === 1
      ? `for (var k0 = 0u; k0 < K; k0 += ${BK}u) {
    workgroupBarrier();
    ${storeAll('0u')}
    workgroupBarrier();
    if (k0 + ${BK}u < K) {
      kv = k0 + ${BK}u;
      ${loadAll()}
    }
    ${compute('0u')}
  }`
      : `${storeAll('0u')}
  if (${BK}u < K) { kv = ${BK}u; ${loadAll()} }
  workgroupBarrier();
  var cur = 0u;
  for (var k0 = 0u; k0 < K; k0 += ${BK}u) {
    ${compute('cur')}
    if (k0 + ${BK}u < K) {
      ${storeAll('(cur ^ 1u)')}
      if (k0 + ${2 * BK}u < K) { kv = k0 + ${2 * BK}u; ${loadAll()} }
    }
    workgroupBarrier();
    cur ^= 1u;
  }`;
  const code = `${HEADER}
@group(0) @binding(0) var<storage, read> x: array<${stage === 'vec4' ? 'vec4<u32>' : 'f16'}>;
@group(0) @binding(1) var<storage, read> w: array<${stage === 'vec4' ? 'vec4<u32>' : 'f16'}>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
var<workgroup> As: array<f16, ${bufs * aSize}>;
var<workgroup> Bs: array<f16, ${bufs * bSize}>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let sg = lid / 32u;
  let mB = wid.y * ${BM}u;
  let nB = wid.x * ${BN}u;
  let am = (sg / ${SGN}u) * ${16 * tm}u;
  let bn = (sg % ${SGN}u) * ${16 * tn}u;
  let m0 = mB + am;
  let n0 = nB + bn;
  let K = p.c;
  let K8 = K / 8u;
  ${range(la).map((l) => `var ra${l}: ${regT('a')};`).join(' ')}
  ${range(lb).map((l) => `var rb${l}: ${regT('b')};`).join(' ')}
  var kv = 0u;
  ${loadAll()}
  ${ACC(tm, tn)}
  ${loop}
  ${storeTiles(tm, tn)}
}
`;
  return { label: `gemm ${stage}x${bufs} ${BM}x${BN}x${BK} ${SGM}x${SGN}sg (${16 * tm}x${16 * tn}/sg)`, code, BM, BN };
}

/**
 * Production-like block GEMM (128×128×64, 2×4 subgroups of 64×32) with the costs the real kernel adds,
 * one switch each: `fold` (K in segments of 512, each segment's tiles added to per-lane f32 totals through
 * workgroup memory, totals stored at the end), `guards` (bounds checks on the global loads), `busy`
 * (matrix ops under a per-subgroup branch), `loop` (the 16-wide k-steps as a runtime loop, not unrolled).
 */
export function gemmBlock(o: { fold: boolean; guards: boolean; busy: boolean; loop: boolean }): GemmKernel {
  const BM = 128, BN = 128, BK = 64, lds = 72, c8 = 8, wg = 256;
  const ld = (src: string, row: string, l: number) =>
    o.guards
      ? `select(vec4<u32>(), ${src}[min(${row} + ${l * 32}u, p.a - 1u) * K8 + kv / 8u + kq], ${row} + ${l * 32}u < p.a && kv / 8u + kq < K8)`
      : `${src}[(${row} + ${l * 32}u) * K8 + kv / 8u + kq]`;
  const loads = () => range(4).map((l) => `xa${l} = ${ld('x', 'mB + r0', l)}; wb${l} = ${ld('w', 'nB + r0', l)};`).join('\n    ');
  const stores = range(4).map((l) => `${putF16('As', `so + ${l * 32 * lds}u`, `xa${l}`)}\n    ${putF16('Bs', `so + ${l * 32 * lds}u`, `wb${l}`)}`).join('\n    ');
  const body = (kk: string) => `{
      ${range(4).map((i) => `let a${i} = subgroupMatrixLoad<MatA, row_major>(&As, (am + ${16 * i}u) * ${lds}u + ${kk}, ${lds}u);`).join('\n      ')}
      ${range(2).map((j) => `let b${j} = subgroupMatrixLoad<MatB, col_major>(&Bs, (bn + ${16 * j}u) * ${lds}u + ${kk}, ${lds}u);`).join('\n      ')}
      ${mmas(4, 2)}
    }`;
  const compute = o.loop ? `for (var kk = 0u; kk < ${BK}u; kk += 16u) { if (k0 + kk < K) ${body('kk')} }` : range(BK / 16).map((kk) => body(`${16 * kk}u`)).join('\n    ');
  const tiles = range(4).flatMap((i) => range(2).map((j) => `${i}_${j}`));
  const foldCode = `if ((k0 + ${BK}u) % 512u == 0u || k0 + ${BK}u >= K) {
      ${tiles.map((t) => `{ subgroupMatrixStore<row_major>(&cs, sg * 256u, c${t}, 16u); workgroupBarrier(); let q = sg * 256u + ln;
        t${t}a += vec4(cs[q], cs[q + 32u], cs[q + 64u], cs[q + 96u]); t${t}b += vec4(cs[q + 128u], cs[q + 160u], cs[q + 192u], cs[q + 224u]); workgroupBarrier(); c${t} = MatC(); }`).join('\n      ')}
    }`;
  const emit = tiles
    .map((t) => {
      const [i, j] = t.split('_').map(Number);
      return `for (var e = 0u; e < 8u; e++) { let idx = ln + 32u * e; let v = select(t${t}b[e % 4u], t${t}a[e % 4u], e < 4u); out[(m0 + ${16 * i}u + idx / 16u) * p.b + n0 + ${16 * j}u + idx % 16u] = v; }`;
    })
    .join('\n  ');
  const code = `${HEADER}
@group(0) @binding(0) var<storage, read> x: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
var<workgroup> As: array<f16, ${BM * lds}>;
var<workgroup> Bs: array<f16, ${BN * lds}>;
${o.fold ? 'var<workgroup> cs: array<f32, 2048>;' : ''}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let sg = lid / 32u;
  let ln = lid % 32u;
  let mB = wid.y * ${BM}u;
  let nB = wid.x * ${BN}u;
  let am = (sg / 4u) * 64u;
  let bn = (sg % 4u) * 32u;
  let m0 = mB + am;
  let n0 = nB + bn;
  let K = p.c;
  let K8 = K / 8u;
  let r0 = lid / ${c8}u;
  let kq = lid % ${c8}u;
  let so = r0 * ${lds}u + kq * 8u;
  let busy = m0 < p.a && n0 < p.b;
  var kv = 0u;
  var xa0: vec4<u32>; var xa1: vec4<u32>; var xa2: vec4<u32>; var xa3: vec4<u32>;
  var wb0: vec4<u32>; var wb1: vec4<u32>; var wb2: vec4<u32>; var wb3: vec4<u32>;
  ${loads()}
  ${ACC(4, 2)}
  ${o.fold ? tiles.map((t) => `var t${t}a = vec4<f32>(); var t${t}b = vec4<f32>();`).join(' ') : ''}
  for (var k0 = 0u; k0 < K; k0 += ${BK}u) {
    workgroupBarrier();
    ${stores}
    workgroupBarrier();
    if (k0 + ${BK}u < K) {
      kv = k0 + ${BK}u;
      ${loads()}
    }
    ${o.busy ? `if (busy) { ${compute} }` : compute}
    ${o.fold ? foldCode : ''}
  }
  ${o.fold ? emit : storeTiles(4, 2)}
}
`;
  const tag = Object.entries(o).filter(([, v]) => v).map(([k]) => k).join('+') || 'plain';
  return { label: `gemm block ${tag}`, code, BM, BN };
}
