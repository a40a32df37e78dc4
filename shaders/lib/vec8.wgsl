// vec8: the unit a thread moves in the row kernels. With VEC8 it is 8 halves in a vec4<u32>
// (16-byte accesses), unpacked as two vec4<f16>; otherwise a single f16 (lo().x), for rows
// whose length is not a multiple of 8. Included by rms_norm, silu_and_mul.
//#if VEC8
alias W = vec4<u32>;
fn lo(w: W) -> vec4<f16> { return vec4<f16>(bitcast<vec2<f16>>(w.x), bitcast<vec2<f16>>(w.y)); }
fn hi(w: W) -> vec4<f16> { return vec4<f16>(bitcast<vec2<f16>>(w.z), bitcast<vec2<f16>>(w.w)); }
fn pack(l: vec4<f16>, h: vec4<f16>) -> W { return W(bitcast<u32>(l.xy), bitcast<u32>(l.zw), bitcast<u32>(h.xy), bitcast<u32>(h.zw)); }
//#else
alias W = f16;
fn lo(w: W) -> vec4<f16> { return vec4<f16>(w, 0.0h, 0.0h, 0.0h); }
fn hi(w: W) -> vec4<f16> { return vec4<f16>(0.0h); }
fn pack(l: vec4<f16>, h: vec4<f16>) -> W { return l.x; }
//#endif
