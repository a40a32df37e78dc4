// The main loop of every rank except the driver (global rank 0): join the process groups,
// build this rank's role, report its KV capacity, then run each step the driver broadcasts
// until it says shutdown. Any communication failure ends the process with a clear message.
import type { EngineConfig } from '../engine/config.js';
import { Gpu } from '../gpu/gpu.js';
import { decodeMessage } from './step_codec.js';
import { ProcessGroups } from './process_group.js';
import { createRankRole } from './rank_role.js';
import type { LaunchEnv } from './launch_env.js';

export const DEFAULT_COMM_TIMEOUT_MS = 30_000;

/** Runs a non-driver rank to completion; resolves with its exit code. */
export async function runWorker(c: EngineConfig, env: LaunchEnv, timeoutMs = DEFAULT_COMM_TIMEOUT_MS): Promise<number> {
  const groups = await ProcessGroups.init({
    rank: env.rank,
    tensorParallelSize: c.tensorParallelSize,
    tokenParallelSize: c.tokenParallelSize,
    masterAddr: env.masterAddr,
    masterPort: env.masterPort,
    timeoutMs,
    dataPlane: c.communicator,
    cudaDevice: env.localRank,
  });
  const tag = `[tknp rank ${env.rank}]`;
  let gpu: Gpu | undefined;
  try {
    gpu = await Gpu.create({ backend: c.backend as never, adapterName: c.adapter });
    const role = await createRankRole(gpu, c, groups);
    const info = { rank: env.rank, device: gpu.describe(), numBlocks: role.numBlocks, log: role.log };
    await groups.world.allGather(new TextEncoder().encode(JSON.stringify(info)));
    for (;;) {
      const msg = decodeMessage(await groups.world.broadcastIdle(null, 0));
      if (msg.kind === 'shutdown') break;
      await role.runStep(msg.flat, []);
      if (msg.profile) await groups.world.gatherv(new TextEncoder().encode(JSON.stringify(role.takeProfile())), 0);
    }
    await groups.close();
    return 0;
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`${tag} ${err.name}: ${err.message}\n`);
    groups.abort(`rank ${env.rank}: ${err.name}: ${err.message}`);
    return 1;
  } finally {
    gpu?.destroy();
  }
}
