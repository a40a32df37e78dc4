// The matrix math of one k-step (BK) of linear_subgroup_matrix_stream, included where the kernel's loop
// runs a k-step: c0 (and c1..c3 with TM2/TM4) += A·B over As and Bs, as staged for that k-step.
    // The 16-wide k-steps of BK written out (a runtime loop halves the block kernel's speed).
    {
      let b = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDS + 0u, LDS);
      c0 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, 0u, LDS), b, c0);
//#if TM2
      c1 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW1 * LDS + 0u, LDS), b, c1);
//#endif
//#if TM4
      c2 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW2 * LDS + 0u, LDS), b, c2);
      c3 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW3 * LDS + 0u, LDS), b, c3);
//#endif
    }
    {
      let b = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDS + 16u, LDS);
      c0 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, 16u, LDS), b, c0);
//#if TM2
      c1 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW1 * LDS + 16u, LDS), b, c1);
//#endif
//#if TM4
      c2 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW2 * LDS + 16u, LDS), b, c2);
      c3 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW3 * LDS + 16u, LDS), b, c3);
//#endif
    }
//#if !EMULATE
    {
      let b = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDS + 32u, LDS);
      c0 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, 32u, LDS), b, c0);
//#if TM2
      c1 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW1 * LDS + 32u, LDS), b, c1);
//#endif
//#if TM4
      c2 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW2 * LDS + 32u, LDS), b, c2);
      c3 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW3 * LDS + 32u, LDS), b, c3);
//#endif
    }
    {
      let b = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDS + 48u, LDS);
      c0 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, 48u, LDS), b, c0);
//#if TM2
      c1 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW1 * LDS + 48u, LDS), b, c1);
//#endif
//#if TM4
      c2 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW2 * LDS + 48u, LDS), b, c2);
      c3 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, ROW3 * LDS + 48u, LDS), b, c3);
//#endif
    }
//#endif
