// Dequantizing weight reads (QUANT): the packed layout of src/quant/packed_weight.ts in place of an f16
// weight w [N, K]. Included by the linear kernels under QUANT (stream, block, tiled, GEMV), whose weight
// bindings these replace:
//   1 qw: [N, K·bits/32] u32, packed along K little end first (Q4: 8 per word, read as array<u32>, one word
//     per 8 k; Q8: 4 per word, read as array<vec2<u32>>, two words per 8 k; SIGNED (8-bit symmetric):
//     two's-complement bytes, else unsigned)
//   2 qs: [N, K / GS] f16 scales   ZEROS: 3 qz: [N, K / GS] f16 integer zeros (else z = 8 (Q4) or 0 (Q8))
// WB_END: the first binding after them (the including kernel's next tensor).
// A weight is f16((q − z) · s), the exact product rounded once to f16 (lib/quant_dequant's arithmetic, shared
// with quant_linear_gemv): every kernel and schedule multiplies x by the same f16 values, so the tensor-core kernels
// give the bits they give for an f16 weight holding them (the test anchor), and the CPU reference is
// x · f16(dequantize(W))ᵀ.
// Needs from the including shader: Params with N, K; GS: group size (override), a multiple of 8 for wAt.
// Defines: wAt(r, kc) (8 f16 of row min(r, N-1) at k = 8kc..8kc+7, as linear_stage's f16 one) =
//   wDeq(wRaw(r, kc)): wRaw only loads (the packed chunk with its group's f16 scale and zero, no
//   arithmetic, so a kernel holding QChunks in registers keeps the loads in flight), wDeq dequantizes;
//   and wOne(r, k) (one f16 weight of row r < N, k < K).
override GS: u32 = 128u;

//#if Q4
@group(0) @binding(1) var<storage, read> qw: array<u32>;
//#else
@group(0) @binding(1) var<storage, read> qw: array<vec2<u32>>;
//#endif
@group(0) @binding(2) var<storage, read> qs: array<f16>;
//#if ZEROS
@group(0) @binding(3) var<storage, read> qz: array<f16>;
const WB_END = 4u;
//#else
const WB_END = 3u;
//#endif

// Scale and zero point of group g of row n, as stored (f16; without ZEROS the implied zero).
fn qScale(n: u32, g: u32) -> f16 { return qs[n * (p.K / GS) + g]; }
fn qZero(n: u32, g: u32) -> f16 {
//#if ZEROS
  return qz[n * (p.K / GS) + g];
//#else
  return Q_ZERO;
//#endif
}

// One 8-k chunk of a row as loaded: its packed word(s) and its group's scale and zero.
struct QChunk { v: QWord, s: f16, z: f16 }

//#include quant_dequant

fn wRaw(r: u32, kc: u32) -> QChunk {
  let n = min(r, p.N - 1u);
  let g = (kc * 8u) / GS;
  return QChunk(qw[n * (p.K / 8u) + kc], qScale(n, g), qZero(n, g));
}

fn wDeq(c: QChunk) -> vec4<u32> { return qDeq(c.v, c.z, c.s); }

fn wAt(r: u32, kc: u32) -> vec4<u32> { return wDeq(wRaw(r, kc)); }

fn wOne(r: u32, k: u32) -> f16 {
  let g = k / GS;
//#if Q4
  let word = qw[r * (p.K / 8u) + k / 8u];
  let sh = 4u * (k % 8u);
//#else
  let pair = qw[r * (p.K / 8u) + k / 8u];
  let word = select(pair.x, pair.y, (k % 8u) >= 4u);
  let sh = 8u * (k % 4u);
//#endif
//#if Q4
  let q = qBytes(word, vec4<u32>(sh), 15u).x;
//#else
  let q = qBytes(word, vec4<u32>(sh), 255u).x;
//#endif
  return (f16(q) - qZero(r, g)) * qScale(r, g);   // q − z exact in f16, the product rounded once (as qDeq)
}
