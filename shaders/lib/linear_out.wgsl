// Output side of every linear kernel: OutT (f16, or f32 with OUT_F32) and the bindings after x (0)
// and w (1): BIAS: 2 bias [N] f16, 3 out [M, N], 4 params; else 2 out, 3 params (QUANT: from
// lib/quant_weight's WB_END instead of 2). The including shader declares `struct Params`.
//#if OUT_F32
alias OutT = f32;
//#else
alias OutT = f16;
//#endif
//#if QUANT
const OB = WB_END;              // after lib/quant_weight's bindings
//#else
const OB = 2u;
//#endif
//#if BIAS
@group(0) @binding(OB) var<storage, read> bias: array<f16>;
@group(0) @binding(OB + 1u) var<storage, read_write> out: array<OutT>;
@group(0) @binding(OB + 2u) var<uniform> p: Params;
//#else
@group(0) @binding(OB) var<storage, read_write> out: array<OutT>;
@group(0) @binding(OB + 1u) var<uniform> p: Params;
//#endif
