// fill_random: fills an f16 tensor with seeded uniform random values, computed from a
// counter-based hash of (key, index) alone, so the values do not depend on the dispatch, the
// device or the order of work: dummy weights (loadFormat 'dummy') never travel through the host.
// Bindings: 0 out: array<f16> [>= offset + n]   1 params
// Layout:   element i (0 <= i < n) is written to out[offset + i] and takes the value of index
//             g = base + (i / cols) * fullCols + i % cols
//           of the full tensor: `out` may be a [*, cols] window (a tensor-parallel shard) of a
//           [*, fullCols] tensor; a whole tensor has base 0 and cols = fullCols.
// Value:    h = mix(mix(g) ^ key), mix = lowbias32 (C. Wellons' 32-bit finaliser);
//           k = h >> 21 in [0, 2047]; v = f16(f32(2k - 2047) * step), step = amplitude / 2047
//           (an f32 parameter): 2048 levels symmetric about 0, |v| <= amplitude. The i32 → f32
//           conversion is exact, the multiply correctly rounded and the f16 conversion rounds to
//           nearest even, as the CPU reference does (src/kernels/ref/fill_random.ts). Levels
//           below 2^-14 are f16 subnormals (none when step >= 2^-14, i.e. amplitude >= 0.125).
// Workgroup: WG threads (override, default 256); each thread writes one element.
// Dispatch: grid(ceil(n / WG)) — x*y workgroups, linearised as wid.x + wid.y * nwg.x.
enable f16;

struct Params {
  n: u32,
  offset: u32,
  base: u32,
  cols: u32,
  fullCols: u32,
  key: u32,
  step: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f16>;
@group(0) @binding(1) var<uniform> p: Params;

override WG: u32 = 256;

fn mix(x0: u32) -> u32 {
  var x = x0;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n) { return; }
  let g = p.base + (i / p.cols) * p.fullCols + i % p.cols;
  let k = i32(mix(mix(g) ^ p.key) >> 21u);
  out[p.offset + i] = f16(f32(2 * k - 2047) * p.step);
}
