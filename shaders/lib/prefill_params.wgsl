// What prefill_attention and prefill_attention_sgmat share after their q/k/v bindings (0-2, typed
// differently): Params (one wrapper packs both: src/kernels/prefill_attention.ts), bindings 3-7 and
// the head dim D (define HEAD_DIM_80, HEAD_DIM_96, HEAD_DIM_128 or HEAD_DIM_256, else 64) and, with
// SCORES (the wrapper sets it with SLIDING or SOFTCAP), scoreLog2: a key's score as a row sees it.
// Uses the includer's NEG (the masked score).
struct Params {
  numHeads: u32,
  numKvHeads: u32,
  maxBlocksPerSeq: u32,
  numQTiles: u32,
  numSeqs: u32,
  groupSize: u32,  // G
  tileTokens: u32, // R = BM / G
  scaleLog2: f32,  // softmax scale * log2(e)
//#if SLIDING
  window: u32,     // a row at position i sees keys j with i - window < j <= i
//#endif
//#if SOFTCAP
  softcapLog2: f32, // soft-capping: scaled scores s -> tanh(s / c) · c, here in log2 units (c · log2(e))
//#endif
}

@group(0) @binding(3) var<storage, read> queryStartLoc: array<u32>;
@group(0) @binding(4) var<storage, read> seqLens: array<u32>;
@group(0) @binding(5) var<storage, read> blockTables: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<vec4<f16>>;
@group(0) @binding(7) var<uniform> p: Params;

//#if HEAD_DIM_128
const D: u32 = 128u;
//#else
//#if HEAD_DIM_80
const D: u32 = 80u;
//#else
//#if HEAD_DIM_96
const D: u32 = 96u;
//#else
//#if HEAD_DIM_256
const D: u32 = 256u;
//#else
const D: u32 = 64u;
//#endif
//#endif
//#endif
//#endif

//#if SCORES
// Raw q·k `s` of key position `key` for the row at `rowPos`, scaled to log2 units: NEG where the row
// does not see the key (causal; SLIDING: before the row's window), soft-capped with SOFTCAP.
fn scoreLog2(s: f32, key: u32, rowPos: u32) -> f32 {
  var v = s * p.scaleLog2;
//#if SOFTCAP
  v = tanh(clamp(v / p.softcapLog2, -15.0, 15.0)) * p.softcapLog2;
//#endif
  var seen = key <= rowPos;
//#if SLIDING
  seen = seen && key + p.window > rowPos;
//#endif
  return select(NEG, v, seen);
}
//#endif
