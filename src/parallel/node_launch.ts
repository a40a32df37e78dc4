// Node R > 0 of a multi-node job started with tknp's own launcher (`--nnodes N --node-rank R
// --master-addr A --master-port P`, like torchrun): this process starts the node's ranks
// (global ranks R·L … R·L + L − 1, L = world / N) and waits for them; node 0's tknp process is
// the driver and starts its own L − 1 workers.
import type { EngineConfig } from '../engine/config.js';
import { spawnLocalRanks } from './launcher.js';

/** Runs this node's ranks to completion; resolves with 0, or 1 if any rank failed. */
export async function runNodeRanks(c: EngineConfig): Promise<number> {
  const worldSize = c.tensorParallelSize * c.tokenParallelSize;
  const perNode = worldSize / c.nnodes;
  const first = c.nodeRank * perNode;
  const node = spawnLocalRanks({
    worldSize,
    ranks: Array.from({ length: perNode }, (_, i) => first + i),
    nodeFirstRank: first,
    masterAddr: c.masterAddr,
    masterPort: c.masterPort,
    config: c,
  });
  const codes = await Promise.all(node.children.map((ch) => new Promise<number>((resolve) => ch.on('exit', (code) => resolve(code ?? 1)))));
  await node.stop();
  return codes.every((x) => x === 0) ? 0 : 1;
}
