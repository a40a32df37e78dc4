// What the loader must still accept, on the CLI's real path (runCli): a Hugging Face cache
// snapshot whose files are symlinks into ../../blobs, a tokenizer smaller than vocab_size (with
// sampling confined to its ids), a 1M-context config served at --max-model-len 64, sliding
// windows that transformers does not apply or that the served length stays within, and saved
// rotary_emb.inv_freq buffers.
import { mkdirSync, mkdtempSync, readdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { LLMEngine } from '../../src/engine/llm_engine.js';
import { encodeSafetensors } from '../../src/loader/safetensors_writer.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';
import { copyModel, editJson, makeTinyModel, tinyConfig, tinyTensors } from '../helpers/model_dir.js';

const gpu = await testGpu();

interface JsonOutput {
  readonly text: string;
  readonly tokenIds: number[];
  readonly finishReason: string;
}

/** Runs `tknp generate --json` in-process and returns its one output line, parsed. */
async function generate(model: string, args: readonly string[] = []): Promise<JsonOutput> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line)); // --json prints with console.log
  try {
    await runCli(['generate', '--model', model, '-q', '--json', '-p', 'The cat sat', ...args]);
  } finally {
    spy.mockRestore();
  }
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]) as JsonOutput;
}

const GREEDY = ['-n', '12', '--temperature', '0', '--ignore-eos'];

/** The Hugging Face cache layout: snapshots/<rev>/<file> -> ../../blobs/<name>. */
function hfCacheLayout(src: string): string {
  const root = mkdtempSync(join(tmpdir(), 'tknp-hf-cache-'));
  const blobs = join(root, 'blobs');
  const snap = join(root, 'snapshots', '0123abcd');
  mkdirSync(blobs, { recursive: true });
  mkdirSync(snap, { recursive: true });
  for (const f of readdirSync(src)) {
    renameSync(join(src, f), join(blobs, `blob-${f}`));
    symlinkSync(join('..', '..', 'blobs', `blob-${f}`), join(snap, f));
  }
  return snap;
}

afterEach(() => vi.restoreAllMocks());

describe.skipIf(!gpu)(`the loader accepts ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const base = makeTinyModel();

  it('a Hugging Face cache snapshot of symlinks into ../../blobs, with the same output as the plain directory', async () => {
    const plain = await generate(base, GREEDY);
    const cached = await generate(hfCacheLayout(copyModel(base)), GREEDY);
    expect(cached.tokenIds).toEqual(plain.tokenIds);
    expect(plain.tokenIds).toHaveLength(12);
  });

  it('a 1M-context config served at --max-model-len 64, with the output of the same weights at 256', async () => {
    const long = copyModel(base);
    editJson(long, 'config.json', (c) => ({ ...c, max_position_embeddings: 1_000_000 }));
    const a = await generate(long, [...GREEDY, '--max-model-len', '64']);
    const b = await generate(base, [...GREEDY, '--max-model-len', '64']);
    expect(a.tokenIds).toEqual(b.tokenIds);
  });

  it('sliding windows transformers does not apply (Llama; Qwen2 without use_sliding_window) or that the served length stays within (Mistral)', async () => {
    const llama = copyModel(base);
    editJson(llama, 'config.json', (c) => ({ ...c, sliding_window: 8 }));
    expect((await generate(llama, GREEDY)).tokenIds).toEqual((await generate(base, GREEDY)).tokenIds);
    const qwen = makeTinyModel({ arch: 'Qwen2ForCausalLM', config: { sliding_window: 8, use_sliding_window: false, max_window_layers: 28 } });
    expect((await generate(qwen, GREEDY)).tokenIds).toHaveLength(12);
    const mistral = makeTinyModel({ arch: 'MistralForCausalLM', config: { sliding_window: 8 } });
    const m = await generate(mistral, ['-n', '4', '--temperature', '0', '--ignore-eos', '--max-model-len', '8']);
    expect(m.finishReason).toBe('length');
    expect(m.tokenIds.length).toBeGreaterThan(0);
  });

  it('saved rotary_emb.inv_freq buffers (ignored, as transformers ignores them)', async () => {
    const dir = copyModel(base);
    const t = tinyTensors(tinyConfig());
    const invFreq = { dtype: 'F32' as const, shape: [32], data: new Uint8Array(128) };
    writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors({ ...t, 'model.layers.0.self_attn.rotary_emb.inv_freq': invFreq, 'model.layers.1.self_attn.rotary_emb.inv_freq': invFreq }));
    expect((await generate(dir, GREEDY)).tokenIds).toEqual((await generate(base, GREEDY)).tokenIds);
  });

  it("a tokenizer smaller than vocab_size: sampling is confined to the tokenizer's ids", async () => {
    // vocab_size 1536, tokenizer ids 0..1023: random weights put a third of the mass above 1023.
    const padded = makeTinyModel({ vocabSize: 1536, seed: 7 });
    const out = await generate(padded, ['-n', '64', '--temperature', '1.5', '--seed', '3', '--ignore-eos']);
    expect(out.tokenIds).toHaveLength(64);
    expect(Math.max(...out.tokenIds)).toBeLessThan(1024);
    expect(new Set(out.tokenIds).size).toBeGreaterThan(8);
    const engine = await LLMEngine.create({ model: padded, quiet: true, maxNumSeqs: 2, maxNumBatchedTokens: 32 });
    try {
      engine.addRequest('The cat sat', { temperature: 0, maxTokens: 1 });
      const outs = await engine.step({ returnLogits: true });
      expect([...outs.logits!.values()][0]).toHaveLength(1024);
    } finally {
      await engine.shutdown();
    }
  });
});
