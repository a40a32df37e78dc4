// The main loop of every rank except the driver (global rank 0): join the process groups,
// build this rank's role, report its KV capacity, then run each step the driver broadcasts
// until it says shutdown. Any communication failure ends the process with a clear message.
import type { EngineConfig } from '../engine/config.js';
import { deviceUuidFromEnv, normalizeDeviceUuid, selectedVulkanDevice } from '../gpu/device_select.js';
import { Gpu } from '../gpu/gpu.js';
import { loadNcclAddon } from './nccl_addon.js';
import { decodeMessage } from './step_codec.js';
import { ProcessGroups } from './process_group.js';
import { createRankRole } from './rank_role.js';
import type { LaunchEnv } from './launch_env.js';

export const DEFAULT_COMM_TIMEOUT_MS = 30_000;

/** The GPU a rank asks Dawn for, and the CUDA device its LOCAL_RANK names (for the log). */
export interface RankDevice {
  /** Vulkan deviceUUID (= CUDA UUID) to select; undefined: Dawn's first adapter. */
  readonly uuid: string | undefined;
  /** Why this choice, for the start-up log. */
  readonly reason: string;
  readonly cuda?: { readonly device: number; readonly pciBusId: string; readonly uuid: string };
}

/**
 * TKNP_DEVICE_UUID if set (one UUID, or a list indexed by LOCAL_RANK; 'none': no selection);
 * else, where the NCCL addon reaches the CUDA driver and it has >= 2 devices, the UUID of CUDA
 * device LOCAL_RANK (the GPU NCCL uses: CUDA_VISIBLE_DEVICES applies); else nothing.
 */
export function rankDevice(env: LaunchEnv, processEnv: NodeJS.ProcessEnv = process.env): RankDevice {
  let cuda: RankDevice['cuda'];
  let count = 0;
  let why: string;
  try {
    const addon = loadNcclAddon();
    count = addon.cudaDeviceCount();
    if (env.localRank < count) cuda = { device: env.localRank, ...addon.cudaDeviceInfo(env.localRank) };
    why = `${count} CUDA device${count === 1 ? '' : 's'}${cuda ? '' : ` (LOCAL_RANK ${env.localRank} is not one)`}`;
  } catch (e) {
    why = `no CUDA devices: ${(e as Error).message.split(' (')[0]}`;
  }
  if (processEnv.TKNP_DEVICE_UUID?.trim()) {
    const uuid = deviceUuidFromEnv(env.localRank, processEnv);
    return { uuid, reason: uuid ? 'TKNP_DEVICE_UUID' : 'TKNP_DEVICE_UUID=none', cuda };
  }
  if (count >= 2 && cuda) return { uuid: normalizeDeviceUuid(cuda.uuid), reason: `CUDA device ${cuda.device} = LOCAL_RANK`, cuda };
  return { uuid: undefined, reason: why, cuda };
}

/** "GPU: vulkan uuid … pci …; cuda 1 uuid … pci …: same GPU" — both sides, after Gpu.create. */
export function describeRankDevice(d: RankDevice): string {
  const vk = selectedVulkanDevice();
  const vulkan = vk ? `vulkan uuid ${vk.uuid} pci ${vk.pciBusId ?? '-'} (selected by ${d.reason})` : `vulkan: Dawn's first adapter (no selection: ${d.reason})`;
  const cuda = d.cuda ? `; cuda ${d.cuda.device} uuid ${normalizeDeviceUuid(d.cuda.uuid)} pci ${d.cuda.pciBusId.toLowerCase()}` : '';
  const same = vk && d.cuda ? (vk.uuid === normalizeDeviceUuid(d.cuda.uuid) ? ': same GPU' : ': DIFFERENT GPUs (NCCL and Dawn use different devices)') : '';
  return `GPU: ${vulkan}${cuda}${same}`;
}

/**
 * The whole life of a worker process: runs the worker loop, then exits the process with its
 * code (an open listener or socket left by a failure must not keep a rank alive after its job).
 * A rank started by tknp's own launcher also exits when its parent (the driver, or the node's
 * launcher) is gone, even while it is busy loading weights or computing and not waiting on a
 * socket: the parent is checked every `parentPollMs`.
 */
export async function runWorkerProcess(c: EngineConfig, env: LaunchEnv, parentPollMs = 250): Promise<never> {
  if (env.source === 'tknp') {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid === parent) return;
      process.stderr.write(`[tknp rank ${env.rank}] the process that started this rank (pid ${parent}) is gone: exiting\n`);
      process.exit(1);
    }, parentPollMs).unref();
  }
  process.exit(await runWorker(c, env, c.commTimeoutMs));
}

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
    const dev = rankDevice(env);
    gpu = await Gpu.create({ backend: c.backend as never, adapterName: c.adapter, robustness: c.robustness, deviceUuid: dev.uuid });
    const role = await createRankRole(gpu, c, groups);
    const info = { rank: env.rank, device: `${gpu.describe()}; ${describeRankDevice(dev)}`, numBlocks: role.numBlocks, log: role.log };
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
