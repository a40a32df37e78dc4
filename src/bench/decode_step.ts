// One step of `tknp bench decode` through the executor, greedy, as the engine's loop runs it
// (flatten → execute on every rank); shared by the decode cases and the time-to-first-token run.
import type { Executor } from '../engine/executor.js';
import { normalizeSamplingParams } from '../engine/sampling_params.js';
import type { SamplingRow } from '../kernels/sampling.js';
import { flattenSchedulerOutput, type SchedulerOutput } from '../scheduler/scheduler_output.js';

export const GREEDY = normalizeSamplingParams({ temperature: 0, ignoreEos: true, maxTokens: 1 }, {}, () => 0);
export const greedyRow = (): SamplingRow => ({ temperature: 0, topK: 0, topP: 1, seed: 0, step: 0 });

/** Runs one step through the executor and returns the sampled token of each sampling request. */
export async function execute(ex: Executor, out: SchedulerOutput, maxBlocksPerSeq: number): Promise<Map<string, number>> {
  const flat = flattenSchedulerOutput(out, maxBlocksPerSeq);
  const result = await ex.execute(out, flat, flat.sampledRequestIds.map(greedyRow));
  return new Map(flat.sampledRequestIds.map((id, i) => [id, result.tokens[i]]));
}
