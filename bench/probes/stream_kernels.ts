// WGSL generator for bench/probes/sgmat_ceiling.ts's decode weight-stream variants (experiments, not
// tknp kernels): a tensor-core GEMV over 16 rows of x, one K segment per workgroup.
import { HEADER, putF16, range } from './sgmat_kernels.js';

export interface GemvKernel {
  readonly label: string;
  readonly code: string;
  readonly BN: number;
}

/**
 * Decode weight stream on tensor cores: x is 16 rows (row 0 real), w [N, K]; workgroup = BN columns × one
 * K segment of segLen; writes partials [numSeg, 16, N] f32 with matrix stores (the fold is not timed).
 * `xFrom` 'stage' (x staged with w) or 'global' (A loaded straight from x, small and cache-resident);
 * `depth` 1 or 2 k-steps of w in registers ahead.
 */
export function gemvStream(o: { BN: 64 | 128; xFrom: 'stage' | 'global'; depth: 1 | 2 }): GemvKernel {
  const { BN, xFrom, depth } = o;
  const BK = 64, lds = 72, c8 = 8;
  const nsg = BN / 16;
  const wg = 32 * nsg;
  const rs = wg / c8; // rows per vec4 round
  const wl = BN / rs; // vec4 of w per invocation per k-step
  const regs = (set: number) => range(wl).map((l) => `w${set}_${l}`);
  const loadSet = (set: number, k: string) => regs(set).map((r, l) => `${r} = w[(nB + r0 + ${l * rs}u) * K8 + (${k}) / 8u + kq];`).join(' ');
  const putX = `if (lid < 128u) { let v = xv[(lid / 8u) * K8 + k0 / 8u + lid % 8u]; ${putF16('As', `(lid / 8u) * ${lds}u + (lid % 8u) * 8u`, 'v')} }`;
  const stash = regs(0).map((r, l) => putF16('Bs', `so + ${l * rs * lds}u`, r)).join('\n    ');
  const aLoad = (kk: number) => (xFrom === 'stage' ? `subgroupMatrixLoad<MatA, row_major>(&As, ${16 * kk}u, ${lds}u)` : `subgroupMatrixLoad<MatA, row_major>(&xs, k0 + ${16 * kk}u, K)`);
  const compute = range(BK / 16)
    .map((kk) => `c = subgroupMatrixMultiplyAccumulate(${aLoad(kk)}, subgroupMatrixLoad<MatB, col_major>(&Bs, bn * ${lds}u + ${16 * kk}u, ${lds}u), c);`)
    .join('\n    ');
  const shift = depth === 2 ? `${regs(0).map((r, l) => `${r} = ${regs(1)[l]};`).join(' ')}\n      if (k0 + ${2 * BK}u < kEnd) { ${loadSet(1, `k0 + ${2 * BK}u`)} }` : `${loadSet(0, `k0 + ${BK}u`)}`;
  const code = `${HEADER}
@group(0) @binding(0) var<storage, read> xs: array<f16>;
@group(0) @binding(1) var<storage, read> xv: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
var<workgroup> Bs: array<f16, ${BN * lds}>;
var<workgroup> As: array<f16, ${16 * lds}>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  // p: a = N, b = K, c = segLen, d = tilesN
  _ = xs[0]; _ = xv[0];                            // both bindings in every variant's layout
  let sg = lid / 32u;
  let nB = (wid.x % p.d) * ${BN}u;
  let seg = wid.x / p.d;
  let K = p.b;
  let K8 = K / 8u;
  let kBeg = seg * p.c;
  let kEnd = min(kBeg + p.c, K);
  let bn = sg * 16u;
  let r0 = lid / ${c8}u;
  let kq = lid % ${c8}u;
  let so = r0 * ${lds}u + kq * 8u;
  ${range(depth).flatMap((s) => regs(s)).map((r) => `var ${r}: vec4<u32>;`).join(' ')}
  ${loadSet(0, 'kBeg')}
  ${depth === 2 ? `if (kBeg + ${BK}u < kEnd) { ${loadSet(1, `kBeg + ${BK}u`)} }` : ''}
  var c = MatC();
  for (var k0 = kBeg; k0 < kEnd; k0 += ${BK}u) {
    workgroupBarrier();
    ${stash}
    ${xFrom === 'stage' ? putX : ''}
    workgroupBarrier();
    if (k0 + ${BK}u < kEnd) {
      ${shift}
    }
    ${compute}
  }
  subgroupMatrixStore<row_major>(&out, seg * 16u * p.a + nB + bn, c, p.a);
}
`;
  return { label: `gemv stream BN${BN} x-${xFrom} depth${depth}`, code, BN };
}
