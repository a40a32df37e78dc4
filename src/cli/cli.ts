// tknp command line: `generate`, `serve`, `bench kernels|report|decode|perplexity|serve|comm`, `info`. main.ts runs
// it for the process; tests call runCli in-process, the same path with the same arguments.
import yargs from 'yargs';
import { benchKernels, mergeBenchReports } from './bench.js';
import { benchComm } from './bench_comm.js';
import { SWEEPS } from '../bench/types.js';
import { benchDecode, benchDecodeOptions, type BenchDecodeArgs } from './bench_decode.js';
import { benchPerplexity, benchPerplexityOptions, type BenchPerplexityArgs } from './bench_perplexity.js';
import { benchServe, benchServeOptions, type BenchServeArgs } from './bench_serve.js';
import { Gpu } from '../gpu/gpu.js';
import { generate } from './generate.js';
import { serve } from './serve.js';
import { launchEnv } from '../parallel/launch_env.js';
import { runNodeRanks } from '../parallel/node_launch.js';
import { runWorkerProcess } from '../parallel/worker.js';
import { resolveEngineConfig, type EngineConfig } from '../engine/config.js';
import { presetNames } from '../bench/presets.js';
import { presetServeModelDir } from '../bench/serve_model.js';
import { engineConfigFrom, engineOptions, samplingOptions, samplingOptionsFrom, type EngineArgs, type SamplingArgs } from './options.js';

/**
 * Ranks other than 0 of a parallel job (started by tknp itself, torchrun or srun) run the
 * worker loop instead of the command; returns true when this process was such a rank.
 */
async function runAsWorker(a: EngineArgs, extra: Partial<EngineConfig> = {}): Promise<boolean> {
  const env = launchEnv();
  if (env.source === 'none' && a.nnodes > 1 && a['node-rank'] > 0) {
    // Node R > 0 of a job started with tknp's own launcher: start this node's ranks, wait.
    const c = resolveEngineConfig({ ...engineConfigFrom(a), ...extra });
    process.exitCode = await runNodeRanks(c);
    return true;
  }
  if (env.rank === 0) return false;
  const c = resolveEngineConfig({ ...engineConfigFrom(a), ...extra });
  return runWorkerProcess(c, env);
}

