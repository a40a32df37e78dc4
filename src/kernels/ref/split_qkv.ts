// CPU reference for kernels/split_qkv: the columns of each row of qkv [T, qDim + 2·kvDim], dealt out.
export function splitQkvRef<A extends Uint16Array | Float32Array>(qkv: A, T: number, qDim: number, kvDim: number, make: (n: number) => A): { q: A; k: A; v: A } {
  const row = qDim + 2 * kvDim;
  const q = make(T * qDim);
  const k = make(T * kvDim);
  const v = make(T * kvDim);
  for (let t = 0; t < T; t++) {
    q.set(qkv.subarray(t * row, t * row + qDim), t * qDim);
    k.set(qkv.subarray(t * row + qDim, t * row + qDim + kvDim), t * kvDim);
    v.set(qkv.subarray(t * row + qDim + kvDim, (t + 1) * row), t * kvDim);
  }
  return { q, k, v };
}
