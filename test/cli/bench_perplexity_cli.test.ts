// `tknp bench perplexity` through the command line, in process (runCli): a run on tiny-llama writes
// its JSON report; bad input is refused with a named error before the engine starts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { loadFixture } from '../helpers/engine.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();
const fx = loadFixture('tiny-llama');
const work = mkdtempSync(join(tmpdir(), 'tknp-ppl-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A uint16 token file of `ids`. */
function tokenFile(name: string, ids: readonly number[]): string {
  const buf = Buffer.alloc(ids.length * 2);
  ids.forEach((id, i) => buf.writeUInt16LE(id, 2 * i));
  const path = join(work, name);
  writeFileSync(path, buf);
  return path;
}

const stream = [...fx.prompts[1].ids, ...fx.greedy[1].ids]; // the long prompt and its 32 greedy ids
const ppl = (...args: string[]) => runCli(['bench', 'perplexity', '--model', fx.dir, '-q', ...args]);

describe('tknp bench perplexity: refusals before the engine starts', () => {
  it('names the file, the token and the id outside the vocabulary', async () => {
    await expect(ppl('--tokens', tokenFile('big.u16', [1, 2, 1024, 3]))).rejects.toThrow(/big\.u16: token 2 is id 1024, outside the model's vocabulary \(vocab_size 1024\)/);
  });

  it('refuses a window the stream or the model cannot hold, and --tokens with --text', async () => {
    const file = tokenFile('ok.u16', stream);
    await expect(ppl('--tokens', file, '--window', String(stream.length))).rejects.toThrow(/holds no window of \d+ \+ 1 tokens/);
    await expect(ppl('--tokens', file, '--window', '0')).rejects.toThrow(/window must be an integer >= 1, got 0/);
    await expect(ppl('--tokens', file, '--window', '8', '--max-windows', '0')).rejects.toThrow(/maxWindows must be an integer >= 1, got 0/);
    const long = tokenFile('long.u16', Array.from({ length: 1100 }, (_, i) => stream[i % stream.length]));
    await expect(ppl('--tokens', long, '--window', '1030')).rejects.toThrow(/window 1030 exceeds the model's max_position_embeddings 1024/);
    await expect(ppl('--tokens', file, '--window', '16', '--max-model-len', '8')).rejects.toThrow(/window 16 exceeds maxModelLen 8/);
    await expect(ppl('--tokens', file, '--text', file)).rejects.toThrow(/--tokens and --text exclude each other/);
  });

  it('asks for a stream with a model other than the embedded one', async () => {
    await expect(ppl()).rejects.toThrow(/give the text to evaluate \(--tokens FILE or --text FILE\)/);
  });
});

describe.skipIf(!gpu)(`tknp bench perplexity: a run ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it('evaluates floor((n - 1) / window) windows, capped by --max-windows, and writes the report', async () => {
    const out = join(work, 'report.json');
    await ppl('--tokens', tokenFile('s.u16', stream), '--window', '16', '--max-windows', '2', '--json', out);
    const r = JSON.parse(readFileSync(out, 'utf8'));
    expect(r).toMatchObject({ model: fx.dir, quantization: 'none', streamTokens: stream.length, window: 16, windows: 2, tokens: 32, tensorParallelSize: 1, batchInvariant: true });
    expect(r.command).toContain('bench perplexity');
    expect(r.windowNlls).toHaveLength(2);
    expect(r.meanNll).toBeCloseTo((r.windowNlls[0] + r.windowNlls[1]) / 2, 12);
    expect(r.perplexity).toBeCloseTo(Math.exp(r.meanNll), 9);
    expect(r.tokenNlls).toBeUndefined();
  });
});
