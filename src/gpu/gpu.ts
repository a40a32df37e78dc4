// Gpu: one Dawn device with its capabilities, pipeline cache, buffer helpers and error
// reporting. Everything above src/gpu/ talks to the GPU through this class and Recorder.
import { gpuInstance, requestAdapter, resolveAdapterOptions, type AdapterOptions } from './instance.js';
import { GpuDeviceLostError, GpuUnavailableError, toNamedError } from './errors.js';
import { BindGroupCache } from './bind_groups.js';
import { BufferPool } from './pool.js';
import { ShaderLibrary } from './shaders.js';
import { BYTES, byteSize, hostArrayFor, numel, type DType, type HostArray, type Tensor } from './tensor.js';

export interface SubgroupMatrixConfig {
  readonly componentType: string;
  readonly resultComponentType: string;
  readonly M: number;
  readonly N: number;
  readonly K: number;
}

export interface GpuCaps {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly f16: boolean;
  readonly subgroups: boolean;
  readonly subgroupMinSize: number;
  readonly subgroupMaxSize: number;
  readonly timestamps: boolean;
  /** Subgroup-matrix (tensor core) shapes the adapter offers; empty where none. */
  readonly subgroupMatrix: readonly SubgroupMatrixConfig[];
  /**
   * How this Dawn spells the subgroup-matrix loads and stores: 'template' (current:
   * `subgroupMatrixLoad<T, row_major>(p, offset, stride)`) or 'bool' (older: a column-major bool
   * argument; newer Dawn still takes it but logs a deprecation warning on stdout for every
   * shader). Shaders see the define SGM_BOOL for the latter.
   */
  readonly subgroupMatrixSyntax: 'template' | 'bool';
  /** Dawn's bounds clamps on shader memory accesses (AdapterOptions.robustness; off by default). */
  readonly robustness: boolean;
  /** WGSL's packed_4x8_integer_dot_product language feature (dot4I8Packed): the W8A8 plain kernel uses it. */
  readonly packedDot4: boolean;
}

export interface GpuOptions extends AdapterOptions {
  /**
   * Disable the subgroup-matrix feature even where offered (the plain kernels run instead).
   * Env: TKNP_NO_SUBGROUP_MATRIX=1, e.g. to rule tensor-core kernels out on a new driver.
   */
  readonly noSubgroupMatrix?: boolean;
}

const STORAGE = 0x80; // GPUBufferUsage.STORAGE, usable before globals are installed
const COPY_SRC = 0x04;
const COPY_DST = 0x08;
const MAP_READ = 0x01;
/** Gpu.memo's entries before it starts over. */
const MAX_MEMOS = 16384;

export class Gpu {
  readonly pool: BufferPool;
  readonly bindGroups: BindGroupCache;
  readonly shaders = new ShaderLibrary();
  private readonly pipelineCache = new Map<string, GPUComputePipeline>();
  /** pipeline()'s lookup by name, then by the caller's spelling of defines and constants (see there). */
  private readonly pipelineVariants = new Map<string, PipelineVariant[]>();
  private readonly pending: Error[] = [];
  private lost: Error | undefined;
  private readonly memos = new Map<string, unknown>();

