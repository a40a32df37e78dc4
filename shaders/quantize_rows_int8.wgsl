// quantize_rows_int8: per-token dynamic int8 quantization of activations (W8A8's left operand):
//   s[m] = max_k |x[m, k]| · f32(1/127) (f32; 0 for a row of zeros), q[m, k] = clamp(round(x[m, k] / s[m]), -127, 127)
//   (round half to even; a zero row gives q = 0). max is exact, so s and q depend on the row alone (batch
//   invariant by construction).
// Bindings: 0 x: [M, K] f16 read as u32 (f16 pairs)   1 q: [M, K / 4] u32, 4 int8 per word little end first
//           (k = 4j + i in byte i of word j, two's complement)   2 s: [M] f32   3 params { M, K }.
// Needs K % 4 == 0 (the wrapper checks).
// Workgroup: 256 invocations per row: each takes words lid, lid + 256, … of the row (4 values each), the
//   row's max|x| goes through workgroup memory (a tree), then each writes its words of q.
// Dispatch: grid(M) workgroups, row = wid.x + wid.y * nwg.x.
enable f16;

struct Params { M: u32, K: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec2<u32>>;
@group(0) @binding(1) var<storage, read_write> q: array<u32>;
@group(0) @binding(2) var<storage, read_write> s: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const WG = 256u;
var<workgroup> red: array<f32, WG>;

// Four values of row m at word j (k = 4j..4j+3) as f32.
fn four(m: u32, j: u32) -> vec4<f32> {
  let v = x[m * (p.K / 4u) + j];
  return vec4<f32>(vec2<f32>(bitcast<vec2<f16>>(v.x)), vec2<f32>(bitcast<vec2<f16>>(v.y)));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let m = wid.x + wid.y * nwg.x;
  if (m >= p.M) { return; }                        // whole workgroups only
  let words = p.K / 4u;
  var mx = 0.0;
  for (var j = lid; j < words; j += WG) {
    let a = abs(four(m, j));
    mx = max(mx, max(max(a.x, a.y), max(a.z, a.w)));
  }
  red[lid] = mx;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h /= 2u) {
    if (lid < h) { red[lid] = max(red[lid], red[lid + h]); }
    workgroupBarrier();
  }
  let amax = red[0];
  let sc = amax * (1.0 / 127.0);                   // a product, correctly rounded everywhere (a quotient may not be)
  if (lid == 0u) { s[m] = sc; }
  let inv = select(0.0, 1.0, amax > 0.0);          // a zero row: q = 0 (no division by 0)
  let d = select(1.0, sc, amax > 0.0);
  for (var j = lid; j < words; j += WG) {
    let qi = vec4<i32>(clamp(round(four(m, j) / d * inv), vec4<f32>(-127.0), vec4<f32>(127.0)));
    let b = vec4<u32>(bitcast<vec4<u32>>(qi) & vec4<u32>(255u));
    q[m * words + j] = b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
  }
}