/** Runs the command line `args` (process.argv without node and the script); errors are thrown. */
export async function runCli(args: readonly string[]): Promise<void> {
  const command = `tknp ${args.join(' ')}`;
  await yargs([...args])
    .scriptName('tknp')
    .option('backend', { type: 'string', describe: 'Dawn backend (vulkan, metal, d3d12); env TKNP_BACKEND' })
    .option('adapter', { type: 'string', describe: 'substring of the adapter name; env TKNP_ADAPTER' })
    .option('robustness', { type: 'boolean', describe: "Dawn's bounds checks on every shader memory access (off by default: costs up to 3.5x; for debugging a kernel); env TKNP_ROBUSTNESS=1" })
    .command(
      'info',
      'print the GPU adapter and its capabilities',
      () => {},
      async (a) => {
        const gpu = await Gpu.create({ backend: a.backend as never, adapterName: a.adapter, robustness: a.robustness });
        console.log(gpu.describe());
        gpu.destroy();
      },
    )
    .command(
      'generate',
      'generate text from a prompt (streams tokens to stdout)',
      (y) =>
        engineOptions(samplingOptions(y))
          .option('prompt', { alias: 'p', type: 'string', array: true, describe: 'prompt text (repeat for a batch)', default: ['Q: What is the secret of happiness?\nA:'] })
          .option('chat', { type: 'boolean', default: false, describe: "wrap the prompt in the model's chat template" })
          .option('system', { type: 'string', describe: 'system message (with --chat)' })
          .option('json', { type: 'boolean', default: false, describe: 'print one JSON object per request instead of streaming' }),
      async (a) => {
        if (await runAsWorker(a as unknown as EngineArgs)) return;
        await generate({
          prompts: a.prompt,
          chat: a.chat,
          system: a.system,
          json: a.json,
          sampling: samplingOptionsFrom(a as unknown as SamplingArgs),
          engine: engineConfigFrom(a as unknown as EngineArgs),
        });
      },
    )
    .command(
      'serve',
      'serve the OpenAI-compatible HTTP API and WebSocket token streaming',
      (y) =>
        engineOptions(samplingOptions(y))
          .option('host', { type: 'string', default: '127.0.0.1', describe: 'interface to listen on' })
          .option('port', { type: 'number', default: 8000, describe: 'port to listen on (0: any free port)' })
          .option('api-key', { type: 'string', describe: 'require `Authorization: Bearer KEY` on the API (WebSocket: also the subprotocol openai-insecure-api-key.KEY); env TKNP_API_KEY' })
          .option('allowed-origins', { type: 'string', array: true, describe: "browser origins besides the server's own that may use the API (e.g. https://app.example; '*': any)" })
          .option('log-requests', { type: 'boolean', default: true, describe: 'one log line per finished request (--no-log-requests: none)' })
          .option('stats-interval', { type: 'number', default: 10, describe: 'seconds between status lines while requests run (running, waiting, KV usage, prefill tokens computed, prefix cache hit rate per rank); 0: none' })
          .option('load-format', { choices: ['safetensors', 'dummy'] as const, default: 'safetensors' as const, describe: "weights: the model's safetensors, or 'dummy' (seeded random, made on the GPU; for benchmarks)" })
          .option('preset', { choices: presetNames(), describe: 'serve a preset\'s shapes without a checkpoint (with --load-format dummy; instead of --model): its config and a tokenizer grown to its vocabulary' }),
      async (a) => {
        if (a.preset !== undefined) {
          if (a.model !== undefined) throw new Error('--preset and --model exclude each other');
          if (a['load-format'] !== 'dummy') throw new Error('--preset has no weights: add --load-format dummy');
          a.model = presetServeModelDir(a.preset);
        }
        const extra = { loadFormat: a['load-format'] };
        if (await runAsWorker(a as unknown as EngineArgs, extra)) return;
        await serve({
          host: a.host,
          port: a.port,
          apiKey: a['api-key'] ?? (process.env.TKNP_API_KEY || undefined),
          allowedOrigins: a['allowed-origins'],
          logRequests: a['log-requests'],
          statsIntervalS: a['stats-interval'],
          sampling: samplingOptionsFrom(a as unknown as SamplingArgs),
          engine: { ...engineConfigFrom(a as unknown as EngineArgs), ...extra },
        });
      },
    )
    .command('bench', 'benchmarks', (y) =>
      y
        .command(
          'kernels',
          'validate and time every kernel over a sweep of real-model shapes',
          (k) =>
            k
              .option('filter', { type: 'string', describe: 'regex over suite, kernel and shape' })
              .option('sweep', { choices: SWEEPS, default: 'full' as const, describe: "'linear-m': every Llama-3-8B / Qwen2.5-7B projection over M = 1..512, both modes" })
              .option('json', { type: 'string', describe: 'write the report as JSON' })
              .option('html', { type: 'string', describe: 'write a self-contained HTML report' })
              .option('markdown', { type: 'string', describe: 'write a Markdown summary table' })
              .option('baseline', { type: 'string', describe: 'JSON of PyTorch timings (tools/bench_pytorch.py)' })
              .option('list-cases', { type: 'string', describe: 'write the case list for tools/bench_pytorch.py and exit' }),
          async (a) => {
            await benchKernels({ ...a, listCases: a['list-cases'] }, command);
          },
        )
        .command(
          'report <inputs..>',
          'merge the JSON reports of several `bench kernels` runs on one device into one report',
          (k) =>
            k
              .positional('inputs', { type: 'string', array: true, demandOption: true })
              .option('json', { type: 'string', describe: 'write the merged report as JSON' })
              .option('html', { type: 'string', describe: 'write a self-contained HTML report' })
              .option('markdown', { type: 'string', describe: 'write a Markdown summary table' }),
          (a) => {
            mergeBenchReports({ inputs: a.inputs as string[], json: a.json, html: a.html, markdown: a.markdown });
          },
        )
        .command(
          'decode',
          'decode throughput of the whole engine (scheduler, executor, kernels) on a preset model with dummy weights',
          (k) => benchDecodeOptions(k),
          async (a) => {
            await benchDecode(a as unknown as BenchDecodeArgs, command);
          },
        )
        .command(
          'perplexity',
          'perplexity of a model on a token stream through the engine (default: the embedded model on its held-out text), one prefill per window',
          (k) => benchPerplexityOptions(k),
          async (a) => {
            await benchPerplexity(a as unknown as BenchPerplexityArgs, command);
          },
        )
        .command(
          'serve',
          "serving benchmark (like vLLM's): drive a running server at Poisson request rates with synthetic prompts; TTFT, TPOT, ITL, end-to-end latency, throughput",
          (k) => benchServeOptions(k),
          async (a) => {
            await benchServe(a as unknown as BenchServeArgs, command);
          },
        )
        .command(
          'comm',
          'time collectives (broadcast, scatterv, gatherv, allReduce) through the communicator, ranks on this machine',
          (k) =>
            k
              .option('world', { type: 'number', default: 2, describe: 'ranks' })
              .option('comm', { choices: ['auto', 'socket', 'nccl'] as const, default: 'auto' as const })
              .option('sizes', { type: 'number', array: true, describe: 'payload bytes per rank (default 4 KiB … 64 MiB)' })
              .option('iterations', { type: 'number' })
              .option('json', { type: 'string' }),
          async (a) => {
            await benchComm({ world: a.world, comm: a.comm, sizes: a.sizes, iterations: a.iterations, json: a.json });
          },
        )
        .demandCommand(1),
    )
    .demandCommand(1)
    .strict()
    .fail((msg, err, y) => {
      if (err) throw err;
      console.error(`${y.help()}\n\n${msg}`);
      process.exit(2);
    })
    .parseAsync();
}
