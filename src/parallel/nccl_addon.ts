// Locates and loads native-nccl's tknp_nccl.node (built by `npm run build:nccl`) and types
// its API. Loading the addon needs neither CUDA nor NCCL: both are dlopen'd by the first call
// that needs them (libnccl.so.2 / libcuda.so.1, overridable by TKNP_NCCL_LIB / TKNP_CUDA_LIB).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommAbortedError, CommTimeoutError, PeerLostError, type ReduceDType } from './communicator.js';

/** NCCL or the CUDA driver (or the addon itself) cannot be loaded on this machine. */
export class NcclUnavailableError extends Error {
  override readonly name = 'NcclUnavailableError';
}

/** An NCCL or CUDA call failed (the communicator is aborted). */
export class NcclError extends Error {
  override readonly name = 'NcclError';
}

export interface NcclCommOptions {
  /** Every operation (init included) fails with CommTimeoutError after this; default 30000. */
  timeoutMs?: number;
}

/** One NCCL communicator rank; operations run in call order on the addon's worker thread. */
export interface NativeNcclComm {
  /** Settles when ncclCommInitRankConfig has completed on every rank (or failed). */
  ready(): Promise<void>;
  /** Root's bytes on every rank; `byteLength` omitted: root's size is broadcast first. */
  broadcast(data: Uint8Array | null, root: number, byteLength?: number): Promise<Uint8Array>;
  /** Elementwise sum (ncclSum) of f32 or f16 values. */
  allReduce(data: Uint8Array, dtype: ReduceDType): Promise<Uint8Array>;
  /** Every rank's chunk in rank order; `sizes` (bytes per rank) omitted: exchanged first. */
  allGather(chunk: Uint8Array, sizes?: readonly number[] | null): Promise<Uint8Array[]>;
  /** Root sends chunks[r] to rank r (grouped ncclSend/ncclRecv); `sizes` null: root's are broadcast first. */
  scatterv(chunks: readonly Uint8Array[] | null, sizes: readonly number[] | null, root: number): Promise<Uint8Array>;
  /** Root receives every rank's chunk in rank order, others null; `sizes` null: exchanged first. */
  gatherv(chunk: Uint8Array, sizes: readonly number[] | null, root: number): Promise<Uint8Array[] | null>;
  /** ncclCommAbort on the worker thread: the running and every later operation fail. */
  abort(): void;
  /** ncclCommFinalize + ncclCommDestroy, then frees the staging buffers and stream. */
  destroy(): Promise<void>;
}

export interface NcclAddon {
  ncclAvailable(): { ok: boolean; reason?: string; version?: number };
  cudaDeviceCount(): number;
  /** pciBusId as "0000:19:00.0"; uuid as 8-4-4-4-12 hex (nvidia-smi prints "GPU-" + uuid). */
  cudaDeviceInfo(device: number): { pciBusId: string; uuid: string };
  /** 128 bytes (ncclUniqueId). */
  getUniqueId(): Uint8Array;
  NcclComm: new (uniqueId: Uint8Array, rank: number, nranks: number, cudaDevice: number, options?: NcclCommOptions) => NativeNcclComm;
}

const ADDON = 'native-nccl/build/Release/tknp_nccl.node';

/** Paths tried: $TKNP_NCCL_ADDON, then native-nccl/build/Release/ above this file (src/ or dist/src/). */
export function ncclAddonCandidates(): string[] {
  const out: string[] = [];
  if (process.env.TKNP_NCCL_ADDON) out.push(process.env.TKNP_NCCL_ADDON);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) out.push(join(dir, ADDON));
  return out;
}

let cached: NcclAddon | undefined;

/** The addon, or NcclUnavailableError when it is not built. */
export function loadNcclAddon(): NcclAddon {
  if (cached) return cached;
  const tried = ncclAddonCandidates();
  const path = tried.find((p) => existsSync(p));
  if (!path) throw new NcclUnavailableError(`tknp_nccl.node not found (build it with \`npm run build:nccl\`); tried ${tried.join(', ')}`);
  try {
    cached = createRequire(import.meta.url)(path) as NcclAddon;
  } catch (e) {
    throw new NcclUnavailableError(`cannot load ${path}: ${(e as Error).message}`);
  }
  return cached;
}

/** Whether NCCL collectives can run here: the addon, libnccl.so.2 and libcuda.so.1 all load. */
export function ncclAvailable(): { ok: boolean; reason?: string; version?: number } {
  try {
    return loadNcclAddon().ncclAvailable();
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/** Maps the addon's error codes to tknp's named errors (src/parallel/communicator.ts). */
export function mapNcclError(e: unknown, abortReason?: string): Error {
  if (!(e instanceof Error)) return new NcclError(String(e));
  const code = (e as Error & { code?: string }).code;
  const msg = abortReason && code === 'TKNP_NCCL_ABORTED' ? `${e.message} (${abortReason})` : e.message;
  switch (code) {
    case 'TKNP_NCCL_UNAVAILABLE':
      return new NcclUnavailableError(msg);
    case 'TKNP_NCCL_TIMEOUT':
      return new CommTimeoutError(msg);
    case 'TKNP_NCCL_ABORTED':
      return new CommAbortedError(msg);
    case 'TKNP_NCCL_REMOTE':
      return new PeerLostError(msg);
    case 'TKNP_NCCL_INVALID':
      return new RangeError(msg);
    case 'TKNP_NCCL_ERROR':
    case 'TKNP_CUDA_ERROR':
      return new NcclError(msg);
    default:
      return e;
  }
}
