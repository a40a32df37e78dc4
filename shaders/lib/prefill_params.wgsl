// Params of prefill_attention and prefill_attention_sgmat (one wrapper packs both:
// src/kernels/prefill_attention.ts).
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
