// Communicator over NCCL (native-nccl/ addon): same semantics as SocketCommunicator, for
// ranks on NVIDIA GPUs. Payloads are host bytes; the addon stages them through pinned memory
// and device buffers on its own worker thread and CUDA stream, so the event loop never blocks.
//
// Variable sizes: the Communicator interface gives chunks only to the ranks that own them, so
// broadcast/scatterv/gatherv/allGather first exchange the sizes inside the same native op (one
// small NCCL collective of u64s). Callers that know every rank's sizes (tknp's layers do, from
// the SchedulerOutput) pass them as the optional last argument and skip that exchange.
//
// Differences from the socket backend: allReduce sums in NCCL's order (ring/tree, f16 summed
// in f16), so results are deterministic for a given topology but not bitwise equal to the
// socket backend's rank-order f32 sum; a dead peer inside one node shows up as
// CommTimeoutError (NCCL cannot see it) rather than PeerLostError.
import type { Communicator, ReduceDType } from './communicator.js';
import { loadNcclAddon, mapNcclError, NcclUnavailableError, type NativeNcclComm } from './nccl_addon.js';

/** The part of StoreClient the rendezvous needs. */
export interface RendezvousStore {
  set(key: string, value: string, timeoutMs?: number): Promise<void>;
  get(key: string, timeoutMs?: number): Promise<string>;
}

export interface NcclCommunicatorOptions {
  store: RendezvousStore;
  /** This process's rank in the group, and the group's size. */
  rank: number;
  size: number;
  /** CUDA device ordinal (the GPU this rank's Dawn device runs on). */
  cudaDevice: number;
  /** Per operation (init included); default 30000. */
  timeoutMs?: number;
  /** Store key for the NCCL unique id: unique per group and per launch. */
  key: string;
}

export class NcclCommunicator implements Communicator {
  readonly backend = 'nccl';
  private abortReason: string | undefined;

  private constructor(
    private readonly comm: NativeNcclComm,
    readonly rank: number,
    readonly size: number,
  ) {}

  /**
   * Rank 0 makes the NCCL unique id and publishes it (base64) under `key`; the others wait for
   * it; then every rank runs ncclCommInitRankConfig on the addon's worker thread.
   */
  static async create(o: NcclCommunicatorOptions): Promise<NcclCommunicator> {
    const addon = loadNcclAddon();
    const avail = addon.ncclAvailable();
    if (!avail.ok) throw new NcclUnavailableError(avail.reason ?? 'NCCL unavailable');
    const timeoutMs = o.timeoutMs ?? 30_000;
    let id: Uint8Array;
    if (o.rank === 0) {
      id = call(() => addon.getUniqueId());
      await o.store.set(o.key, Buffer.from(id).toString('base64'), timeoutMs);
    } else {
      id = new Uint8Array(Buffer.from(await o.store.get(o.key, timeoutMs), 'base64'));
      if (id.byteLength !== 128) throw new RangeError(`store key '${o.key}' holds ${id.byteLength} bytes, not a 128-byte NCCL unique id`);
    }
    const comm = call(() => new addon.NcclComm(id, o.rank, o.size, o.cudaDevice, { timeoutMs }));
    try {
      await comm.ready();
    } catch (e) {
      throw mapNcclError(e);
    }
    return new NcclCommunicator(comm, o.rank, o.size);
  }

  private run<T>(op: () => Promise<T>): Promise<T> {
    let p: Promise<T>;
    try {
      p = op();
    } catch (e) {
      return Promise.reject(mapNcclError(e, this.abortReason));
    }
    return p.catch((e: unknown) => {
      throw mapNcclError(e, this.abortReason);
    });
  }

  /** `byteLength`: the payload size if every rank knows it (skips the size broadcast). */
  broadcast(data: Uint8Array | null, root: number, byteLength?: number): Promise<Uint8Array> {
    return this.run(() => this.comm.broadcast(this.rank === root ? data : null, root, byteLength));
  }

  /** `sizes`: every rank's chunk bytes if every rank knows them. */
  scatterv(chunks: readonly Uint8Array[] | null, root: number, sizes?: readonly number[]): Promise<Uint8Array> {
    return this.run(() => this.comm.scatterv(this.rank === root ? chunks : null, sizes ?? null, root));
  }

  gatherv(chunk: Uint8Array, root: number, sizes?: readonly number[]): Promise<Uint8Array[] | null> {
    return this.run(() => this.comm.gatherv(chunk, sizes ?? null, root));
  }

  allReduce(data: Uint8Array, dtype: ReduceDType): Promise<Uint8Array> {
    return this.run(() => this.comm.allReduce(data, dtype));
  }

  allGather(chunk: Uint8Array, sizes?: readonly number[]): Promise<Uint8Array[]> {
    return this.run(() => this.comm.allGather(chunk, sizes ?? null));
  }

  async barrier(): Promise<void> {
    await this.allReduce(new Uint8Array(4), 'f32');
  }

  abort(reason: string): void {
    this.abortReason ??= reason;
    this.comm.abort();
  }

  close(): Promise<void> {
    return this.run(() => this.comm.destroy());
  }
}

/** Runs a synchronous addon call, mapping its error. */
function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw mapNcclError(e);
  }
}
