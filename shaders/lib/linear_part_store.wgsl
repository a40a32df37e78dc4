// Matrix stores of partial sums (linear_subgroup_matrix_stream, the block kernel under PAR):
// they spell `subgroupMatrixStore<row_major>(&part, off, c, stride)`; EMULATE and SGM_BOOL replace that
// spelling (lib/sgm_workgroup's scheme) by the functions below. Needs `part: array<f32>` and, under EMULATE,
// lib/sgm_workgroup's MatC, lane and z().
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
