// Phi-3's fused qkv_proj and gate_up_proj load into the same tensors as the separate q/k/v and
// gate/up of a checkpoint holding the same values: whole (tp = 1) and split for each of two
// tensor-parallel ranks (each part split by rows on its own, then the rank's parts stacked).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/loader/checkpoint.js';
import { parseModelConfig } from '../../src/loader/model_config.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { encodeSafetensors, type RawTensor } from '../../src/loader/safetensors_writer.js';
import { loadWeights } from '../../src/model/weights.js';
import { tensorParallelShard } from '../../src/parallel/tensor_parallel.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { makeTinyModel, tinyConfig, tinyTensors } from '../helpers/model_dir.js';

const gpu = await testGpu();

/** Row-concatenation of 2-d F16 tensors. */
function stackRows(parts: RawTensor[]): RawTensor {
  const data = new Uint8Array(parts.reduce((n, p) => n + p.data.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p.data, at);
    at += p.data.byteLength;
  }
  return { dtype: 'F16', shape: [parts.reduce((n, p) => n + p.shape[0], 0), parts[0].shape[1]], data };
}

describe.skipIf(!gpu)(`fused projections (Phi-3) ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it('load as the separate projections do, whole and per tensor-parallel rank', async () => {
    const g = gpu!;
    const shape = { num_attention_heads: 4, num_key_value_heads: 2, head_dim: 64 };
    // The Llama checkpoint's separate tensors, and a Phi-3 checkpoint with them fused.
    const llamaDir = makeTinyModel({ config: shape, seed: 5 });
    const separate = tinyTensors(tinyConfig({ config: shape }), 'F16', 5);
    const fused: Record<string, RawTensor> = {};
    for (const [name, t] of Object.entries(separate)) {
      const m = /^(model\.layers\.\d+\.)(self_attn\.[qkv]_proj|mlp\.(gate|up)_proj)\.weight$/.exec(name);
      if (!m) fused[name] = t;
    }
    for (let i = 0; i < 2; i++) {
      const p = `model.layers.${i}.`;
      fused[`${p}self_attn.qkv_proj.weight`] = stackRows(['q', 'k', 'v'].map((x) => separate[`${p}self_attn.${x}_proj.weight`]));
      fused[`${p}mlp.gate_up_proj.weight`] = stackRows(['gate', 'up'].map((x) => separate[`${p}mlp.${x}_proj.weight`]));
    }
    const phiDir = makeTinyModel({ arch: 'Phi3ForCausalLM', config: shape, seed: 5 });
    writeFileSync(join(phiDir, 'model.safetensors'), encodeSafetensors(fused));
    const llamaCfg = parseModelConfig({ ...tinyConfig({ config: shape }) });
    const phiCfg = parseModelConfig({ ...tinyConfig({ arch: 'Phi3ForCausalLM', config: shape }) });
    for (const transform of [undefined, tensorParallelShard(0, 2), tensorParallelShard(1, 2)]) {
      const a = await Checkpoint.open(llamaDir);
      const b = await Checkpoint.open(phiDir);
      const wa = await loadWeights(g, a, llamaCfg, { quiet: true, transform });
      const wb = await loadWeights(g, b, phiCfg, { quiet: true, transform });
      for (const l of [0, 1]) {
        for (const key of ['qkv', 'gateUp'] as const) {
          expect(wb.layers[l][key].shape).toEqual(wa.layers[l][key].shape);
          const [x, y] = [(await g.read(wa.layers[l][key] as Tensor)) as Uint16Array, (await g.read(wb.layers[l][key] as Tensor)) as Uint16Array];
          expect(Buffer.from(y.buffer, y.byteOffset, y.byteLength).equals(Buffer.from(x.buffer, x.byteOffset, x.byteLength)), `layer ${l} ${key}`).toBe(true);
        }
      }
      await a.close();
      await b.close();
    }
  });
});
