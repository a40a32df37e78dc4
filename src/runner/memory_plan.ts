// The memory plan of one rank, checked before anything big is allocated: what the weights,
// activations, step buffers and tables sized by the configuration take on the device, plus the
// KV cache, must fit the device; what the host keeps for the same plan (block tables, per-step
// arrays) must fit the host. An explicit --kv-cache-memory does not exempt the rest of the plan
// (it replaces only the utilisation-based KV budget), and on a software adapter, whose "device"
// memory is host memory, both sides count against the host.

export class MemoryPlanError extends Error {
  override readonly name = 'MemoryPlanError';
  constructor(
    /** The EngineConfig field that sizes the largest part (what to lower). */
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** One allocation of the plan, and the EngineConfig field that sizes it. */
export interface PlanPart {
  readonly what: string;
  readonly bytes: number;
  readonly field: string;
  /** Its largest single buffer (bound whole by a kernel), where that can outgrow a binding. */
  readonly binding?: number;
}

export interface MemoryPlanInput {
  readonly deviceBytes: number;
  /** Where deviceBytes comes from (for messages). */
  readonly deviceSource: string;
  /** Device memory is host memory (software adapters). */
  readonly software: boolean;
  readonly gpuMemoryUtilization: number;
  readonly kvCacheBytes?: number;
  /** Device allocations other than the KV cache. */
  readonly deviceParts: readonly PlanPart[];
  /** Host arrays the plan implies. */
  readonly hostParts: readonly PlanPart[];
  /** Physical host memory (os.totalmem()). */
  readonly hostMemoryBytes: number;
  /** The adapter's maxStorageBufferBindingSize. */
  readonly maxBindingBytes: number;
}

/** The command-line flag of an EngineConfig field, for messages. */
const FLAGS: Readonly<Record<string, string>> = {
  maxNumBatchedTokens: '--max-num-batched-tokens',
  maxNumSeqs: '--max-num-seqs',
  maxModelLen: '--max-model-len',
  kvCacheBytes: '--kv-cache-memory',
  gpuMemoryUtilization: '--gpu-memory-utilization',
  model: '--model',
};

export const gib = (b: number): string => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);

function describe(parts: readonly PlanPart[]): string {
  return [...parts].sort((a, b) => b.bytes - a.bytes).map((p) => `${p.what} ${gib(p.bytes)}`).join(', ');
}

function largest(parts: readonly PlanPart[]): PlanPart {
  return parts.reduce((a, b) => (b.bytes > a.bytes ? b : a));
}

function refuse(parts: readonly PlanPart[], total: number, limit: string): MemoryPlanError {
  const big = largest(parts);
  const flag = FLAGS[big.field] ? ` (${FLAGS[big.field]})` : '';
  return new MemoryPlanError(big.field, `the plan needs ${gib(total)} (${describe(parts)}), more than ${limit}; lower ${big.field}${flag}`);
}

/** Throws a MemoryPlanError when the plan cannot fit (pure). */
export function checkMemoryPlan(x: MemoryPlanInput): void {
  for (const p of x.deviceParts) {
    if (p.binding !== undefined && p.binding > x.maxBindingBytes) {
      const flag = FLAGS[p.field] ? ` (${FLAGS[p.field]})` : '';
      throw new MemoryPlanError(p.field, `one buffer of the ${p.what} takes ${gib(p.binding)}, more than this adapter's largest storage binding (${gib(x.maxBindingBytes)}); lower ${p.field}${flag}`);
    }
  }
  const kv: PlanPart[] = x.kvCacheBytes !== undefined ? [{ what: 'KV cache', bytes: x.kvCacheBytes, field: 'kvCacheBytes' }] : [];
  const device = [...x.deviceParts, ...kv];
  const need = device.reduce((n, p) => n + p.bytes, 0);
  // With an explicit KV budget the whole device is the limit; otherwise the utilised part, and
  // the KV cache gets what is left (at least one block: kvBlocksFor).
  const limit = x.kvCacheBytes !== undefined ? x.deviceBytes : x.deviceBytes * x.gpuMemoryUtilization;
  if (!(need <= limit)) {
    const what = x.kvCacheBytes !== undefined ? 'device memory' : `${x.gpuMemoryUtilization} of the device memory`;
    throw refuse(device, need, `${gib(limit)}, the ${what} (${gib(x.deviceBytes)}, ${x.deviceSource})`);
  }
  const host = x.software ? [...x.hostParts, { what: 'device memory (software adapter)', bytes: limit, field: 'gpuMemoryUtilization' }] : [...x.hostParts];
  const hostNeed = host.reduce((n, p) => n + p.bytes, 0);
  if (host.length && !(hostNeed <= x.hostMemoryBytes)) throw refuse(host, hostNeed, `the host's ${gib(x.hostMemoryBytes)}`);
}
