// One k-step of linear_subgroup_matrix_block's operands from registers into workgroup memory (the
// registers lib/linear_block_load filled, under the same X1/X2/W2 defines).
putA(stageOff(lid, 0u), xa0);
//#if !X1
putA(stageOff(lid, 1u), xa1);
//#if !X2
putA(stageOff(lid, 2u), xa2); putA(stageOff(lid, 3u), xa3);
//#endif
//#endif
putB(stageOff(lid, 0u), wb0); putB(stageOff(lid, 1u), wb1);
//#if !W2
putB(stageOff(lid, 2u), wb2); putB(stageOff(lid, 3u), wb3);
//#endif
