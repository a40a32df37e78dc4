// `tknp bench perplexity`: options, and the run (or, on ranks other than 0 of an external launch,
// the worker loop with the same engine configuration). The engine options are bench decode's and
// generate's own (engineOptions), so every weight format the engine gains is measured here as is.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { checkPerplexityOptions, DEFAULT_WINDOW, perplexityEngineConfig, runPerplexity, type PerplexityOptions, type PerplexityReport } from '../bench/perplexity.js';
import { PerplexityError } from '../bench/perplexity_math.js';
import { defaultHeldoutFile, readTokenFile, tokenizeTextFile } from '../bench/token_stream.js';
import { launchEnv } from '../parallel/launch_env.js';
import { readModelConfig } from '../runner/model_runner.js';
import { runWorkerProcess } from '../parallel/worker.js';
import { defaultModelDir, engineConfigFrom, engineOptions, type EngineArgs } from './options.js';

export function benchPerplexityOptions<T>(y: Argv<T>) {
  return engineOptions(y)
    .option('tokens', { type: 'string', describe: 'little-endian uint16 token ids to evaluate (default with the embedded model: bench/data/heldout_default.u16, its held-out text)' })
    .option('text', { type: 'string', describe: "a UTF-8 text file to evaluate instead, tokenized with the model's tokenizer" })
    .option('window', { type: 'number', default: DEFAULT_WINDOW, describe: 'tokens predicted per window: the stream splits into non-overlapping windows of N + 1 tokens, each one prefill' })
    .option('max-windows', { type: 'number', describe: 'evaluate at most this many windows (from the start)' })
    .option('json', { type: 'string', describe: 'write the report as JSON to this file' });
}

export interface BenchPerplexityArgs extends EngineArgs {
  tokens?: string;
  text?: string;
  window: number;
  'max-windows'?: number;
  json?: string;
}

/** The stream and where it came from: --tokens, --text, or the embedded model's held-out file. */
function readStream(a: BenchPerplexityArgs, model: string): { stream: ArrayLike<number>; source: string } {
  if (a.tokens !== undefined && a.text !== undefined) throw new PerplexityError('--tokens and --text exclude each other');
  const vocab = readModelConfig(model).vocabSize;
  if (a.text !== undefined) return { stream: tokenizeTextFile(a.text, model, vocab), source: a.text };
  if (a.tokens === undefined && resolve(model) !== resolve(defaultModelDir())) {
    throw new PerplexityError(`--model ${a.model}: give the text to evaluate (--tokens FILE or --text FILE); the default stream belongs to the embedded model`);
  }
  const file = a.tokens ?? defaultHeldoutFile();
  if (a.tokens === undefined) {
    try {
      return { stream: readTokenFile(file, vocab), source: file };
    } catch (e) {
      throw new PerplexityError(`${(e as Error).message} (the embedded model's held-out tokens: made by \`python3 tools/dump_heldout.py --out bench/data\`, docs/BENCH_QUALITY.md)`);
    }
  }
  return { stream: readTokenFile(file, vocab), source: file };
}

export function benchPerplexityOptionsFrom(a: BenchPerplexityArgs, command = '', log?: (l: string) => void): PerplexityOptions {
  const engine = engineConfigFrom(a);
  const { stream, source } = readStream(a, engine.model);
  const opts: PerplexityOptions = { engine, stream, source, window: a.window, maxWindows: a['max-windows'], command, log };
  checkPerplexityOptions(opts); // a bad window or stream is refused before the engine starts
  return opts;
}

/** The report as printed: what was evaluated, mean NLL, perplexity, time. */
export function perplexityLines(r: PerplexityReport): string[] {
  return [
    `perplexity of ${r.model} (weights: ${r.quantization}) on ${r.source}: ${r.windows} windows × ${r.window} = ${r.tokens} tokens evaluated (stream ${r.streamTokens} tokens)`,
    `mean NLL ${r.meanNll.toFixed(4)}  perplexity ${r.perplexity.toFixed(3)}  (${r.seconds.toFixed(1)} s, ${(r.tokens / r.seconds).toFixed(0)} tokens/s; start-up ${r.startSeconds.toFixed(1)} s)`,
  ];
}

/** Runs the evaluation (rank 0) or this rank's worker loop; returns the report on rank 0. */
export async function benchPerplexity(a: BenchPerplexityArgs, command: string): Promise<PerplexityReport | undefined> {
  const log = a.quiet ? undefined : (l: string) => process.stderr.write(`${l}\n`);
  const env = launchEnv();
  if (env.rank !== 0) return runWorkerProcess(perplexityEngineConfig(engineConfigFrom(a), a.window), env);
  const opts = benchPerplexityOptionsFrom(a, command, log);
  const report = await runPerplexity(opts);
  for (const l of perplexityLines(report)) console.log(l);
  if (a.json) {
    mkdirSync(dirname(a.json), { recursive: true });
    writeFileSync(a.json, `${JSON.stringify(report, null, 1)}\n`);
    console.log(`wrote ${a.json}`);
  }
  return report;
}
