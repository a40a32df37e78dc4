// Which physical GPU this process's Dawn instance may use, on hosts with several identical
// ones. Dawn's `adapter=NAME` takes the first match, so tknp loads its own Vulkan layer
// (native-vk-select/, VK_LAYER_TKNP_vk_select) that hides every physical device except the one
// whose deviceUUID equals the UUID asked for: CUDA's cuDeviceGetUuid gives the same 16 bytes,
// so a rank's Vulkan device is the GPU its NCCL communicator uses.
//
// The Vulkan loader reads its environment when Dawn creates the Vulkan instance, so the choice
// is made once per process, before the Dawn instance exists (instance.ts calls
// selectVulkanDevice first thing). The layer writes the devices it saw and kept to a report
// file, read back here for the error message and the rank's start-up log.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GpuUnavailableError } from './errors.js';

export const VK_SELECT_LAYER = 'VK_LAYER_TKNP_vk_select';
const MANIFEST = 'VkLayer_tknp_vk_select.json';
const LIBRARY = 'libVkLayer_tknp_vk_select.so';
const BUILD_DIR = 'native-vk-select/build';

/** One Vulkan physical device as the layer saw it. */
export interface VulkanDeviceInfo {
  /** deviceUUID as 8-4-4-4-12 lowercase hex ('unknown' where the driver could not say). */
  readonly uuid: string;
  /** "0000:19:00.0" from VK_EXT_pci_bus_info, or undefined where the device lacks it (lavapipe). */
  readonly pciBusId: string | undefined;
  readonly vendorId: number;
  readonly deviceId: number;
  readonly name: string;
  /** Whether the layer left it visible to Dawn. */
  readonly kept: boolean;
}

/** What the layer reported at the last enumeration of this process. */
export interface VulkanSelection {
  /** The UUID the layer filtered by (undefined: none). */
  readonly want: string | undefined;
  readonly devices: readonly VulkanDeviceInfo[];
}

/** undefined: nothing decided yet; { uuid: undefined }: decided to select nothing. */
let decided: { uuid: string | undefined; reportPath?: string; layerDir?: string } | undefined;

/** "GPU-6D65…", "6d657361-3235-…" or 32 hex digits → "6d657361-3235-2e30-2e37-2d327e627000". */
export function normalizeDeviceUuid(text: string): string {
  const hex = text.trim().replace(/^GPU-/i, '').replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) {
    throw new GpuUnavailableError(`'${text}' is not a GPU UUID (32 hex digits, dashes and a GPU- prefix allowed, as nvidia-smi -L prints; MIG instances cannot be chosen)`);
  }
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * TKNP_DEVICE_UUID: one UUID, or a comma-separated list indexed by the local rank (one value
 * for every process of a torchrun/srun launch). 'none' or empty: no selection.
 */
export function deviceUuidFromEnv(localRank = 0, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = env.TKNP_DEVICE_UUID?.trim();
  if (!raw || raw === 'none') return undefined;
  const list = raw.split(',').map((s) => s.trim());
  const one = list.length === 1 ? list[0] : list[localRank];
  if (one === undefined) throw new GpuUnavailableError(`TKNP_DEVICE_UUID lists ${list.length} UUIDs but the local rank is ${localRank}`);
  return one === 'none' || one === '' ? undefined : normalizeDeviceUuid(one);
}

/** Folders searched for the layer's manifest: $TKNP_VK_SELECT_DIR, then native-vk-select/build above this file. */
export function vkSelectLayerCandidates(): string[] {
  const out: string[] = [];
  if (process.env.TKNP_VK_SELECT_DIR) out.push(process.env.TKNP_VK_SELECT_DIR);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) out.push(join(dir, BUILD_DIR));
  return out;
}

/** The folder holding the built layer and its manifest, or undefined. */
export function vkSelectLayerDir(): string | undefined {
  return vkSelectLayerCandidates().find((d) => existsSync(join(d, MANIFEST)) && existsSync(join(d, LIBRARY)));
}

function prepend(env: NodeJS.ProcessEnv, key: string, value: string): void {
  const old = env[key];
  const parts = old ? old.split(':').filter((p) => p && p !== value) : [];
  env[key] = [value, ...parts].join(':');
}

/**
 * Makes this process's Vulkan instance see only the GPU whose deviceUUID is `uuid` (any form
 * normalizeDeviceUuid takes); undefined leaves the environment as it is. Must run before the
 * Dawn instance exists; the choice is made once per process: a later call with another UUID
 * throws, one with undefined changes nothing.
 * Throws GpuUnavailableError where the layer is not built.
 */
