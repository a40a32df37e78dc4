// The matrix math of one k-step (BK 128, or 256 with BK256) of quant_linear_stream: c0 (and c1 with TM2)
// += A·B over As and Bs as staged for that k-step, in 16-wide k-steps of increasing k (the chain every
// tensor-core linear kernel runs). Each block is lib/quant_stream_mma16 at the constant offset KO (written
// out: a runtime loop halves the block kernel's speed, shaders/linear_subgroup_matrix_stream.wgsl).
    { const KO = 0u;
//#include quant_stream_mma16
    }
    { const KO = 16u;
//#include quant_stream_mma16
    }
    { const KO = 32u;
//#include quant_stream_mma16
    }
    { const KO = 48u;
//#include quant_stream_mma16
    }
    { const KO = 64u;
//#include quant_stream_mma16
    }
    { const KO = 80u;
//#include quant_stream_mma16
    }
    { const KO = 96u;
//#include quant_stream_mma16
    }
    { const KO = 112u;
//#include quant_stream_mma16
    }
//#if BK256
    { const KO = 128u;
//#include quant_stream_mma16
    }
    { const KO = 144u;
//#include quant_stream_mma16
    }
    { const KO = 160u;
//#include quant_stream_mma16
    }
    { const KO = 176u;
//#include quant_stream_mma16
    }
    { const KO = 192u;
//#include quant_stream_mma16
    }
    { const KO = 208u;
//#include quant_stream_mma16
    }
    { const KO = 224u;
//#include quant_stream_mma16
    }
    { const KO = 240u;
//#include quant_stream_mma16
    }
//#endif
