// LLM: batch generation over LLMEngine, like vLLM's `LLM(model=...).generate(prompts, params)`.
import type { EngineConfig } from './config.js';
import { LLMEngine, type PromptInput, type RequestOutput } from './llm_engine.js';
import type { SamplingParamsInput } from './sampling_params.js';

export type LLMOptions = Partial<EngineConfig> & { model: string };

export class LLM {
  private constructor(readonly engine: LLMEngine) {}

  static async create(opts: LLMOptions): Promise<LLM> {
    return new LLM(await LLMEngine.create(opts));
  }

  /**
   * Generates for every prompt (one SamplingParams for all, or one per prompt) and returns the
   * final outputs in prompt order. Every request is validated before any is queued.
   */
  async generate(prompts: PromptInput | readonly PromptInput[], params: SamplingParamsInput | readonly SamplingParamsInput[] = {}): Promise<RequestOutput[]> {
    const list = Array.isArray(prompts) ? (prompts as readonly PromptInput[]) : [prompts as PromptInput];
    const per = Array.isArray(params) ? (params as readonly SamplingParamsInput[]) : list.map(() => params as SamplingParamsInput);
    if (per.length !== list.length) throw new RangeError(`generate: ${list.length} prompts but ${per.length} sampling params`);
    const ids: string[] = [];
    try {
      list.forEach((p, i) => ids.push(this.engine.addRequest(p, per[i])));
    } catch (e) {
      for (const id of ids) this.engine.abortRequest(id);
      await this.drain(new Set(ids));
      throw e;
    }
    return this.drain(new Set(ids)).then((done) => ids.map((id) => done.get(id)!));
  }

  private async drain(ids: Set<string>): Promise<Map<string, RequestOutput>> {
    const done = new Map<string, RequestOutput>();
    while (done.size < ids.size && this.engine.hasUnfinishedRequests()) {
      for (const o of await this.engine.step()) if (o.finished && ids.has(o.requestId)) done.set(o.requestId, o);
    }
    return done;
  }

  async shutdown(): Promise<void> {
    await this.engine.shutdown();
  }
}
