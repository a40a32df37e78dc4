// Starts the other ranks of a local job: node processes running rank_main.js with the engine
// configuration and RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set (as torchrun
// would). Children die
// with the driver: they are killed when it exits, and they exit themselves when its
// connection closes.
import { spawn, type ChildProcess } from 'node:child_process';
import type { EngineConfig } from '../engine/config.js';
import { compiledSibling } from '../util/compiled_path.js';

export interface LocalRanks {
  readonly children: readonly ChildProcess[];
  /** Rejects when a child exits before `stop()` (with its rank and exit code). */
  readonly exited: Promise<never>;
  stop(): Promise<void>;
}

export class RankExitedError extends Error {
  override readonly name = 'RankExitedError';
}

/** The compiled rank entry point (also when this module runs from TypeScript sources under a test runner). */
export function rankMainPath(name = 'rank_main'): string {
  return compiledSibling(import.meta.url, name);
}

export interface SpawnOptions {
  readonly worldSize: number;
  /** Global ranks to start on this node. */
  readonly ranks: readonly number[];
  /** Global rank of this node's local rank 0. */
  readonly nodeFirstRank: number;
  readonly masterAddr: string;
  readonly masterPort: number;
  /** Engine configuration for rank_main.js (TKNP_ENGINE_CONFIG). */
  readonly config?: EngineConfig;
  /** Another entry script (default: rank_main.js) and extra environment for it. */
  readonly entry?: string;
  readonly env?: Readonly<Record<string, string>>;
}

export function spawnLocalRanks(o: SpawnOptions): LocalRanks {
  const { worldSize, masterAddr, masterPort, config } = o;
  const entry = o.entry ?? rankMainPath();
  const children: ChildProcess[] = [];
  let stopping = false;
  let rejectExit!: (e: Error) => void;
  const exited = new Promise<never>((_, reject) => (rejectExit = reject));
  exited.catch(() => {});
  for (const rank of o.ranks) {
    const child = spawn(process.execPath, [entry], {
      env: {
        ...process.env,
        ...o.env,
        TKNP_ENGINE_CONFIG: config ? JSON.stringify(config) : undefined,
        // Each rank chooses its own GPU: never inherit the driver's Vulkan device selection.
        TKNP_VK_DEVICE_UUID: undefined,
        TKNP_VK_SELECT_REPORT: undefined,
        RANK: String(rank),
        WORLD_SIZE: String(worldSize),
        LOCAL_RANK: String(rank - o.nodeFirstRank),
        MASTER_ADDR: masterAddr,
        MASTER_PORT: String(masterPort),
        TKNP_LAUNCHED: '1',
        NCCL_NVLS_ENABLE: '0',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('exit', (code, signal) => {
      // A rank that finished its work exits 0 (possibly just before stop()); anything else is a failure.
      if (!stopping && (code !== 0 || signal)) rejectExit(new RankExitedError(`rank ${rank} exited (${signal ?? `code ${code}`})`));
    });
    children.push(child);
  }
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  process.once('exit', killAll);
  return {
    children,
    exited,
    async stop() {
      stopping = true;
      const deadline = Date.now() + 5000;
      while (children.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      killAll();
      process.removeListener('exit', killAll);
    },
  };
}
