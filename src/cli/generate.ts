// `tknp generate`: stream a completion (or several) to stdout, then a summary line.
import { LLMEngine, type RequestOutput } from '../engine/llm_engine.js';
import type { SamplingParamsInput } from '../engine/sampling_params.js';
import type { EngineConfig } from '../engine/config.js';
import { prefixCacheSummary } from '../scheduler/prefix_cache_summary.js';

export interface GenerateArgs {
  readonly prompts: readonly string[];
  readonly chat: boolean;
  readonly system?: string;
  readonly json: boolean;
  readonly sampling: SamplingParamsInput;
  readonly engine: Partial<EngineConfig> & { model: string };
}

export async function generate(a: GenerateArgs): Promise<void> {
  const t0 = performance.now();
  const engine = await LLMEngine.create(a.engine);
  const loadMs = performance.now() - t0;
  const stream = a.prompts.length === 1 && !a.json;
  const ids: string[] = [];
  const stop = () => {
    for (const id of ids) engine.abortRequest(id);
  };
  process.once('SIGINT', stop);
  try {
    for (const p of a.prompts) {
      const prompt = a.chat ? { messages: [...(a.system ? [{ role: 'system', content: a.system }] : []), { role: 'user', content: p }] } : p;
      ids.push(engine.addRequest(prompt, a.sampling));
    }
    const finals = new Map<string, RequestOutput>();
    const start = performance.now();
    let steps = 0;
    while (engine.hasUnfinishedRequests()) {
      let outs;
      try {
        outs = await engine.step();
      } catch (e) {
        // A rank died or hung: every unfinished request fails with the reason, then we exit.
        const msg = `${(e as Error).name}: ${(e as Error).message}`;
        if (stream) process.stdout.write('\n');
        for (const o of engine.failAll(msg)) console.error(`[tknp] ${o.requestId} failed: ${o.error}`);
        throw e;
      }
      steps++;
      for (const o of outs) {
        if (stream) process.stdout.write(o.delta);
        if (o.finished) finals.set(o.requestId, o);
      }
    }
    const end = performance.now();
    if (stream) process.stdout.write('\n');
    for (const id of ids) {
      const o = finals.get(id)!;
      if (a.json) {
        console.log(JSON.stringify({ requestId: id, prompt: a.prompts[ids.indexOf(id)], text: o.text, tokenIds: o.tokenIds, promptTokens: o.promptTokenIds.length, finishReason: o.finishReason, ...(o.error ? { error: o.error } : {}) }));
      } else if (!stream) {
        console.log(`--- ${id} (${o.finishReason}) ---\n${a.prompts[ids.indexOf(id)]}${o.text}`);
      }
      if (o.finishReason === 'error') console.error(`[tknp] ${id} failed: ${o.error}`);
    }
    const outs = [...finals.values()];
    const promptTokens = outs.reduce((n, o) => n + o.promptTokenIds.length, 0);
    const genTokens = outs.reduce((n, o) => n + o.tokenIds.length, 0);
    const ttft = Math.min(...outs.map((o) => (o.metrics.firstTokenMs ?? end) - start));
    const lastFirst = Math.max(...outs.map((o) => o.metrics.firstTokenMs ?? end));
    const decodeTokens = genTokens - outs.length;
    const decodeSecs = (end - lastFirst) / 1000;
    console.error(
      `[tknp] ${outs.length} request(s): prompt ${promptTokens} tokens, generated ${genTokens} tokens in ${steps} steps; load ${(loadMs / 1000).toFixed(1)} s; time to first token ${ttft.toFixed(0)} ms; decode ${decodeSecs > 0 && decodeTokens > 0 ? (decodeTokens / decodeSecs).toFixed(1) : 'n/a'} tokens/s; total ${((end - start) / 1000).toFixed(2)} s; ${engine.stats.prefillTokens} prefill tokens computed, ${prefixCacheSummary(engine.scheduler)}`,
    );
    if (outs.some((o) => o.finishReason === 'error')) process.exitCode = 1;
    const profiles = (engine.executor as { profiles?: Record<string, number>[][] }).profiles;
    if (profiles?.length) printProfile(profiles, engine.modelConfig.numLayers);
  } finally {
    process.removeListener('SIGINT', stop);
    await engine.shutdown();
  }
}

/** Mean per-step times (ms) over the profiled steps, per rank. */
function printProfile(steps: Record<string, number>[][], numLayers: number): void {
  const ranks = steps[0].length;
  console.error(`[tknp] profile over ${steps.length} steps (ms per step; divide by ${numLayers} layers for per-layer):`);
  for (let r = 0; r < ranks; r++) {
    const keys = Object.keys(steps[0][r]);
    const mean = keys.map((k) => `${k} ${(steps.reduce((s, p) => s + (p[r][k] ?? 0), 0) / steps.length).toFixed(2)}`);
    console.error(`[tknp]   rank ${r}: ${mean.join(', ') || '(no communication)'}`);
  }
}
