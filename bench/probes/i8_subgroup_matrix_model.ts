// The probe's shaders and its CPU model (bench/probes/i8_subgroup_matrix.ts runs them): one subgroup of 32
// loads an i8 left matrix A (16×32) and right matrix B (32×16) from the same 16 KiB of distinct-looking
// bytes (an array<i32, 4096>, in storage or copied to workgroup memory) at offsets and strides given in a
// uniform, multiplies them into an i32 result C (16×16) and stores C twice: row-major at word 0 (stride 16)
// and column-major at word 512 + offC (stride strideC). The CPU then predicts C under every hypothesis of
// what Dawn's offset and stride count (bytes = i8 elements, or i32 words = elements of the array) and of the
// operand's layout (as declared, or transposed), and reports which hypotheses give the bits read back.
// The calls are spelt like shaders/w8a8_linear_sgm.wgsl's (template form; SGM_BOOL wrappers where this Dawn
// has the bool form; EMULATE: plain WGSL of the kernel's assumption, bytes, for a self-test on lavapipe),
// and the text goes through the project's preprocessor with the defines Gpu.pipeline would add.

export type Major = 'row_major' | 'col_major';
export type Space = 'storage' | 'workgroup';
export const WORDS = 4096; // the source array: 16 KiB
export const OUT_WORDS = 1024;
export const COL_STORE_AT = 512;

export interface Pipe {
  readonly space: Space;
  readonly aMajor: Major;
  readonly bMajor: Major;
}

export interface Case {
  readonly offA: number;
  readonly strideA: number;
  readonly offB: number;
  readonly strideB: number;
  readonly offC: number;
  readonly strideC: number;
}

const other = (m: Major): Major => (m === 'row_major' ? 'col_major' : 'row_major');

/** WGSL (before preprocessing) of one pipeline: majorness is a template argument, so one per layout. */
export function probeShader(p: Pipe): string {
  const mem = p.space === 'storage' ? 'src' : 'ws';
  const colA = p.aMajor === 'col_major';
  const colB = p.bMajor === 'col_major';
  return `//#if !EMULATE
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
//#endif
struct P { offA: u32, strideA: u32, offB: u32, strideB: u32, offC: u32, strideC: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> src: array<i32, ${WORDS}>;
@group(0) @binding(1) var<storage, read_write> out: array<i32, ${OUT_WORDS}>;
@group(0) @binding(2) var<uniform> p: P;
${p.space === 'workgroup' ? `var<workgroup> ws: array<i32, ${WORDS}>;` : ''}
//#if EMULATE
struct MatA { off: u32, stride: u32 }
struct MatB { off: u32, stride: u32 }
struct MatC { v: array<i32, 8> }           // lane owns elements e = lane + 32·i (row e/16, col e%16)
var<private> lane: u32;
fn loadA(off: u32, stride: u32) -> MatA { return MatA(off, stride); }
fn loadB(off: u32, stride: u32) -> MatB { return MatB(off, stride); }
fn at(o: u32) -> i32 { return (${mem}[o / 4u] << (24u - 8u * (o % 4u))) >> 24u; }
fn aAt(a: MatA, r: u32, k: u32) -> i32 { return at(a.off + ${colA ? 'k * a.stride + r' : 'r * a.stride + k'}); }
fn bAt(b: MatB, k: u32, c: u32) -> i32 { return at(b.off + ${colB ? 'c * b.stride + k' : 'k * b.stride + c'}); }
fn mma(a: MatA, b: MatB) -> MatC {
  var r = MatC();
  for (var i = 0u; i < 8u; i++) {
    let e = lane + 32u * i;
    for (var k = 0u; k < 32u; k++) { r.v[i] += aAt(a, e / 16u, k) * bAt(b, k, e % 16u); }
  }
  return r;
}
fn storeRow(c: MatC) { for (var i = 0u; i < 8u; i++) { let e = lane + 32u * i; out[(e / 16u) * 16u + e % 16u] = c.v[i]; } }
fn storeCol(off: u32, c: MatC, stride: u32) { for (var i = 0u; i < 8u; i++) { let e = lane + 32u * i; out[off + (e % 16u) * stride + e / 16u] = c.v[i]; } }
//#else
alias MatA = subgroup_matrix_left<i8, 32, 16>;
alias MatB = subgroup_matrix_right<i8, 16, 32>;
alias MatC = subgroup_matrix_result<i32, 16, 16>;
fn mma(a: MatA, b: MatB) -> MatC { return subgroupMatrixMultiplyAccumulate(a, b, MatC()); }
//#if SGM_BOOL
fn loadA(off: u32, stride: u32) -> MatA { return subgroupMatrixLoad<MatA>(&${mem}, off, ${colA}, stride); }
fn loadB(off: u32, stride: u32) -> MatB { return subgroupMatrixLoad<MatB>(&${mem}, off, ${colB}, stride); }
fn storeRow(c: MatC) { subgroupMatrixStore(&out, 0u, c, false, 16u); }
fn storeCol(off: u32, c: MatC, stride: u32) { subgroupMatrixStore(&out, off, c, true, stride); }
//#else
fn loadA(off: u32, stride: u32) -> MatA { return subgroupMatrixLoad<MatA, ${p.aMajor}>(&${mem}, off, stride); }
fn loadB(off: u32, stride: u32) -> MatB { return subgroupMatrixLoad<MatB, ${p.bMajor}>(&${mem}, off, stride); }
fn storeRow(c: MatC) { subgroupMatrixStore<row_major>(&out, 0u, c, 16u); }
fn storeCol(off: u32, c: MatC, stride: u32) { subgroupMatrixStore<col_major>(&out, off, c, stride); }
//#endif
//#endif
@compute @workgroup_size(32)
fn main(@builtin(local_invocation_index) lid: u32) {
//#if EMULATE
  lane = lid;
//#endif
  ${p.space === 'workgroup' ? `for (var i = lid; i < ${WORDS}u; i += 32u) { ws[i] = src[i]; }\n  workgroupBarrier();` : ''}
  let c = mma(loadA(p.offA, p.strideA), loadB(p.offB, p.strideB));
  storeRow(c);
  storeCol(${COL_STORE_AT}u + p.offC, c, p.strideC);
}
`;
}

