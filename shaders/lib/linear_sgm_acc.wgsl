// Accumulator side of the tensor-core linear kernels (linear_subgroup_matrix, _direct; block and stream
// take its emulation through lib/sgm_workgroup): the 16×16 f32
// tile MatC, zeroC, mma and z() (storeC: lib/linear_store_c).
// The including shader declares MatA, MatB and Params.zero; under EMULATE also
// aAt(a, row, k) and bAt(b, k, col), the f16 operand elements the emulated mma reads.
//#if EMULATE
struct MatC { v: array<f32, 8> }                 // lane owns elements e = lane + 32·i (row e/16, col e%16)
var<private> lane: u32;
fn z() -> u32 { return p.zero; }                  // loop bounds + z(): unrolled on GPUs, not by lavapipe
fn zeroC() -> MatC { return MatC(array<f32, 8>()); }
fn mma(a: MatA, b: MatB, c: MatC) -> MatC {
  var r = c;
  for (var i = 0u; i < 8u + z(); i++) {
    let e = lane + 32u * i;
    var s = 0.0;
    for (var k = 0u; k < 16u + z(); k++) {
      s = fma(f32(aAt(a, e / 16u, k)), f32(bAt(b, k, e % 16u)), s);
    }
    r.v[i] = r.v[i] + s;
  }
  return r;
}
//#else
alias MatC = subgroup_matrix_result<f32, 16, 16>;
fn z() -> u32 { return 0u; }
fn zeroC() -> MatC { return MatC(); }
fn mma(a: MatA, b: MatB, c: MatC) -> MatC { return subgroupMatrixMultiplyAccumulate(a, b, c); }
//#endif
