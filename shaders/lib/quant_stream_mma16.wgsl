// One 16-wide k-step of quant_linear_stream at k offset KO (a const of the including block) into the
// staged tiles: c0 += As[0..15, KO..] · Bs[bn.., KO..]ᵀ (TM2: c1 likewise for rows 16..31).
      let b = subgroupMatrixLoad<MatB, col_major>(&Bs, bn * LDS + KO, LDS);
      c0 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, KO, LDS), b, c0);
//#if TM2
      c1 = subgroupMatrixMultiplyAccumulate(subgroupMatrixLoad<MatA, row_major>(&As, 16u * LDS + KO, LDS), b, c1);
//#endif
