// `tknp serve`: load the engine, serve the OpenAI-compatible HTTP API and WebSocket streaming
// (src/server) until SIGINT/SIGTERM or until the engine fails (then exit code 1).
import type { EngineConfig } from '../engine/config.js';
import { LLMEngine } from '../engine/llm_engine.js';
import type { SamplingParamsInput } from '../engine/sampling_params.js';
import { TknpServer } from '../server/server.js';

export interface ServeArgs {
  readonly host: string;
  readonly port: number;
  readonly modelName?: string;
  readonly apiKey?: string;
  readonly allowedOrigins?: readonly string[];
  readonly logRequests?: boolean;
  /** Seconds between status lines while the engine steps (0: none). */
  readonly statsIntervalS?: number;
  /** Sampling defaults of every request (the command's sampling options). */
  readonly sampling: SamplingParamsInput;
  readonly engine: Partial<EngineConfig> & { model: string };
}

export async function serve(a: ServeArgs): Promise<void> {
  const log = (l: string) => process.stderr.write(`[tknp serve] ${l}\n`);
  const statsS = a.statsIntervalS ?? 10;
  if (!(Number.isFinite(statsS) && statsS >= 0)) throw new RangeError(`--stats-interval wants seconds >= 0, got ${a.statsIntervalS}`);
  const t0 = performance.now();
  const engine = await LLMEngine.create(a.engine);
  let server: TknpServer;
  try {
    const defaults = Object.fromEntries(Object.entries(a.sampling).filter(([, v]) => v !== undefined)) as SamplingParamsInput;
    server = await TknpServer.start(engine, { host: a.host, port: a.port, modelName: a.modelName, defaults, log, apiKey: a.apiKey, allowedOrigins: a.allowedOrigins, logRequests: a.logRequests });
  } catch (e) {
    await engine.shutdown();
    throw e;
  }
  log(`model ${engine.config.model} loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s; listening on ${server.url}`);
  log(`  playground ${server.url}/; POST ${server.url}/v1/completions, POST ${server.url}/v1/chat/completions, GET ${server.url}/v1/models, GET ${server.url}/metrics, GET ${server.url}/health`);
  log(`  WebSocket ${server.url.replace(/^http/, 'ws')}/v1/stream; ${a.apiKey ? 'API key required' : 'no API key (--api-key)'}; origins: same-origin${a.allowedOrigins?.length ? ` + ${a.allowedOrigins.join(', ')}` : ''}`);
  let lastSteps = engine.stats.steps;
  const stats = statsS > 0 ? setInterval(() => {
    if (engine.stats.steps === lastSteps) return;
    lastSteps = engine.stats.steps;
    log(server.metrics.statsLine());
  }, statsS * 1000) : undefined;
  stats?.unref();
  const stop = (signal: string) => {
    log(`${signal}: aborting requests and shutting down`);
    void server.close();
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  try {
    const failure = await server.closed;
    if (failure) {
      log(`stopped because the engine failed: ${failure.name}: ${failure.message}`);
      process.exitCode = 1;
    }
  } finally {
    process.removeListener('SIGINT', onInt);
    process.removeListener('SIGTERM', onTerm);
    clearInterval(stats);
    await engine.shutdown();
  }
}
