// `tknp bench decode`: options, and the run (or, on ranks other than 0 of an external launch,
// the worker loop with the same engine configuration).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Argv } from 'yargs';
import { decodeBenchEngineConfig, runDecodeBench, type DecodeBenchOptions, type DecodeBenchReport, type PrefillMode } from '../bench/decode.js';
import { checkBaselinePreset, DecodeBaselineError, parsePeerReport, rooflineCopy, type PeerReport } from '../bench/decode_baseline.js';
import { caseList, parseDecodeCases } from '../bench/decode_plan.js';
import { renderDecodeTable } from '../bench/decode_report.js';
import { compareLine, decodeSummary, decodeSummaryJson, renderDecodeHtml, renderDecodeMarkdown, sideLines } from '../bench/decode_summary.js';
import { preset, presetModelDir, presetNames } from '../bench/presets.js';
import { launchEnv } from '../parallel/launch_env.js';
import { runWorkerProcess } from '../parallel/worker.js';
import { engineConfigFrom, engineOptions, type EngineArgs } from './options.js';

export function benchDecodeOptions<T>(y: Argv<T>) {
  return engineOptions(y)
    .option('preset', { choices: presetNames(), default: 'llama-3-8b', describe: 'model shapes (ignored with --model)' })
    .option('load-format', { choices: ['dummy', 'safetensors'] as const, default: 'dummy' as const, describe: "weights: 'dummy' (seeded random, made on the GPU) or the model's safetensors (--model)" })
    .option('batch', { type: 'string', default: '16,64,256', describe: 'batch sizes (concurrent sequences), comma-separated' })
    .option('context', { type: 'string', default: '4096,32768', describe: 'prompt lengths in tokens, comma-separated' })
    .option('steps', { type: 'number', default: 32, describe: 'timed decode steps per case' })
    .option('warmup', { type: 'number', default: 2, describe: 'untimed decode steps before the timed ones' })
    .option('prefill', { choices: ['compute', 'skip'] as const, default: 'compute' as const, describe: "'skip': admit the prompts without running their prefill (decode reads as many KV bytes)" })
    .option('seed', { type: 'number', default: 0, describe: 'seed of the random prompt token ids' })
    .option('cases', { type: 'string', describe: "explicit cases BATCHxCONTEXT, comma-separated (e.g. '1x4096,64x4096,256x1024'); replaces --batch and --context" })
    .option('ttft', { type: 'number', describe: 'also time one whole-prompt prefill of this many tokens (time to first token), after a warm-up prefill' })
    .option('ttft-cached-prefix', { type: 'number', describe: 'with --ttft: also time prompts of that length whose first this-many tokens (a shared system prompt) are in the prefix cache' })
    .option('list-cases', { type: 'string', describe: 'write the model config and cases for tools/bench_decode_pytorch.py to this file and exit' })
    .option('baseline', { type: 'string', describe: 'JSON of tools/bench_decode_pytorch.py: adds PyTorch tokens/s and the ratio per case' })
    .option('copy-gbps', { type: 'number', describe: "copy bandwidth (GB/s) of the bytes roofline (default: the baseline's measured one)" })
    .option('markdown', { type: 'string', describe: 'write a Markdown summary (tknp vs PyTorch, roofline, prefill, generate)' })
    .option('html', { type: 'string', describe: 'write the summary as a self-contained HTML page with charts' })
    .option('json', { type: 'string', describe: 'write the report as JSON to this file' });
}

export interface BenchDecodeArgs extends EngineArgs {
  preset: string;
  'load-format': 'dummy' | 'safetensors';
  batch: string;
  context: string;
  steps: number;
  warmup: number;
  prefill: PrefillMode;
  seed: number;
  cases?: string;
  ttft?: number;
  'ttft-cached-prefix'?: number;
  'list-cases'?: string;
  baseline?: string;
  'copy-gbps'?: number;
  markdown?: string;
  html?: string;
  json?: string;
}

function list(what: string, s: string): number[] {
  const xs = String(s)
    .split(',')
    .filter((x) => x.trim() !== '')
    .map((x) => Number(x.trim()));
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x < 1)) throw new RangeError(`--${what} wants positive integers separated by commas, got '${s}'`);
  return xs;
}

function positiveInt(what: string, x: number): number {
  if (!Number.isInteger(x) || x < 1) throw new RangeError(`--${what} wants a positive integer, got ${x}`);
  return x;
}

