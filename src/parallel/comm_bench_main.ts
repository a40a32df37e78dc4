// Entry point of the ranks > 0 of `tknp bench comm` (started by src/cli/bench_comm.ts): join a
// group of WORLD_SIZE ranks and take part in every timed collective.
import { runCommBench } from '../bench/comm.js';
import { launchEnv } from './launch_env.js';
import { ProcessGroups } from './process_group.js';

export interface CommBenchSpec {
  readonly dataPlane: 'auto' | 'socket' | 'nccl';
  readonly sizes: readonly number[];
  readonly iterations?: number;
  readonly timeoutMs: number;
}

/** Joins the group as rank `rank` and runs the benchmark (rank 0 serves the store). */
export async function commBenchRank(spec: CommBenchSpec, rank: number, worldSize: number, masterAddr: string, masterPort: number) {
  const groups = await ProcessGroups.init({
    rank,
    tensorParallelSize: 1,
    tokenParallelSize: worldSize,
    masterAddr,
    masterPort,
    timeoutMs: spec.timeoutMs,
    dataPlane: spec.dataPlane,
    cudaDevice: rank,
  });
  try {
    return await runCommBench(groups.tknp, spec.sizes, { iterations: spec.iterations });
  } finally {
    await groups.close();
  }
}

if (process.env.TKNP_COMM_BENCH) {
  const env = launchEnv();
  const spec = JSON.parse(process.env.TKNP_COMM_BENCH) as CommBenchSpec;
  commBenchRank(spec, env.rank, env.worldSize, env.masterAddr, env.masterPort).then(
    () => process.exit(0),
    (e: Error) => {
      process.stderr.write(`[tknp bench comm rank ${env.rank}] ${e.name}: ${e.message}\n`);
      process.exit(1);
    },
  );
}
