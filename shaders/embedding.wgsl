// embedding: out[t, :] = table[ids[t], :], or zeros where ids[t] >= vocab (never reads out of bounds).
// SCALE: out[t, :] = f16(f32(table[ids[t], :]) · p.scale) (Gemma's embeddings times sqrt(hidden)).
// Bindings: 0 ids: array<u32> [T]   1 table: array<W> [V, H]   2 out: array<W> [T, H]   3 params
// Layout:   row-major; W is the unit one thread moves:
//           VEC8: vec4<u32> = 8 halves (16-byte loads/stores; needs H % 8 == 0), else one f16.
//           rowWords = H / 8 (VEC8) or H.
// Workgroup: WG threads (override); thread g moves word g % rowWords of token g / rowWords.
// Dispatch: grid(ceil(T * rowWords / WG)), linearised as wid.x + wid.y * nwg.x.
enable f16;

//#if VEC8
alias W = vec4<u32>;
//#else
alias W = f16;
//#endif

struct Params {
  numTokens: u32,
  vocab: u32,
  rowWords: u32,
//#if SCALE
  scale: f32,
//#endif
}

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> table: array<W>;
@group(0) @binding(2) var<storage, read_write> out: array<W>;
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = (wid.x + wid.y * nwg.x) * WG + lid;
  let t = g / p.rowWords;
  if (t >= p.numTokens) { return; }
  let c = g - t * p.rowWords;
  let id = ids[t];
  var v = W();
  if (id < p.vocab) { v = table[id * p.rowWords + c]; }
//#if SCALE
  v = scaled(v);
//#endif
  out[g] = v;
}

//#if SCALE
// Two halves times p.scale, each rounded to f16 once.
fn scale2(u: u32) -> u32 { return pack2x16float(unpack2x16float(u) * p.scale); }

fn scaled(v: W) -> W {
//#if VEC8
  return vec4<u32>(scale2(v.x), scale2(v.y), scale2(v.z), scale2(v.w));
//#else
  return f16(f32(v) * p.scale);
//#endif
}
//#endif
