// What prefill_attention and prefill_attention_sgmat share after their q/k/v bindings (0-2, typed
// differently): Params (one wrapper packs both: src/kernels/prefill_attention.ts), bindings 3-7 and
// the head dim D (define HEAD_DIM_80, HEAD_DIM_96, HEAD_DIM_128 or HEAD_DIM_256, else 64).
struct Params {
  numHeads: u32,
  numKvHeads: u32,
  maxBlocksPerSeq: u32,
  numQTiles: u32,
  numSeqs: u32,
  groupSize: u32,  // G
  tileTokens: u32, // R = BM / G
  scaleLog2: f32,  // softmax scale * log2(e)
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
