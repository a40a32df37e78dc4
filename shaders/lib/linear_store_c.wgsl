// storeC(off, c): one 16×16 f32 tile to workgroup memory `cs`, row-major, stride 16 (the folds of
// linear_subgroup_matrix and _direct). Include after lib/linear_sgm_acc; the including shader declares `cs`.
//#if EMULATE
fn storeC(off: u32, c: MatC) {
  for (var i = 0u; i < 8u + z(); i++) { cs[off + lane + 32u * i] = c.v[i]; }
}
//#else
//#if SGM_BOOL
fn storeC(off: u32, c: MatC) { subgroupMatrixStore(&cs, off, c, false, 16u); }
//#else
fn storeC(off: u32, c: MatC) { subgroupMatrixStore<row_major>(&cs, off, c, 16u); }
//#endif
//#endif
