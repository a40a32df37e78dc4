// Picks the executor for the configured parallel layout.
import { Gpu } from '../gpu/gpu.js';
import { ModelRunner } from '../runner/model_runner.js';
import type { EngineConfig } from './config.js';
import { DistributedExecutor } from '../parallel/distributed_executor.js';
import type { Executor } from './executor.js';

/** One rank in this process: tp = tknp = 1. */
export class LocalExecutor implements Executor {
  private constructor(
    private readonly gpu: Gpu,
    readonly runner: ModelRunner,
  ) {}

  static async create(c: EngineConfig): Promise<LocalExecutor> {
    const gpu = await Gpu.create({ backend: c.backend as never, adapterName: c.adapter, robustness: c.robustness });
    try {
      const runner = await ModelRunner.create(gpu, c.model, c);
      return new LocalExecutor(gpu, runner);
    } catch (e) {
      gpu.destroy();
      throw e;
    }
  }

  get modelConfig() {
    return this.runner.config;
  }
  get maxModelLen() {
    return this.runner.maxModelLen;
  }
  get numBlocksPerRank() {
    return [this.runner.numBlocks];
  }
  get startupLog() {
    return [`rank 0: ${this.gpu.describe()}`, ...this.runner.log.map((l) => `rank 0: ${l}`)];
  }

  /** With --profile: per step, [GPU ms per shader] (the shape DistributedExecutor's profiles have). */
  get profiles(): Record<string, number>[][] {
    return this.runner.profiles;
  }

  /** CPU time spent recording steps so far (ModelRunner.recordTime). */
  get recordTime(): { readonly steps: number; readonly ms: number } {
    return this.runner.recordTime;
  }

  execute(...args: Parameters<Executor['execute']>) {
    const [, flat, sampling, opts] = args;
    return this.runner.execute(flat, sampling, opts);
  }

  async shutdown(): Promise<void> {
    this.gpu.destroy();
  }
}

export async function createExecutor(c: EngineConfig): Promise<Executor> {
  if (c.tensorParallelSize === 1 && c.tokenParallelSize === 1) return LocalExecutor.create(c);
  return DistributedExecutor.create(c, { profile: c.profile, timeoutMs: c.commTimeoutMs });
}
