// Probe (not part of `tknp bench`): at-load quantization speed (--quantization int4|int8) on
// synthetic Llama-3-8B-sized matrices. Writes a temporary checkpoint of `matrices` bf16 tensors
// [4096, 14336] (random normal · 0.02, as trained weights roughly are), then times
//   serial: Checkpoint.readF16 + quantizeF16 of one tensor on the main thread;
//   pool:   every tensor through the loader's path (model/at_load_quantizer.ts: blocks of rows read
//           ahead, decoded and quantized on quant_pool's threads, stacked), with
//           $TKNP_QUANT_THREADS or min(cores - 1, 8) threads,
// checks that the pool's first tensor equals the serial one bitwise, and projects both to Llama-3-8B's
// 6.98e9 projection weights (32 layers of q, k, v, o [4096·4096, 1024·4096 ×2, 4096·4096], gate, up, down [4096·14336 ×3]).
// Usage: node dist/bench/probes/quant_load.js [matrices=4] [int4|int8]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpoint } from '../../src/loader/checkpoint.js';
import { writeSafetensors } from '../../src/loader/safetensors_writer.js';
import { AtLoadQuantizer } from '../../src/model/at_load_quantizer.js';
import { quantizeF16 } from '../../src/quant/packed_weight.js';
import { QuantPool, quantThreads } from '../../src/quant/quant_pool.js';
import { atLoadGroupSize, resolveWeightFormat, type Quantization } from '../../src/quant/weight_format.js';
import { Rng } from '../../src/util/rng.js';

const matrices = Number(process.argv[2] ?? 4);
const quantization = (process.argv[3] ?? 'int4') as Quantization;
const format = resolveWeightFormat(quantization, null);
const [N, K] = [4096, 14336];
const LLAMA3_8B_LINEAR = 32 * (4096 * (4096 + 1024 + 1024 + 4096) + 3 * 4096 * 14336);

const rng = new Rng(8);
const bf16 = new Uint16Array(N * K);
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
for (let i = 0; i < bf16.length; i++) {
  f32[0] = rng.normal() * 0.02;
  bf16[i] = u32[0] >>> 16;
}
const dir = mkdtempSync(join(tmpdir(), 'tknp-quant-probe-'));
try {
  const names = Array.from({ length: matrices }, (_, i) => `m${i}.weight`);
  writeSafetensors(join(dir, 'model.safetensors'), Object.fromEntries(names.map((n) => [n, { dtype: 'BF16', shape: [N, K], data: new Uint8Array(bf16.buffer) }])));
  const ckpt = await Checkpoint.open(dir);
  const groupSize = atLoadGroupSize(format, K, names[0]);
  let t0 = performance.now();
  const serial = quantizeF16(await ckpt.readF16(names[0], [N, K]), [N, K], format.bits as 4 | 8, groupSize, format.symmetric);
  const serialS = (performance.now() - t0) / 1000;
  const threads = quantThreads();
  const pool = new QuantPool(threads);
  try {
    const quantizer = new AtLoadQuantizer(pool, { readFloatRows: (n, s, r0, r1) => ckpt.readFloatRows(n, s, r0, r1), tick: () => {} }, format, names.map((name) => ({ name, shape: [N, K] })));
    t0 = performance.now();
    for (const [i, name] of names.entries()) {
      const p = await quantizer.take(name, [N, K]);
      if (i === 0 && (p.qweight.some((w, j) => w !== serial.qweight[j]) || p.scales.some((s, j) => s !== serial.scales[j]) || (p.zeros ?? []).some((z, j) => z !== serial.zeros![j]))) {
        throw new Error('the pool and the serial quantizer disagree');
      }
    }
    const poolS = (performance.now() - t0) / 1000 / matrices;
    const proj = (s: number) => ((s * LLAMA3_8B_LINEAR) / (N * K)).toFixed(1);
    console.log(`${format.description}, bf16 [${N}, ${K}] x ${matrices}`);
    console.log(`serial (main thread): ${serialS.toFixed(2)} s a matrix; Llama-3-8B projected ${proj(serialS)} s`);
    console.log(`pool (${threads} thread${threads === 1 ? '' : 's'}): ${poolS.toFixed(2)} s a matrix (${(serialS / poolS).toFixed(1)}x); Llama-3-8B projected ${proj(poolS)} s; ${quantizer.summary()}; bitwise equal to serial`);
  } finally {
    await pool.close();
    await ckpt.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
