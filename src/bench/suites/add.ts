// Bench entry for kernels/add: a pure bandwidth kernel (2 reads + 1 write per element).
import type { BenchSuite, BenchCase } from '../../bench/types.js';
import { add } from '../../kernels/add.js';
import { addRef } from '../../kernels/ref/add.js';
import { fromF16, toF16 } from '../../util/f16.js';
import { Rng } from '../../util/rng.js';

function addCase(n: number): BenchCase {
  return {
    kernel: 'add',
    shape: `n=${n}`,
    model: '',
    params: { n },
    bytes: 3 * 2 * n,
    flops: n,
    async setup(gpu) {
      const rng = new Rng(1);
      const a16 = toF16(rng.floats(n, -2, 2));
      const b16 = toF16(rng.floats(n, -2, 2));
      const a = gpu.upload(a16, [n], 'f16', 'a');
      const b = gpu.upload(b16, [n], 'f16', 'b');
      const out = gpu.tensor([n], 'f16', 'out');
      return {
        variant: 'flat',
        run: (rec) => add(rec, a, b, out),
        async validate() {
          const got = fromF16((await gpu.read(out)) as Uint16Array);
          const want = addRef(fromF16(a16), fromF16(b16));
          for (let i = 0; i < n; i += 997) {
            if (got[i] !== want[i]) throw new Error(`add n=${n}: [${i}] got ${got[i]}, expected ${want[i]}`);
          }
        },
        destroy() {
          for (const t of [a, b, out]) t.buffer.destroy();
        },
      };
    },
  };
}

export const addSuite: BenchSuite = {
  name: 'add',
  cases: (sweep) => (sweep === 'small' ? [addCase(1 << 16)] : [addCase(1 << 20), addCase(1 << 26)]),
};
