// CPU reference for kernels/logit_softcap: tanh(x / cap) · cap in f64 (transformers: logits / cap,
// tanh, * cap); -inf stays -inf.
export function logitSoftcapRef(x: ArrayLike<number>, cap: number): Float64Array {
  return Float64Array.from(x, (v) => (v === -Infinity ? v : Math.tanh(v / cap) * cap));
}
