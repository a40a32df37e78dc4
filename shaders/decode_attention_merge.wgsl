// decode_attention_merge (pass 2 of 2): combines a sequence's partitions by log-sum-exp:
//   M = max_p m_p,  out = Σ_p exp(m_p - M) · o_p / Σ_p exp(m_p - M) · l_p
// over p < ceil(seqLen / P) (at most maxPartitions; SLIDING: from the first partition the window
// reaches), and rounds to f16 once. The summation
// order depends only on the sequence's own partition count: batch invariant.
// Bindings: 0 partOut:   array<vec4f> [numSeqs, numHeads, maxPartitions, D] f32
//           1 partStats: array<vec2f> [numSeqs, numHeads, maxPartitions] f32 (m, l)
//           2 seqLens:   array<u32>   [numSeqs]
//           3 out:       array<vec2u> [numSeqs, numHeads, D] f16 (a vec2u holds 4 halves)
//           4 params
// Threads: WG = PL · D/4; thread (pl, d4) sums partitions pl, pl + PL, ... of dims 4·d4..+3,
//          then the PL partial sums are added in order pl = 0, 1, ... through workgroup memory.
// Dispatch: (numHeads, numSeqs); a sequence of length 0 gets zeros.

struct Params {
  numHeads: u32,
  maxPartitions: u32,
//#if SLIDING
  window: u32,
//#endif
}

@group(0) @binding(0) var<storage, read> partOut: array<vec4f>;
@group(0) @binding(1) var<storage, read> partStats: array<vec2f>;
@group(0) @binding(2) var<storage, read> seqLens: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec2u>;
@group(0) @binding(4) var<uniform> p: Params;

override D: u32 = 128;   // head dim, a multiple of 8
override P: u32 = 512;   // partition size of pass 1
override PL: u32 = 4;    // partition lanes

override D4: u32 = D / 4u;
override WG: u32 = PL * D4;

var<workgroup> redO: array<vec4f, WG>;
var<workgroup> redL: array<f32, PL>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let head = wid.x;
  let seq = wid.y;
  let np = min((seqLens[seq] + P - 1u) / P, p.maxPartitions);
//#if SLIDING
  // Partitions wholly before the window were skipped by pass 1 (their partials are not written).
  let seqLen = seqLens[seq];
  let p0 = select(0u, (seqLen - p.window) / P, seqLen > p.window);
//#endif
  let row = seq * p.numHeads + head;
  let pl = lid / D4;
  let d4 = lid % D4;

  var mMax = -3.0e38;
//#if SLIDING
  for (var i = p0; i < np; i++) { mMax = max(mMax, partStats[row * p.maxPartitions + i].x); }
//#else
  for (var i = 0u; i < np; i++) { mMax = max(mMax, partStats[row * p.maxPartitions + i].x); }
//#endif
  var o = vec4f(0.0);
  var l = 0.0;
//#if SLIDING
  for (var i = p0 + pl; i < np; i += PL) {
//#else
  for (var i = pl; i < np; i += PL) {
//#endif
    let st = partStats[row * p.maxPartitions + i];
    let w = exp(st.x - mMax);
    o += w * partOut[(row * p.maxPartitions + i) * D4 + d4];
    l += w * st.y;
  }
  redO[lid] = o;
  if (d4 == 0u) { redL[pl] = l; }
  workgroupBarrier();
  if (pl == 0u) {
    var sumO = redO[d4];
    var sumL = redL[0];
    for (var k = 1u; k < PL; k++) {
      sumO += redO[k * D4 + d4];
      sumL += redL[k];
    }
    let r = select(vec4f(0.0), sumO / sumL, np > 0u);
    out[row * D4 + d4] = vec2u(pack2x16float(r.xy), pack2x16float(r.zw));
  }
}
