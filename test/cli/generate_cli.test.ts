// `tknp generate` as a user runs it: the demo prints text and a summary line; a broken model
// directory ends with one clear line naming the file and the problem, and nothing on stdout
// (test/loader/refusals.test.ts has every refusal through runCli in-process).
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { noGpuReason, testGpu } from '../helpers/gpu.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'models', 'tiny-llama');
const gpu = await testGpu();

async function tknp(args: string[], timeout = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, timeout });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** stderr lines that are tknp's own (Dawn prints two warnings at device creation). */
function ownLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l && !l.startsWith('Warning: maxDynamic'));
}

function brokenCopy(edit: (dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'tknp-broken-'));
  cpSync(FIXTURE, dir, { recursive: true });
  edit(dir);
  return dir;
}

describe.skipIf(!gpu)(`tknp generate ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it('the demo (embedded model) streams readable text and prints the summary line', async () => {
    const r = await tknp(['generate', '-n', '24', '--temperature', '0', '-p', 'Q: What is the meaning of life?\nA:']);
    expect(r.code).toBe(0);
    const ref = JSON.parse(readFileSync(join(ROOT, 'models', 'default', 'reference.json'), 'utf8')) as { prompts: { text: string; greedyTextUntilEos: string }[] };
    const want = ref.prompts.find((p) => p.text === 'Q: What is the meaning of life?\nA:')!.greedyTextUntilEos;
    expect(r.stdout.trim()).toBe(want.trim());
    expect(r.stderr).toMatch(/1 request\(s\): prompt 13 tokens, generated \d+ tokens .* time to first token \d+ ms; decode [\d.]+ tokens\/s/);
  });

  it('a corrupted safetensors header ends with one line naming the file', async () => {
    const dir = brokenCopy((d) => {
      const p = join(d, 'model.safetensors');
      const b = readFileSync(p);
      b.write('!', 8); // the header's opening brace
      writeFileSync(p, b);
    });
    const r = await tknp(['generate', '--model', dir, '-n', '2']);
    expect(r.code).toBe(1);
    expect(ownLines(r.stderr)).toEqual([`CheckpointError: ${join(dir, 'model.safetensors')}: corrupt header: not valid JSON (${ownLines(r.stderr)[0].split('not valid JSON (')[1]}`]);
    rmSync(dir, { recursive: true });
  });

  it('an unsupported architecture and a missing shard are named in one line each', async () => {
    const arch = brokenCopy((d) => {
      const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      writeFileSync(join(d, 'config.json'), JSON.stringify({ ...c, architectures: ['GPT2LMHeadModel'] }));
    });
    const r1 = await tknp(['generate', '--model', arch, '-n', '2']);
    expect(r1.code).toBe(1);
    expect(ownLines(r1.stderr)).toEqual([`UnsupportedArchitectureError: ${join(arch, 'config.json')}: unsupported architecture "GPT2LMHeadModel": tknp supports LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM`]);
    expect(r1.stdout).toBe('');
    const shard = brokenCopy((d) => {
      rmSync(join(d, 'model.safetensors'));
      writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.embed_tokens.weight': 'model-00001-of-00002.safetensors' } }));
    });
    const r2 = await tknp(['generate', '--model', shard, '-n', '2']);
    expect(r2.code).toBe(1);
    expect(ownLines(r2.stderr)).toEqual([`ModelFileError: ${join(shard, 'model-00001-of-00002.safetensors')}: missing shard listed in model.safetensors.index.json`]);
  });

  it('a FIFO for model.safetensors is refused at once (no hang), and a looping chat template is cut off (no heap abort)', async () => {
    const fifo = brokenCopy((d) => {
      rmSync(join(d, 'model.safetensors'));
      execFileSync('mkfifo', [join(d, 'model.safetensors')]);
    });
    const r1 = await tknp(['generate', '--model', fifo, '-n', '2'], 30_000);
    expect(r1.code).toBe(1);
    expect(ownLines(r1.stderr)).toEqual([`ModelFileError: ${join(fifo, 'model.safetensors')}: is a FIFO, not a regular file`]);
    const loop = brokenCopy((d) => {
      const c = JSON.parse(readFileSync(join(d, 'tokenizer_config.json'), 'utf8'));
      writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify({ ...c, chat_template: '{% for i in range(100000000) %}{% endfor %}' }));
    });
    const r2 = await tknp(['generate', '--model', loop, '-n', '2', '-q', '--chat', '-p', 'hi'], 60_000);
    expect(r2.code).toBe(1);
    expect(r2.stdout).toBe('');
    expect(ownLines(r2.stderr)).toEqual([`ChatTemplateError: ${join(loop, 'tokenizer_config.json')}: chat template failed: range() of 100000000 items is more than the 1000000 a chat template may make`]);
  });

  it('a 1M-context config runs at --max-model-len 64; a 100M one served whole is refused with one line on stderr, nothing on stdout', async () => {
    const long = brokenCopy((d) => {
      const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      writeFileSync(join(d, 'config.json'), JSON.stringify({ ...c, max_position_embeddings: 1_000_000 }));
    });
    const ok = await tknp(['generate', '--model', long, '-n', '3', '-q', '--temperature', '0', '--max-model-len', '64', '--json', '-p', 'hi']);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as { tokenIds: number[] }).tokenIds).toHaveLength(3);
    // Served whole, the rope table of 100M positions (24 GB) fits no device's largest binding (lavapipe: 128 MiB,
    // the H100: 2 GiB), so the memory plan refuses it.
    const longer = brokenCopy((d) => {
      const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      writeFileSync(join(d, 'config.json'), JSON.stringify({ ...c, max_position_embeddings: 100_000_000 }));
    });
    const whole = await tknp(['generate', '--model', longer, '-n', '3', '-q']);
    expect(whole.code).toBe(1);
    expect(whole.stdout).toBe('');
    expect(ownLines(whole.stderr)).toHaveLength(1);
    expect(ownLines(whole.stderr)[0]).toMatch(/^MemoryPlanError: maxModelLen: .*lower maxModelLen \(--max-model-len\)$/);
  });

  it("Dawn's text for an uncaptured validation error never reaches stdout; the error is thrown, named", async () => {
    const script = `import { Gpu } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'gpu', 'gpu.js'))};
const gpu = await Gpu.create();
gpu.device.createBuffer({ size: 4, usage: 0 }); // usage 0: a validation error nobody captures
try { await gpu.flush(); } catch (e) { process.stderr.write(e.name + '\\n'); }
gpu.destroy();`;
    const r = await run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, timeout: 60_000 });
    expect(r.stdout).toBe('');
    expect(ownLines(r.stderr)).toEqual(['GpuValidationError']);
  });
});
