// The driver's executor for tp × tknp > 1: starts or joins the other ranks, collects each
// rank's KV capacity, and per step broadcasts the step to every rank and runs its own share
// (global rank 0 is TP rank 0 of the root group: it samples).
import type { EngineConfig } from '../engine/config.js';
import type { Executor } from '../engine/executor.js';
import { Gpu } from '../gpu/gpu.js';
import type { StepSamplingRow } from '../runner/sampler.js';
import type { ModelConfig } from '../loader/model_config.js';
import { readModelConfig, type StepResult } from '../runner/model_runner.js';
import type { FlatBatch, SchedulerOutput } from '../scheduler/scheduler_output.js';
import { launchEnv } from './launch_env.js';
import { spawnLocalRanks, type LocalRanks } from './launcher.js';
import { bindAddress, ProcessGroups } from './process_group.js';
import { createRankRole, type RankRole } from './rank_role.js';
import { encodeMessage } from './step_codec.js';
import { topology } from './topology.js';
import { DEFAULT_COMM_TIMEOUT_MS, describeRankDevice, rankDevice } from './worker.js';

interface RankInfo {
  rank: number;
  device: string;
  numBlocks: number;
  log: string[];
}

/** How often the ranks' attention times are collected for metrics (once per step with --profile). */
const RANK_STATS_INTERVAL_MS = 1000;

export class DistributedExecutor implements Executor {
  /** Per-step communication and remote-attention times, when profiling (one entry per step). */
  readonly profiles: Record<string, number>[][] = [];
  /**
   * [worldSize] mean attention ms per step of each attention-only rank (global ranks >= tp),
   * over the steps between two collections (about one a second); undefined where not measured.
   */
  readonly attentionMsPerStep: (number | undefined)[];
  private statsAt = performance.now();
  private stepsSinceStats = 0;

  private constructor(
    readonly modelConfig: ModelConfig,
    readonly maxModelLen: number,
    readonly numBlocksPerRank: readonly number[],
    readonly startupLog: readonly string[],
    private readonly gpu: Gpu,
    private readonly groups: ProcessGroups,
    private readonly role: RankRole,
    private readonly ranks: LocalRanks | undefined,
    private readonly profile: boolean,
  ) {
    this.attentionMsPerStep = new Array<number | undefined>(groups.topo.worldSize).fill(undefined);
  }

