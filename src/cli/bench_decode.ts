// `tknp bench decode`: options, and the run (or, on ranks other than 0 of an external launch,
// the worker loop with the same engine configuration).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Argv } from 'yargs';
import { decodeBenchEngineConfig, runDecodeBench, type DecodeBenchOptions, type DecodeBenchReport, type PrefillMode } from '../bench/decode.js';
import { renderDecodeTable } from '../bench/decode_report.js';
import { presetModelDir, presetNames } from '../bench/presets.js';
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

export function benchDecodeOptionsFrom(a: BenchDecodeArgs, command = '', log?: (l: string) => void): DecodeBenchOptions {
  const engine = engineConfigFrom(a);
  const model = a.model ?? presetModelDir(a.preset);
  return {
    engine: { ...engine, model, loadFormat: a['load-format'], profile: a.profile || undefined },
    batches: list('batch', a.batch),
    contexts: list('context', a.context),
    steps: a.steps,
    warmupSteps: a.warmup,
    prefill: a.prefill,
    seed: a.seed,
    preset: a.model ? undefined : a.preset,
    command,
    log,
  };
}

/** Runs the benchmark (rank 0) or this rank's worker loop; returns the report on rank 0. */
export async function benchDecode(a: BenchDecodeArgs, command: string): Promise<DecodeBenchReport | undefined> {
  const log = a.quiet ? undefined : (l: string) => process.stderr.write(`${l}\n`);
  const opts = benchDecodeOptionsFrom(a, command, log);
  const env = launchEnv();
  if (env.rank !== 0) {
    const c = decodeBenchEngineConfig(opts);
    return runWorkerProcess(c, env);
  }
  const report = await runDecodeBench(opts);
  console.log(renderDecodeTable(report));
  if (a.json) {
    mkdirSync(dirname(a.json), { recursive: true });
    writeFileSync(a.json, `${JSON.stringify(report, null, 1)}\n`);
    console.log(`wrote ${a.json}`);
  }
  return report;
}
