// `tknp bench comm`: collective microbenchmark through the Communicator (sockets or NCCL),
// world ranks on this machine (rank 0 in this process).
import { writeFileSync } from 'node:fs';
import { formatCommResults, runCommBench, DEFAULT_COMM_SIZES } from '../bench/comm.js';
import type { CommBenchSpec } from '../parallel/comm_bench_main.js';
import { rankMainPath, spawnLocalRanks } from '../parallel/launcher.js';
import { ProcessGroups } from '../parallel/process_group.js';
import { topology } from '../parallel/topology.js';

export interface BenchCommArgs {
  readonly world: number;
  readonly comm: 'auto' | 'socket' | 'nccl';
  readonly sizes?: readonly number[];
  readonly iterations?: number;
  readonly json?: string;
  readonly timeoutMs?: number;
}

export async function benchComm(a: BenchCommArgs): Promise<void> {
  const spec: CommBenchSpec = { dataPlane: a.comm, sizes: a.sizes ?? DEFAULT_COMM_SIZES, iterations: a.iterations, timeoutMs: a.timeoutMs ?? 60_000 };
  const server = await ProcessGroups.serve(0, '127.0.0.1');
  const ranks = spawnLocalRanks({
    worldSize: a.world,
    ranks: Array.from({ length: a.world - 1 }, (_, i) => i + 1),
    nodeFirstRank: 0,
    masterAddr: '127.0.0.1',
    masterPort: server.port,
    entry: rankMainPath('comm_bench_main'),
    env: { TKNP_COMM_BENCH: JSON.stringify(spec) },
  });
  const opts = { rank: 0, tensorParallelSize: 1, tokenParallelSize: a.world, masterAddr: '127.0.0.1', masterPort: server.port, timeoutMs: spec.timeoutMs, dataPlane: spec.dataPlane, cudaDevice: 0 };
  const groups = await Promise.race([ProcessGroups.connect(topology(0, 1, a.world), opts, server.port, server), ranks.exited]);
  try {
    const rows = await Promise.race([runCommBench(groups.tknp, spec.sizes, { iterations: spec.iterations }), ranks.exited]);
    console.log(`data plane: ${groups.dataPlane}; ${a.world} ranks on this machine; payload per rank; host-staged`);
    console.log(formatCommResults(rows));
    if (a.json) writeFileSync(a.json, JSON.stringify({ date: new Date().toISOString(), dataPlane: groups.dataPlane, results: rows }, null, 1));
  } finally {
    await groups.close();
    await ranks.stop();
  }
}
