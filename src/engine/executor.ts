// Executor: what the engine needs from the GPU side, whatever the parallel layout. One rank:
// a ModelRunner in this process. Several ranks: src/parallel's executor, which ships each step to
// the ranks and gathers the sampled tokens.
import type { ModelConfig } from '../loader/model_config.js';
import type { StepSamplingRow } from '../runner/sampler.js';
import type { StepResult } from '../runner/model_runner.js';
import type { FlatBatch, SchedulerOutput } from '../scheduler/scheduler_output.js';

export interface Executor {
  readonly modelConfig: ModelConfig;
  readonly maxModelLen: number;
  /** KV blocks of each token-parallel rank. */
  readonly numBlocksPerRank: readonly number[];
  /** Lines describing the ranks and their memory, printed at start-up. */
  readonly startupLog: readonly string[];
  /**
   * [worldSize] recent mean attention ms per step of each rank that measures it (the
   * attention-only ranks of token parallelism); absent or undefined where not measured.
   */
  readonly attentionMsPerStep?: readonly (number | undefined)[];
  /** Runs one step on every rank; resolves with the sampled tokens (and logits if asked). */
  execute(out: SchedulerOutput, flat: FlatBatch, sampling: readonly StepSamplingRow[], opts?: { returnLogits?: boolean }): Promise<StepResult>;
  shutdown(): Promise<void>;
}