  private constructor(
    readonly adapter: GPUAdapter,
    readonly device: GPUDevice,
    readonly caps: GpuCaps,
  ) {
    this.pool = new BufferPool(device);
    this.bindGroups = new BindGroupCache(device);
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      // Handled here (thrown at the next flush): without preventDefault, Dawn also prints the
      // error to stdout, which is for generated text and --json only.
      ev.preventDefault();
      this.pending.push(toNamedError(ev.error, 'uncaptured GPU error'));
    };
    void device.lost.then((info) => {
      this.lost = new GpuDeviceLostError(`GPU device lost (${info.reason}): ${info.message}`);
    });
  }

  static async create(opts: GpuOptions = {}): Promise<Gpu> {
    const adapter = await requestAdapter(opts);
    const has = (f: string) => adapter.features.has(f as GPUFeatureName);
    if (!has('shader-f16')) {
      throw new GpuUnavailableError(
        `adapter '${adapter.info.description || adapter.info.device}' lacks shader-f16, which tknp requires (on NVIDIA Vulkan, Dawn's vulkan_enable_f16_on_nvidia toggle exposes it)`,
      );
    }
    const wanted = ['shader-f16', 'subgroups', 'timestamp-query'];
    const noSgm = opts.noSubgroupMatrix ?? process.env.TKNP_NO_SUBGROUP_MATRIX === '1';
    if (!noSgm) wanted.push('chromium-experimental-subgroup-matrix');
    const requiredFeatures = wanted.filter(has) as GPUFeatureName[];
    const a = adapter.limits;
    const requiredLimits: Record<string, number> = {
      maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
      maxBufferSize: a.maxBufferSize,
      maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
      maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupsPerDimension: a.maxComputeWorkgroupsPerDimension,
    };
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'tknp' });
    const info = adapter.info as GPUAdapterInfo & {
      subgroupMinSize?: number;
      subgroupMaxSize?: number;
      subgroupMatrixConfigs?: SubgroupMatrixConfig[];
    };
    const sgm = requiredFeatures.includes('chromium-experimental-subgroup-matrix' as GPUFeatureName)
      ? // Dawn's config objects expose getters only: copy the fields by name.
        (info.subgroupMatrixConfigs ?? []).map((c) => ({ componentType: c.componentType, resultComponentType: c.resultComponentType, M: c.M, N: c.N, K: c.K }))
      : [];
    const caps: GpuCaps = {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      f16: true,
      subgroups: requiredFeatures.includes('subgroups' as GPUFeatureName),
      subgroupMinSize: info.subgroupMinSize ?? 0,
      subgroupMaxSize: info.subgroupMaxSize ?? 0,
      timestamps: requiredFeatures.includes('timestamp-query' as GPUFeatureName),
      subgroupMatrix: sgm,
      subgroupMatrixSyntax: sgm.length ? await probeSubgroupMatrixSyntax(device, sgm) : 'template',
      robustness: resolveAdapterOptions(opts).robustness === true,
      packedDot4: gpuInstance(resolveAdapterOptions(opts)).wgslLanguageFeatures?.has('packed_4x8_integer_dot_product') === true,
    };
    return new Gpu(adapter, device, caps);
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** A CPU implementation of Vulkan (lavapipe, SwiftShader): no clocks to warm, little memory. */
  get software(): boolean {
    const c = this.caps;
    return /llvmpipe|lavapipe|swiftshader|software/i.test(`${c.device} ${c.description} ${c.architecture}`);
  }

  /** Whether the adapter offers an f16×f16→f32 subgroup matrix of this shape. */
  hasSubgroupMatrix(M: number, N: number, K: number): boolean {
    return this.caps.subgroupMatrix.some(
      (c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === M && c.N === N && c.K === K,
    );
  }

  /** One line describing the adapter, for logs and reports. */
  describe(): string {
    const c = this.caps;
    const sgm = c.subgroupMatrix.length
      ? c.subgroupMatrix.map((m) => `${m.componentType}->${m.resultComponentType} ${m.M}x${m.N}x${m.K}`).join(', ')
      : 'none';
    return `${c.vendor} ${c.device || c.description} (${c.architecture}); subgroups ${c.subgroups ? `${c.subgroupMinSize}-${c.subgroupMaxSize}` : 'no'}; timestamps ${c.timestamps ? 'yes' : 'no'}; subgroup matrix: ${sgm}; robustness ${c.robustness ? 'on' : 'off'}`;
  }

  /**
   * The compute pipeline for shaders/<name>.wgsl with these //#if defines and override
   * constants; compiled once and cached. Compile errors surface at the next flush().
   */
  pipeline(name: string, opts: { defines?: readonly string[]; constants?: Record<string, number>; entryPoint?: string } = {}): GPUComputePipeline {
    // Kernel wrappers ask for their pipeline at every call (wrappers without a Gpu.memo of their own:
    // ~10 per layer per decode step), so a hit builds no key: the pipelines asked for under this name
    // are compared with the caller's entry point, defines (in its order) and constants (in its
    // order). The canonical key (sorted defines) is made only on a miss.
    const variants = this.pipelineVariants.get(name);
    if (variants) {
      for (const v of variants) if (sameVariant(v, opts)) return v.pipeline;
    }
    const defines = [...(opts.defines ?? []), ...(this.caps.subgroupMatrixSyntax === 'bool' ? ['SGM_BOOL'] : [])].sort();
    const key = `${name}|${defines.join(',')}|${JSON.stringify(opts.constants ?? {})}|${opts.entryPoint ?? 'main'}`;
    let p = this.pipelineCache.get(key);
    if (!p) {
      const code = this.shaders.code(name, new Set(defines));
      this.device.pushErrorScope('validation');
      const module = this.device.createShaderModule({ code, label: name });
      p = this.device.createComputePipeline({
        label: key,
        layout: 'auto',
        compute: { module, entryPoint: opts.entryPoint ?? 'main', constants: opts.constants },
      });
      void this.device.popErrorScope().then((err) => {
        if (err) this.pending.push(toNamedError(err, `pipeline ${key}`));
      });
      this.pipelineCache.set(key, p);
    }
    const variant: PipelineVariant = { entryPoint: opts.entryPoint ?? 'main', defines: [...(opts.defines ?? [])], constants: [], pipeline: p };
    for (const k in opts.constants) variant.constants.push(k, opts.constants[k]);
    if (variants) variants.push(variant);
    else this.pipelineVariants.set(name, [variant]);
    return p;
  }

  /**
   * `make()`'s value for `key`, made once per Gpu and kept: for what a kernel wrapper derives from
   * its sizes and this device alone (its plan and pipelines), so that the ~600 wrapper calls of a
   * decode step look it up instead of rebuilding it. `make` must be a pure function of the key and
   * the device; keys start with the wrapper's name. A throwing `make` stores nothing. Past
   * MAX_MEMOS entries the memo starts over (steps of every batch size in a long run).
   */
  memo<T>(key: string, make: () => T): T {
    const hit = this.memos.get(key);
    if (hit !== undefined || this.memos.has(key)) return hit as T;
    const value = make();
    if (this.memos.size >= MAX_MEMOS) this.memos.clear();
    this.memos.set(key, value);
    return value;
  }

  /** A new uninitialised storage tensor. */
  tensor(shape: readonly number[], dtype: DType, label = 'tensor', usage = 0): Tensor {
    const size = Math.max(4, Math.ceil(byteSize({ shape, dtype }) / 4) * 4);
    const buffer = this.device.createBuffer({ size, usage: STORAGE | COPY_SRC | COPY_DST | usage, label });
    return { buffer, dtype, shape: [...shape], offset: 0 };
  }

  /** A tensor allocated under error scopes: throws GpuOutOfMemoryError when the device is full. */
  async allocate(shape: readonly number[], dtype: DType, label = 'tensor'): Promise<Tensor> {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    const t = this.tensor(shape, dtype, label);
    const validation = await this.device.popErrorScope();
    const oom = await this.device.popErrorScope();
    const err = oom ?? validation;
    if (err) {
      t.buffer.destroy();
      throw toNamedError(err, `allocating ${label} [${shape}] ${dtype} (${byteSize({ shape, dtype })} bytes)`);
    }
    return t;
  }

  /** A tensor holding `data` (f16 as Uint16Array bit patterns). */
  upload(data: HostArray, shape: readonly number[], dtype: DType, label = 'upload'): Tensor {
    if (data.length !== numel(shape)) throw new Error(`upload ${label}: ${data.length} values for shape [${shape}]`);
    const t = this.tensor(shape, dtype, label);
    this.write(t, data);
    return t;
  }

  /** Overwrites a tensor's contents (data length must match). */
  write(t: Tensor, data: HostArray, elementOffset = 0): void {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const pad = bytes.byteLength % 4 === 0 ? bytes : padTo4(bytes);
    this.device.queue.writeBuffer(t.buffer, t.offset + elementOffset * BYTES[t.dtype], pad);
  }

  /** Copies a tensor back to the host (waits for all submitted work). */
  async read(t: Tensor): Promise<HostArray> {
    return (await this.readMany([t]))[0];
  }

  /** Copies several tensors (views) back with one staging buffer and one map. */
  async readMany(ts: readonly Tensor[]): Promise<HostArray[]> {
    const sizes = ts.map((t) => Math.ceil(byteSize(t) / 4) * 4);
    const total = Math.max(4, sizes.reduce((a, b) => a + b, 0));
    const staging = this.pool.acquire(total, MAP_READ | COPY_DST, 'readback');
    const enc = this.device.createCommandEncoder({ label: 'readback' });
    let pos = 0;
    ts.forEach((t, i) => {
      if (sizes[i]) enc.copyBufferToBuffer(t.buffer, t.offset, staging, pos, sizes[i]);
      pos += sizes[i];
    });
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(MAP_READ, 0, total);
    const mapped = staging.getMappedRange(0, total);
    pos = 0;
    const out = ts.map((t, i) => {
      const copy = mapped.slice(pos, pos + sizes[i]);
      pos += sizes[i];
      return hostArrayFor(t.dtype, copy, numel(t.shape));
    });
    staging.unmap();
    this.pool.release(staging);
    this.throwPending();
    return out;
  }

  /** Waits for all submitted work and throws the first GPU error recorded since the last check. */
  async flush(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    this.throwPending();
  }

  throwPending(): void {
    if (this.lost) throw this.lost;
    // A pipeline's own compile error explains the "invalid pipeline" errors that follow it.
    const err = this.pending.find((e) => e.message.startsWith('pipeline ')) ?? this.pending[0];
    if (err) {
      this.pending.length = 0;
      throw err;
    }
  }

  destroy(): void {
    this.pool.destroy();
    this.device.destroy();
  }
}

