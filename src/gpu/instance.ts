// The one Dawn instance of this process, and adapter selection.
//
// Dawn's Node binding aborts inside ProcessEvents if the object returned by `create()` is
// garbage-collected while devices live, so the instance is created once and held by this
// module for the life of the process (the only module-level state in tknp, on purpose).
import { create, globals } from 'webgpu';
import { checkVulkanSelection, deviceUuidFromEnv, selectVulkanDevice } from './device_select.js';
import { GpuUnavailableError } from './errors.js';

export type Backend = 'vulkan' | 'metal' | 'd3d12' | 'opengl' | 'null';

export interface AdapterOptions {
  /** Dawn backend; default: Dawn's choice (Vulkan on Linux). Env: TKNP_BACKEND. */
  readonly backend?: Backend;
  /** Substring of the adapter name; Dawn picks the first match. Env: TKNP_ADAPTER. */
  readonly adapterName?: string;
  /**
   * Vulkan deviceUUID (= CUDA UUID) of the one GPU this process may use, through
   * native-vk-select's layer (src/gpu/device_select.ts); chosen once per process. Env: TKNP_DEVICE_UUID.
   */
  readonly deviceUuid?: string;
  /**
   * Dawn's robustness: WebGPU's guard against untrusted shaders, bounds clamps on every buffer,
   * workgroup-array and subgroup-matrix access. Off by default: tknp runs only its own kernels,
   * every wrapper checks shapes, and the data that indexes memory is checked on the CPU (token
   * ids) or made by the engine (block tables, slot mappings). On the H100 it costs prefill
   * attention 3.5x, the decode weight stream up to 30% and decode attention 5% (bench/RESULTS.md,
   * session 6). On, an access out of range reads a clamped element instead of being undefined
   * behaviour: for debugging a kernel. Env: TKNP_ROBUSTNESS=1.
   */
  readonly robustness?: boolean;
}

/** Flags every instance gets: f16 and subgroup matrices on NVIDIA's Vulkan driver need them. */
const DAWN_FEATURE_FLAGS = 'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia';

const held = new Map<string, GPU>();
let globalsInstalled = false;

function installGlobals(): void {
  if (globalsInstalled) return;
  globalsInstalled = true;
  // WebGPU enums (GPUBufferUsage, GPUShaderStage, GPUMapMode) as globals, like a browser.
  for (const [k, v] of Object.entries(globals as Record<string, unknown>)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
}

/** Resolves options against the environment (explicit options win). */
export function resolveAdapterOptions(opts: AdapterOptions = {}): AdapterOptions {
  const backend = opts.backend ?? (process.env.TKNP_BACKEND as Backend | undefined);
  const adapterName = opts.adapterName ?? process.env.TKNP_ADAPTER;
  if (backend && !['vulkan', 'metal', 'd3d12', 'opengl', 'null'].includes(backend)) {
    throw new GpuUnavailableError(`unknown backend '${backend}' (TKNP_BACKEND or --backend): expected vulkan, metal, d3d12, opengl or null`);
  }
  const deviceUuid = opts.deviceUuid ?? deviceUuidFromEnv();
  if (deviceUuid && backend && backend !== 'vulkan') throw new GpuUnavailableError(`a GPU UUID (${deviceUuid}) selects a Vulkan device: backend '${backend}' cannot use it`);
  const robustness = opts.robustness ?? process.env.TKNP_ROBUSTNESS === '1';
  return { backend, adapterName, deviceUuid, robustness };
}

/** The process-wide GPU entry point for these options (created once, never released). */
export function gpuInstance(opts: AdapterOptions): GPU {
  // Dawn rounds timestamps down to 65.536 µs by default; kernels are timed in µs.
  const flags = [DAWN_FEATURE_FLAGS + (opts.robustness ? '' : ',disable_robustness'), 'disable-dawn-features=timestamp_quantization'];
  if (opts.backend) flags.push(`backend=${opts.backend}`);
  if (opts.adapterName) flags.push(`adapter=${opts.adapterName}`);
  const key = flags.join('|');
  let gpu = held.get(key);
  // Sets the Vulkan loader's environment before the first Dawn instance; later calls only check.
  selectVulkanDevice(opts.deviceUuid);
  if (!gpu) {
    installGlobals();
    gpu = create(flags);
    held.set(key, gpu);
  }
  return gpu;
}

export async function requestAdapter(opts: AdapterOptions = {}): Promise<GPUAdapter> {
  const resolved = resolveAdapterOptions(opts);
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpuInstance(resolved).requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    throw new GpuUnavailableError(`requestAdapter failed: ${(e as Error).message}`);
  }
  checkVulkanSelection(adapter !== null);
  if (!adapter) {
    const what = [resolved.backend && `backend=${resolved.backend}`, resolved.adapterName && `adapter~'${resolved.adapterName}'`]
      .filter(Boolean)
      .join(', ');
    throw new GpuUnavailableError(
      `no WebGPU adapter found${what ? ` (${what})` : ''}: install a Vulkan driver (Mesa >= 25 lavapipe: bash tools/setup.sh) or check TKNP_BACKEND/TKNP_ADAPTER`,
    );
  }
  return adapter;
}