/** The source bytes: signed, hashed from the byte index (no period a wrong offset or stride could hit). */
export function sourceBytes(): Int8Array {
  const b = new Int8Array(WORDS * 4);
  for (let i = 0; i < b.length; i++) b[i] = (Math.imul(i + 1, 0x9e3779b1) >>> 24) - 128;
  return b;
}

/** What the offset and stride of a load might count, and how the operand might be laid out. */
export interface Hypothesis {
  readonly offsetUnit: 1 | 4; // bytes per unit of the offset argument
  readonly strideUnit: 1 | 4;
  readonly transposed: boolean; // read with the other majorness than declared
}

export const HYPOTHESES: readonly Hypothesis[] = [1, 4].flatMap((o) => [1, 4].flatMap((s) => [false, true].map((t) => ({ offsetUnit: o, strideUnit: s, transposed: t }) as Hypothesis)));

export function hypothesisName(h: Hypothesis): string {
  return `offset ${h.offsetUnit === 1 ? 'bytes' : 'words'}, stride ${h.strideUnit === 1 ? 'bytes' : 'words'}${h.transposed ? ', transposed' : ''}`;
}

/** The rows×cols operand (row-major values) a load reads under h; undefined where it would leave the source. */
export function gather(mem: Int8Array, rows: number, cols: number, major: Major, off: number, stride: number, h: Hypothesis): Int32Array | undefined {
  const m = h.transposed ? other(major) : major;
  const v = new Int32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const a = off * h.offsetUnit + (m === 'row_major' ? r * stride * h.strideUnit + c : c * stride * h.strideUnit + r);
      if (a >= mem.length) return undefined;
      v[r * cols + c] = mem[a];
    }
  }
  return v;
}

// a: [16, 32]; b: [32, 16] -> [16, 16] (exact in i32: |sum| <= 32 · 128²)
export function matmul(a: Int32Array, b: Int32Array): Int32Array {
  const c = new Int32Array(256);
  for (let r = 0; r < 16; r++) for (let n = 0; n < 16; n++) {
    let s = 0;
    for (let k = 0; k < 32; k++) s += a[r * 32 + k] * b[k * 16 + n];
    c[r * 16 + n] = s;
  }
  return c;
}

export const sameValues = (x: ArrayLike<number>, y: ArrayLike<number>): boolean => x.length === y.length && Array.prototype.every.call(x, (v: number, i: number) => v === y[i]);

export function transpose16(c: Int32Array): Int32Array {
  const t = new Int32Array(256);
  for (let r = 0; r < 16; r++) for (let n = 0; n < 16; n++) t[n * 16 + r] = c[r * 16 + n];
  return t;
}
