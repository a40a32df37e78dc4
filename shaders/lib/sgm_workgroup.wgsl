// Subgroup-matrix types for the linear kernels that stage operands in workgroup memory (block, stream):
// MatA, MatB (f16 16×16) and MatC (f32 16×16). The kernels call the builtins directly, in these spellings:
//   subgroupMatrixLoad<MatA, row_major>(&As, off, stride)   A[r][k] = As[off + r·stride + k]
//   subgroupMatrixLoad<MatB, col_major>(&Bs, off, stride)   B[k][n] = Bs[off + n·stride + k]
//   subgroupMatrixMultiplyAccumulate(a, b, c)      MatC()
// because on NVIDIA's driver WGSL functions that take or return matrices cost the block kernel 40%
// (bench/probes/sgmat_ceiling.ts). EMULATE and SGM_BOOL (older Dawn's spelling) replace those spellings
// (//#replace) by functions below: plain-WGSL stand-ins (each lane owns elements e = lane + 32·i of a
// tile, row e/16, col e%16; the multiply-accumulate is lib/linear_sgm_acc's), or wrappers (correct, slower).
// The including shader declares As, Bs (f16) and Params.zero, sets `lane` under EMULATE, and spells its
// own matrix stores the same way (its emulation uses `lane` and z() from here).
//#if EMULATE
//#replace subgroupMatrixLoad<MatA, row_major>(&As, => emuLoadA(
//#replace subgroupMatrixLoad<MatB, col_major>(&Bs, => emuLoadB(
//#replace subgroupMatrixMultiplyAccumulate( => mma(
struct MatA { off: u32, stride: u32 }            // A[r][k] = As[off + r·stride + k]
struct MatB { off: u32, stride: u32 }            // B[k][n] = Bs[off + n·stride + k]
fn emuLoadA(off: u32, stride: u32) -> MatA { return MatA(off, stride); }
fn emuLoadB(off: u32, stride: u32) -> MatB { return MatB(off, stride); }
fn aAt(a: MatA, r: u32, k: u32) -> f16 { return As[a.off + r * a.stride + k]; }
fn bAt(b: MatB, k: u32, n: u32) -> f16 { return Bs[b.off + n * b.stride + k]; }
// MatC, lane, z() and the emulated mma: the per-tile math of every tensor-core linear kernel's emulation.
//#include linear_sgm_acc
//#else
alias MatA = subgroup_matrix_left<f16, 16, 16>;
alias MatB = subgroup_matrix_right<f16, 16, 16>;
alias MatC = subgroup_matrix_result<f32, 16, 16>;
//#if SGM_BOOL
//#replace subgroupMatrixLoad<MatA, row_major>(&As, => boolLoadA(
//#replace subgroupMatrixLoad<MatB, col_major>(&Bs, => boolLoadB(
fn boolLoadA(off: u32, stride: u32) -> MatA { return subgroupMatrixLoad<MatA>(&As, off, false, stride); }
fn boolLoadB(off: u32, stride: u32) -> MatB { return subgroupMatrixLoad<MatB>(&Bs, off, true, stride); }
//#endif
//#endif
