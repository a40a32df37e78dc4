// `tknp bench serve`: options, and the run against a server that is already up.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Argv } from 'yargs';
import { runServeBench, type ServeBenchReport } from '../bench/serve.js';
import { renderServeTable } from '../bench/serve_report.js';

export function benchServeOptions<T>(y: Argv<T>) {
  return y
    .option('url', { type: 'string', default: 'http://127.0.0.1:8000', describe: 'base URL of the running server' })
    .option('api-key', { type: 'string', describe: 'bearer token (env TKNP_API_KEY)' })
    .option('served-model', { type: 'string', describe: 'model id to request (default: the first of GET /v1/models)' })
    .option('num-prompts', { type: 'number', default: 200, describe: 'requests per run' })
    .option('input-len', { type: 'number', default: 1024, describe: 'prompt tokens per request (random token ids), after the shared prefix' })
    .option('shared-prefix-len', { type: 'number', default: 0, describe: 'tokens of a random prefix every prompt starts with (a system prompt; prefix caching), before its own --input-len tokens' })
    .option('output-len', { type: 'number', default: 128, describe: 'generated tokens per request (EOS ignored)' })
    .option('request-rate', { type: 'string', default: 'inf', describe: "requests per second, Poisson arrivals; 'inf': all at once; comma-separated: one run each" })
    .option('max-concurrency', { type: 'number', describe: 'most requests in flight' })
    .option('vocab', { type: 'number', default: 1000, describe: 'prompt token ids are drawn from [10, vocab)' })
    .option('seed', { type: 'number', default: 0 })
    .option('json', { type: 'string', describe: 'write the report as JSON to this file' })
    .option('markdown', { type: 'string', describe: 'write the table as Markdown to this file' });
}

export interface BenchServeArgs {
  url: string;
  'api-key'?: string;
  'served-model'?: string;
  'num-prompts': number;
  'input-len': number;
  'shared-prefix-len': number;
  'output-len': number;
  'request-rate': string;
  'max-concurrency'?: number;
  vocab: number;
  seed: number;
  json?: string;
  markdown?: string;
}

/** '1,4,inf' → [1, 4, Infinity]. */
export function parseRates(s: string): number[] {
  const rates = String(s)
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map((x) => (x === 'inf' ? Infinity : Number(x)));
  if (!rates.length || rates.some((r) => !(r > 0))) throw new RangeError(`--request-rate wants positive numbers or 'inf' separated by commas, got '${s}'`);
  return rates;
}

export async function benchServe(a: BenchServeArgs, command: string): Promise<ServeBenchReport> {
  const report = await runServeBench(
    {
      url: a.url.replace(/\/+$/, ''),
      apiKey: a['api-key'] ?? (process.env.TKNP_API_KEY || undefined),
      model: a['served-model'],
      numPrompts: a['num-prompts'],
      inputLen: a['input-len'],
      sharedPrefixLen: a['shared-prefix-len'],
      outputLen: a['output-len'],
      requestRates: parseRates(a['request-rate']),
      maxConcurrency: a['max-concurrency'],
      vocab: a.vocab,
      seed: a.seed,
      log: (l) => process.stderr.write(`${l}\n`),
    },
    command,
  );
  const table = renderServeTable(report);
  console.log(table);
  for (const [file, text] of [
    [a.json, `${JSON.stringify(report, null, 1)}\n`],
    [a.markdown, `${table}\n`],
  ] as const) {
    if (!file) continue;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    console.log(`wrote ${file}`);
  }
  return report;
}