export function benchDecodeOptionsFrom(a: BenchDecodeArgs, command = '', log?: (l: string) => void): DecodeBenchOptions {
  const engine = engineConfigFrom(a);
  const model = a.model ?? presetModelDir(a.preset);
  return {
    engine: { ...engine, model, loadFormat: a['load-format'], profile: a.profile || undefined },
    ...(a.cases !== undefined ? casesFrom(parseDecodeCases(a.cases)) : { batches: list('batch', a.batch), contexts: list('context', a.context) }),
    ...(a.ttft !== undefined ? { ttft: positiveInt('ttft', a.ttft) } : {}),
    ...(a['ttft-cached-prefix'] !== undefined ? { ttftCachedPrefix: a['ttft-cached-prefix'] } : {}),
    steps: a.steps,
    warmupSteps: a.warmup,
    prefill: a.prefill,
    seed: a.seed,
    preset: a.model ? undefined : a.preset,
    command,
    log,
  };
}

function casesFrom(cases: DecodeOptionsCases['cases']): DecodeOptionsCases {
  return { cases, batches: [...new Set(cases.map((c) => c.batch))], contexts: [...new Set(cases.map((c) => c.context))] };
}

type DecodeOptionsCases = Required<Pick<DecodeBenchOptions, 'cases' | 'batches' | 'contexts'>>;

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** The case file tools/bench_decode_pytorch.py reads: the model's config.json and the cases, so both sides run the same shapes. */
export function decodeCaseFile(opts: DecodeBenchOptions): object {
  const config = opts.preset ? preset(opts.preset).config : (JSON.parse(readFileSync(join(opts.engine.model, 'config.json'), 'utf8')) as object);
  return { preset: opts.preset ?? null, model: opts.engine.model, config, cases: caseList(opts), steps: opts.steps, warmupSteps: opts.warmupSteps ?? 2, ttft: opts.ttft ?? null, command: opts.command ?? '' };
}

/** Reads and checks --baseline before anything runs (a bad file is refused up front). */
export function readBaseline(file: string, presetName: string | null): PeerReport & { file: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new DecodeBaselineError(`--baseline ${file}: ${(e as Error).message}`);
  }
  const peer = parsePeerReport(doc, file);
  checkBaselinePreset(peer, presetName, file);
  return { ...peer, file };
}

/** Runs the benchmark (rank 0) or this rank's worker loop; returns the report on rank 0. */
export async function benchDecode(a: BenchDecodeArgs, command: string): Promise<DecodeBenchReport | undefined> {
  const log = a.quiet ? undefined : (l: string) => process.stderr.write(`${l}\n`);
  const opts = benchDecodeOptionsFrom(a, command, log);
  if (a['list-cases']) {
    write(a['list-cases'], `${JSON.stringify(decodeCaseFile(opts), null, 1)}\n`);
    console.log(`wrote ${caseList(opts).length} cases to ${a['list-cases']}`);
    return undefined;
  }
  const env = launchEnv();
  if (env.rank !== 0) {
    const c = decodeBenchEngineConfig(opts);
    return runWorkerProcess(c, env);
  }
  const peer = a.baseline ? readBaseline(a.baseline, opts.preset ?? null) : undefined;
  rooflineCopy(a['copy-gbps'], peer); // a bad --copy-gbps is refused before the run
  const report = await runDecodeBench(opts);
  const summary = decodeSummary(report, peer, a['copy-gbps']);
  const compared = peer || summary.copy;
  console.log(renderDecodeTable(report, compared ? summary.comparison : undefined));
  if (compared) console.log(compareLine(summary));
  for (const l of sideLines(summary)) console.log(l);
  if (summary.copy) console.log(`bytes roofline at ${summary.copy.gbps.toFixed(0)} GB/s (${summary.copy.source})`);
  const outputs: [string | undefined, () => string][] = [
    [a.json, () => `${JSON.stringify(decodeSummaryJson(summary), null, 1)}\n`],
    [a.markdown, () => `${renderDecodeMarkdown(summary)}\n`],
    [a.html, () => renderDecodeHtml(summary)],
  ];
  for (const [file, text] of outputs) {
    if (!file) continue;
    write(file, text());
    console.log(`wrote ${file}`);
  }
  return report;
}
