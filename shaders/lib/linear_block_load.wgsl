// One k-step of linear_subgroup_matrix_block's operands into registers (xa0..3, wb0..3), at k-vector kc0.
// How many vec4 an invocation loads is BM·C8/WG for x and 128·C8/WG for w, set by the wrapper: x 4 (X2: 2,
// X1: 1), w 4 (W2: 2); the defaults are the 128×128 block with BK 64.
// Written out (no loops, no arrays): the including kernel declares the registers and mB, nB, r0, rs.
xa0 = xAt(mB + r0, kc0);
//#if !X1
xa1 = xAt(mB + r0 + rs, kc0);
//#if !X2
xa2 = xAt(mB + r0 + 2u * rs, kc0); xa3 = xAt(mB + r0 + 3u * rs, kc0);
//#endif
//#endif
wb0 = wAt(nB + r0, kc0); wb1 = wAt(nB + r0 + rs, kc0);
//#if !W2
wb2 = wAt(nB + r0 + 2u * rs, kc0); wb3 = wAt(nB + r0 + 3u * rs, kc0);
//#endif