/** A pipeline as one caller spelled it: Gpu.pipeline's options, constants as [key, value, ...]. */
interface PipelineVariant {
  readonly entryPoint: string;
  readonly defines: readonly string[];
  readonly constants: (string | number)[];
  readonly pipeline: GPUComputePipeline;
}

function sameVariant(v: PipelineVariant, opts: { defines?: readonly string[]; constants?: Record<string, number>; entryPoint?: string }): boolean {
  if (v.entryPoint !== (opts.entryPoint ?? 'main')) return false;
  const d = opts.defines;
  const n = d ? d.length : 0;
  if (n !== v.defines.length) return false;
  for (let i = 0; i < n; i++) if (d![i] !== v.defines[i]) return false;
  const c = v.constants;
  let i = 0;
  const constants = opts.constants;
  if (constants) {
    for (const k in constants) {
      if (i >= c.length || c[i] !== k || !Object.is(c[i + 1], constants[k])) return false;
      i += 2;
    }
  }
  return i === c.length;
}

function padTo4(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  out.set(bytes);
  return out;
}

/**
 * Compiles a one-line use of the template spelling of subgroupMatrixLoad/Store; 'bool' where this
 * Dawn rejects it (tried on a square f16 configuration; 'template' where the adapter has none).
 */
async function probeSubgroupMatrixSyntax(device: GPUDevice, configs: readonly SubgroupMatrixConfig[]): Promise<'template' | 'bool'> {
  // A square shape: the matrix types' parameter order changed too, which is not probed here.
  const c = configs.find((x) => x.componentType === 'f16' && x.M === x.N && x.N === x.K);
  if (!c) return 'template';
  const t = 'f16';
  const r = c.resultComponentType;
  const code = [
    'enable f16;',
    'enable chromium_experimental_subgroup_matrix;',
    `var<workgroup> a: array<${t}, ${c.M * c.K + c.K * c.N}>;`,
    `@group(0) @binding(0) var<storage, read_write> o: array<${r}>;`,
    `@compute @workgroup_size(${32})`,
    'fn main() {',
    `  let l = subgroupMatrixLoad<subgroup_matrix_left<${t}, ${c.K}, ${c.M}>, row_major>(&a, 0u, ${c.K}u);`,
    `  let rt = subgroupMatrixLoad<subgroup_matrix_right<${t}, ${c.N}, ${c.K}>, col_major>(&a, 0u, ${c.K}u);`,
    `  subgroupMatrixStore<row_major>(&o, 0u, subgroupMatrixMultiply<${r}>(l, rt), ${c.N}u);`,
    '}',
  ].join('\n');
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code, label: 'subgroup-matrix syntax probe' });
  const info = await module.getCompilationInfo();
  await device.popErrorScope();
  return info.messages.some((m) => m.type === 'error') ? 'bool' : 'template';
}
