// Bench entry for kernels/embedding: a row gather, pure bandwidth. Llama-3-8B's table
// (128256 × 4096 f16, 1 GiB) is filled by tiling a random pool (a JS array of 0.5 G random
// values would take longer than the benchmark), so row r column c holds pool[(r·H + c) mod P].
import { fillTiled } from '../../bench/fill.js';
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import { Recorder } from '../../gpu/recorder.js';
import { embedding, embeddingVariant } from '../../kernels/embedding.js';
import { toF16 } from '../../util/f16.js';
import { Rng } from '../../util/rng.js';

const POOL = 65521; // prime, so rows do not repeat with any power-of-two width

function embeddingCase(T: number, V: number, H: number, model: string): BenchCase {
  return {
    kernel: 'embedding',
    shape: `T${T} V${V} H${H}`,
    model,
    params: { tokens: T, vocab: V, hidden: H },
    // ids read, T rows read from the table, T rows written.
    bytes: T * 4 + 2 * T * H * 2,
    flops: 0,
    async setup(gpu) {
      const rng = new Rng(T + V);
      const pool = toF16(rng.floats(POOL, -1, 1));
      const table = gpu.tensor([V, H], 'f16', 'table');
      fillTiled(gpu, table, pool, V * H);
      const ids = Uint32Array.from({ length: T }, () => rng.int(0, V - 1));
      const tIds = gpu.upload(ids, [T], 'u32', 'ids');
      const out = gpu.tensor([T, H], 'f16', 'out');
      return {
        variant: embeddingVariant(H),
        run: (rec) => embedding(rec, tIds, table, out),
        async validate() {
          gpu.write(out, new Uint16Array(T * H).fill(0x7e00)); // NaN: a row left unwritten fails
          const rec = new Recorder(gpu, 'validate');
          embedding(rec, tIds, table, out);
          rec.submit();
          const got = (await gpu.read(out)) as Uint16Array;
          for (let t = 0; t < T; t += Math.max(1, Math.floor(T / 64))) {
            for (let c = 0; c < H; c++) {
              const want = pool[(ids[t] * H + c) % POOL];
              if (got[t * H + c] !== want) throw new Error(`embedding T${T}: out[${t}, ${c}] = 0x${got[t * H + c].toString(16)}, expected 0x${want.toString(16)}`);
            }
          }
        },
        destroy() {
          for (const t of [table, tIds, out]) t.buffer.destroy();
        },
      };
    },
  };
}

export const embeddingSuite: BenchSuite = {
  name: 'embedding',
  cases: (sweep) =>
    sweep === 'small'
      ? [embeddingCase(16, 1000, 256, '')]
      : [1, 16, 256, 4096].map((T) => embeddingCase(T, 128256, 4096, 'Llama-3-8B')),
};