export function selectVulkanDevice(uuid: string | undefined): void {
  const want = uuid === undefined ? undefined : normalizeDeviceUuid(uuid);
  if (decided) {
    if (want === undefined || decided.uuid === want) return;
    throw new GpuUnavailableError(
      `the Vulkan device is chosen once per process, before Dawn starts: already ${decided.uuid ?? 'no selection'}, now asked for ${want ?? 'no selection'}`,
    );
  }
  if (want === undefined) {
    decided = { uuid: undefined };
    return;
  }
  const layerDir = vkSelectLayerDir();
  if (!layerDir) {
    throw new GpuUnavailableError(
      `cannot select the GPU with UUID ${want}: the ${VK_SELECT_LAYER} layer is not built (run \`make -C native-vk-select\` or bash tools/setup.sh; needs a C compiler); tried ${vkSelectLayerCandidates().join(', ')}`,
    );
  }
  const env = process.env;
  const reportPath = join(tmpdir(), `tknp-vk-select-${process.pid}.txt`);
  rmSync(reportPath, { force: true });
  process.once('exit', () => rmSync(reportPath, { force: true }));
  env.TKNP_VK_DEVICE_UUID = want;
  env.TKNP_VK_SELECT_REPORT = reportPath;
  // Explicit layer: found through VK_ADD_LAYER_PATH (works with loader 1.3.239; where
  // VK_LAYER_PATH is set the loader ignores it, so then the folder joins VK_LAYER_PATH), and
  // enabled by VK_INSTANCE_LAYERS. A loader that ignores both is caught by checkVulkanSelection.
  prepend(env, env.VK_LAYER_PATH ? 'VK_LAYER_PATH' : 'VK_ADD_LAYER_PATH', layerDir);
  prepend(env, 'VK_INSTANCE_LAYERS', VK_SELECT_LAYER);
  // Mesa's implicit device-select layer sits above ours and crashes when it is handed zero
  // devices (a UUID that matches nothing); it has nothing left to choose anyway.
  env.NODEVICE_SELECT = '1';
  decided = { uuid: want, reportPath, layerDir };
}

/** The UUID this process selected (undefined: none, or not decided yet). */
export function selectedDeviceUuid(): string | undefined {
  return decided?.uuid;
}

function parseReport(text: string): VulkanSelection | undefined {
  const lines = text.split('\n');
  if (lines[0] !== 'tknp-vk-select 1') return undefined;
  let want: string | undefined;
  const devices: VulkanDeviceInfo[] = [];
  for (const line of lines.slice(1)) {
    const m = /^want (\S+)$/.exec(line);
    if (m) want = m[1] === 'none' ? undefined : m[1];
    const d = /^device ([01]) (\S+) (\S+) ([0-9a-f]+):([0-9a-f]+) (.*)$/.exec(line);
    if (d) {
      devices.push({ kept: d[1] === '1', uuid: d[2], pciBusId: d[3] === '-' ? undefined : d[3], vendorId: parseInt(d[4], 16), deviceId: parseInt(d[5], 16), name: d[6] });
    }
  }
  return { want, devices };
}

/** The layer's report of this process (undefined: no selection, or the layer has not run). */
export function vulkanSelection(): VulkanSelection | undefined {
  if (!decided?.reportPath || !existsSync(decided.reportPath)) return undefined;
  return parseReport(readFileSync(decided.reportPath, 'utf8'));
}

/** The device the layer kept for this process (undefined: no selection or none kept). */
export function selectedVulkanDevice(): VulkanDeviceInfo | undefined {
  return vulkanSelection()?.devices.find((d) => d.kept);
}

const describeDevice = (d: VulkanDeviceInfo) => `${d.name} uuid ${d.uuid}${d.pciBusId ? ` pci ${d.pciBusId}` : ''}`;

/**
 * After Dawn was asked for an adapter: throws GpuUnavailableError naming the UUID where a
 * selection is active and the layer did not run or kept no device. `found`: Dawn gave one.
 */
export function checkVulkanSelection(found: boolean): void {
  const want = decided?.uuid;
  if (!want) return;
  const report = vulkanSelection();
  if (!report) {
    throw new GpuUnavailableError(
      `GPU UUID ${want} was asked for, but the ${VK_SELECT_LAYER} layer did not run (no report at ${decided?.reportPath}): the Vulkan loader did not load ${join(decided?.layerDir ?? '', MANIFEST)}. An old loader may not know VK_ADD_LAYER_PATH: set VK_LAYER_PATH=${decided?.layerDir}; VK_LOADER_DEBUG=layer shows what the loader did`,
    );
  }
  if (!report.devices.some((d) => d.kept)) {
    const seen = report.devices.map(describeDevice).join('; ') || 'none';
    throw new GpuUnavailableError(`no Vulkan device has UUID ${want}; devices seen: ${seen}`);
  }
  if (!found) {
    throw new GpuUnavailableError(`the Vulkan device with UUID ${want} (${describeDevice(report.devices.find((d) => d.kept)!)}) was kept, but Dawn offered no adapter for it (check TKNP_ADAPTER/TKNP_BACKEND)`);
  }
}
