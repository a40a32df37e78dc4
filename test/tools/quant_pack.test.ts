// tools/quant_pack.py (the AWQ / GPTQ packing of tools/make_quant_fixtures.py, numpy only) against
// tknp's readers (src/quant/awq.ts, gptq.ts): two implementations written from the formats'
// descriptions must agree on every integer, zero point and dequantized weight. Needs python3 with
// numpy (no torch).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { unpackAwq } from '../../src/quant/awq.js';
import { unpackGptq } from '../../src/quant/gptq.js';
import { dequantize, quantValue, zeroPoint } from '../../src/quant/packed_weight.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
const noNumpy = probe.status === 0 ? '' : `python3 with numpy not found (${probe.error?.message ?? probe.stderr.trim()})`;
if (noNumpy) console.warn(`[tknp tests] quant_pack tests skipped: ${noNumpy}`);

const SCRIPT = `
import json, sys
sys.path.insert(0, 'tools')
import numpy as np
import quant_pack as qp
w = np.random.default_rng(5).normal(0, 0.08, (24, 256)).astype(np.float32)
w[3, :128] = 0.0  # a group of zeros: scale clamps, zero stays exact
out = {}
for name, f in (('awq', qp.awq_tensors), ('gptq', qp.gptq_tensors)):
    t, (q, z, s), deq = f(w)
    out[name] = {k: (v.view(np.uint16) if v.dtype == np.float16 else v).ravel().tolist() for k, v in t.items()}
    out[name].update(q=q.ravel().tolist(), z=z.ravel().tolist(), deq=deq.ravel().tolist())
print(json.dumps(out))
`;

interface Packed {
  qweight: number[];
  qzeros: number[];
  scales: number[];
  g_idx?: number[];
  q: number[];
  z: number[];
  deq: number[];
}

describe.skipIf(!!noNumpy)(`tools/quant_pack.py against tknp's AWQ / GPTQ readers${noNumpy ? ` (skipped: ${noNumpy})` : ''}`, () => {
  const r = noNumpy ? null : spawnSync('python3', ['-c', SCRIPT], { cwd: ROOT, encoding: 'utf8' });
  const got = r && r.status === 0 ? (JSON.parse(r.stdout) as { awq: Packed; gptq: Packed }) : null;
  const [N, K, G] = [24, 256, 2];
  const u32 = (xs: number[]) => Uint32Array.from(xs, (x) => x >>> 0);

  it('runs', () => {
    expect(r!.status, r!.stderr).toBe(0);
  });

  it.each(['awq', 'gptq'] as const)('%s: every integer, zero point and dequantized weight agrees', (method) => {
    const t = got![method];
    const p =
      method === 'awq'
        ? unpackAwq({ qweight: u32(t.qweight), qzeros: u32(t.qzeros), scales: Uint16Array.from(t.scales) }, [N, K], 128, 'm', 'f')
        : unpackGptq({ qweight: u32(t.qweight), qzeros: u32(t.qzeros), scales: Uint16Array.from(t.scales), gIdx: Int32Array.from(t.g_idx!) }, [N, K], { bits: 4, groupSize: 128, symmetric: true, zeroOffset: 1 }, 'm', 'f');
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) expect(quantValue(p, n, k), `q[${n}, ${k}]`).toBe(t.q[n * K + k]);
      for (let g = 0; g < G; g++) expect(zeroPoint(p, n, g), `z[${n}, ${g}]`).toBe(t.z[n * G + g]);
    }
    expect(Array.from(dequantize(p))).toEqual(t.deq.map((x) => Math.fround(x)));
    expect(new Set(t.q).size).toBe(16); // every 4-bit value occurs
  });
});
