// Big bench inputs from a small random pool. A JS array with one random value per element of a
// 1 GiB tensor would take longer to make than the benchmark runs, so inputs repeat a seeded
// pool instead: element i of the tensor is pool[(i + shift) mod P], P = pool.length. The
// validation recomputes any element from the pool the same way.
import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';

const CHUNK = 1 << 24; // elements per upload

/** Writes pool[(i + shift) mod pool.length] to element i of `t` for i in [0, n), in CHUNK-sized uploads. */
export function fillTiled(gpu: Gpu, t: Tensor, pool: Uint16Array, n: number, shift = 0): void {
  const P = pool.length;
  // pool repeated past one chunk: every upload is one contiguous window of it.
  const ext = new Uint16Array(Math.min(n, CHUNK) + P);
  for (let i = 0; i < ext.length; i++) ext[i] = pool[i % P];
  for (let off = 0; off < n; off += CHUNK) {
    const len = Math.min(CHUNK, n - off);
    const start = (off + shift) % P;
    gpu.write(t, ext.subarray(start, start + len), off);
  }
}