  static async create(c: EngineConfig, opts: { timeoutMs?: number; profile?: boolean } = {}): Promise<DistributedExecutor> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_COMM_TIMEOUT_MS;
    const worldSize = c.tensorParallelSize * c.tokenParallelSize;
    const env = launchEnv();
    const external = env.source !== 'none';
    if (external && env.worldSize !== worldSize) {
      throw new Error(`WORLD_SIZE=${env.worldSize} from ${env.source} but tp ${c.tensorParallelSize} × tknp ${c.tokenParallelSize} = ${worldSize}`);
    }
    const modelConfig = readModelConfig(c.model);
    const multiNode = !external && c.nnodes > 1;
    const masterPort = external ? env.masterPort : multiNode ? c.masterPort : 0;
    // The address the other ranks reach this one (and its store) by: every listener binds to it,
    // so a one-machine job listens on loopback only.
    const masterAddr = bindAddress(external ? env.masterAddr : multiNode ? c.masterAddr : '127.0.0.1');
    const pgOpts = { rank: 0, tensorParallelSize: c.tensorParallelSize, tokenParallelSize: c.tokenParallelSize, masterAddr, masterPort, timeoutMs, dataPlane: c.communicator, cudaDevice: env.localRank, host: masterAddr };
    // Serve the store first, then start the local ranks pointing at its port.
    const server = await ProcessGroups.serve(masterPort, masterAddr);
    // This node's ranks: all of them on one node; the first worldSize / nnodes with several.
    const perNode = worldSize / (multiNode ? c.nnodes : 1);
    const ranks = external
      ? undefined
      : spawnLocalRanks({ worldSize, ranks: Array.from({ length: perNode - 1 }, (_, i) => i + 1), nodeFirstRank: 0, masterAddr, masterPort: server.port, config: c });
    let groups: ProcessGroups | undefined;
    let gpu: Gpu | undefined;
    try {
      groups = await Promise.race([ProcessGroups.connect(topology(0, c.tensorParallelSize, c.tokenParallelSize), pgOpts, server.port, server), ...(ranks ? [ranks.exited] : [])]);
      // After spawnLocalRanks: the device selection's environment must not reach the children.
      const dev = rankDevice(env);
      gpu = await Gpu.create({ backend: c.backend as never, adapterName: c.adapter, robustness: c.robustness, deviceUuid: dev.uuid });
      const role = await createRankRole(gpu, c, groups);
      const mine: RankInfo = { rank: 0, device: `${gpu.describe()}; ${describeRankDevice(dev)}`, numBlocks: role.numBlocks, log: [...role.log] };
      const all = (await Promise.race([groups.world.allGather(new TextEncoder().encode(JSON.stringify(mine))), ...(ranks ? [ranks.exited] : [])])).map(
        (b) => JSON.parse(new TextDecoder().decode(b)) as RankInfo,
      );
      // A token-parallel rank's capacity is that of its smallest TP shard.
      const numBlocksPerRank = Array.from({ length: c.tokenParallelSize }, (_, k) =>
        Math.min(...all.filter((i) => topology(i.rank, c.tensorParallelSize, c.tokenParallelSize).tknpRank === k).map((i) => i.numBlocks)),
      );
      const log = [
        `world ${worldSize} = tp ${c.tensorParallelSize} × tknp ${c.tokenParallelSize} (${external ? `launched by ${env.source}` : 'local ranks'}; data plane: ${groups.dataPlane}, control plane: sockets)`,
        ...all.flatMap((i) => [`rank ${i.rank}: ${i.device}`, ...i.log.map((l) => `rank ${i.rank}: ${l}`)]),
        `KV capacity per token-parallel rank: ${numBlocksPerRank.map((n, k) => `tknp ${k}: ${n} blocks (${n * 16} tokens)`).join(', ')}; total ${numBlocksPerRank.reduce((a, b) => a + b, 0) * 16} tokens`,
      ];
      return new DistributedExecutor(modelConfig, role.maxModelLen, numBlocksPerRank, log, gpu, groups, role, ranks, opts.profile ?? false);
    } catch (e) {
      groups?.abort(`driver failed to start: ${(e as Error).message}`);
      await groups?.close().catch(() => {});
      if (!groups) await server.close();
      gpu?.destroy();
      await ranks?.stop();
      throw e;
    }
  }

  async execute(_out: SchedulerOutput, flat: FlatBatch, sampling: readonly StepSamplingRow[], opts?: { returnLogits?: boolean }): Promise<StepResult> {
    const step = async () => {
      // With --profile every step, else about once a second (for metrics), the ranks send the
      // times they accumulated since the last collection.
      this.stepsSinceStats++;
      const collect = this.profile || performance.now() - this.statsAt >= RANK_STATS_INTERVAL_MS;
      await this.groups.world.broadcast(encodeMessage({ kind: 'step', flat, profile: collect }), 0);
      const result = await this.role.runStep(flat, sampling, opts);
      if (collect) {
        const others = (await this.groups.world.gatherv(new TextEncoder().encode('{}'), 0))!;
        const perRank = [this.role.takeProfile(), ...others.slice(1).map((b) => JSON.parse(new TextDecoder().decode(b)) as Record<string, number>)];
        if (this.profile) this.profiles.push(perRank);
        perRank.forEach((p, r) => (this.attentionMsPerStep[r] = p.attentionMs !== undefined ? p.attentionMs / this.stepsSinceStats : undefined));
        this.statsAt = performance.now();
        this.stepsSinceStats = 0;
      }
      return result;
    };
    try {
      return await (this.ranks ? Promise.race([step(), this.ranks.exited]) : step());
    } catch (e) {
      this.groups.abort(`driver: ${(e as Error).message}`);
      throw e;
    }
  }

  async shutdown(): Promise<void> {
    try {
      await this.groups.world.broadcast(encodeMessage({ kind: 'shutdown', reason: 'engine shut down' }), 0);
    } catch {
      // ranks already gone
    }
    await this.ranks?.stop();
    await this.groups.close().catch(() => {});
    this.gpu.destroy();
  }
}
