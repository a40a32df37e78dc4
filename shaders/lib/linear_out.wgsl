// Output side of every linear kernel: OutT (f16, or f32 with OUT_F32) and the bindings after x (0)
// and w (1): BIAS: 2 bias [N] f16, 3 out [M, N], 4 params; else 2 out, 3 params. The including
// shader declares `struct Params`.
//#if OUT_F32
alias OutT = f32;
//#else
alias OutT = f16;
//#endif
//#if BIAS
@group(0) @binding(2) var<storage, read> bias: array<f16>;
@group(0) @binding(3) var<storage, read_write> out: array<OutT>;
@group(0) @binding(4) var<uniform> p: Params;
//#else
@group(0) @binding(2) var<storage, read_write> out: array<OutT>;
@group(0) @binding(3) var<uniform> p: Params;
//#endif
