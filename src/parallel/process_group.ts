// Sets up a rank's communication: rendezvous through the TCP store (served by rank 0), the
// socket mesh, and the world / TP / token-parallel communicators. The world communicator is
// the control plane (step messages, start-up exchange); TP and token-parallel groups carry
// the data.
import { hostname } from 'node:os';
import type { Communicator } from './communicator.js';
import { loadNcclAddon, ncclAvailable } from './nccl_addon.js';
import { NcclCommunicator } from './nccl_communicator.js';
import { SocketCommunicator } from './socket_communicator.js';
import { SocketTransport } from './socket_transport.js';
import { StoreClient, StoreServer } from './store.js';
import { topology, type Topology } from './topology.js';

export interface ProcessGroupOptions {
  readonly rank: number;
  readonly tensorParallelSize: number;
  readonly tokenParallelSize: number;
  readonly masterAddr: string;
  readonly masterPort: number;
  /** Bound for every collective and for start-up (ms). */
  readonly timeoutMs: number;
  /** Address other ranks reach this one at (default: 127.0.0.1 for a local job, else the host name). */
  readonly host?: string;
  /**
   * Data plane of the TP and token-parallel groups: 'socket', 'nccl' (one GPU per rank; NCCL
   * cannot put two ranks of a communicator on one GPU), or 'auto' (NCCL when it loads and the
   * host has a CUDA device per local rank). Step messages always travel over sockets.
   */
  readonly dataPlane?: 'auto' | 'socket' | 'nccl';
  /** CUDA device of this rank for NCCL (default LOCAL_RANK). */
  readonly cudaDevice?: number;
}

/** Resolves 'auto' to the data plane this rank will use. */
export function chooseDataPlane(o: ProcessGroupOptions, localWorld: number): 'socket' | 'nccl' {
  const want = o.dataPlane ?? 'auto';
  if (want !== 'auto') return want;
  try {
    if (!ncclAvailable().ok) return 'socket';
    return loadNcclAddon().cudaDeviceCount() >= localWorld ? 'nccl' : 'socket';
  } catch {
    return 'socket';
  }
}

/** A name or address of this machine's loopback interface. */
export function isLoopback(addr: string): boolean {
  return addr === 'localhost' || addr === '::1' || /^127\.\d+\.\d+\.\d+$/.test(addr);
}

/** Where rank 0 listens for an address the other ranks dial: loopback stays on loopback. */
export function bindAddress(masterAddr: string): string {
  return isLoopback(masterAddr) ? '127.0.0.1' : masterAddr;
}

export class ProcessGroups {
  private constructor(
    readonly topo: Topology,
    readonly world: SocketCommunicator,
    readonly tp: Communicator,
    readonly tknp: Communicator,
    private readonly transport: SocketTransport,
    private readonly store: StoreClient,
    private readonly server: StoreServer | undefined,
    readonly dataPlane: 'socket' | 'nccl' = 'socket',
  ) {}

  /** Rank 0 serves the store on masterPort (0: any free port; read it back with `storePort`). */
  static async init(o: ProcessGroupOptions): Promise<ProcessGroups> {
    const topo = topology(o.rank, o.tensorParallelSize, o.tokenParallelSize);
    const server = o.rank === 0 ? await StoreServer.listen(o.masterPort, bindAddress(o.masterAddr)) : undefined;
    const port = server ? server.port : o.masterPort;
    return ProcessGroups.connect(topo, o, port, server);
  }

  /** Rank 0 only: start the store first (to learn its port before spawning the other ranks). */
  static async serve(port: number, masterAddr: string): Promise<StoreServer> {
    return StoreServer.listen(port, bindAddress(masterAddr));
  }

  static async connect(topo: Topology, o: ProcessGroupOptions, port: number, server?: StoreServer): Promise<ProcessGroups> {
    const store = await StoreClient.connect(o.masterAddr, port, o.timeoutMs);
    const local = isLoopback(o.masterAddr);
    const transport = await SocketTransport.create(store, o.rank, topo.worldSize, { host: o.host ?? (local ? '127.0.0.1' : hostname()), timeoutMs: o.timeoutMs });
    const all = Array.from({ length: topo.worldSize }, (_, i) => i);
    const world = new SocketCommunicator(transport, all, 1);
    // Tags: 1 world, 2 + tknpRank for TP groups, 1000 + tpRank for token-parallel groups.
    let tp: Communicator = new SocketCommunicator(transport, topo.tpGroup, 2 + topo.tknpRank);
    let tknp: Communicator = new SocketCommunicator(transport, topo.tknpGroup, 1000 + topo.tpRank);
    // Every rank must agree on the data plane: rank 0 decides and publishes it.
    const plane =
      o.rank === 0
        ? chooseDataPlane(o, topo.worldSize)
        : ((await store.get('tknp/dataPlane', o.timeoutMs)) as 'socket' | 'nccl');
    if (o.rank === 0) await store.set('tknp/dataPlane', plane, o.timeoutMs);
    if (plane === 'nccl') {
      const cudaDevice = o.cudaDevice ?? Number(process.env.LOCAL_RANK ?? o.rank);
      const make = (group: readonly number[], key: string) =>
        NcclCommunicator.create({ store, rank: group.indexOf(o.rank), size: group.length, cudaDevice, timeoutMs: o.timeoutMs, key });
      if (topo.tpGroup.length > 1) tp = await make(topo.tpGroup, `tknp/nccl/tp/${topo.tknpRank}`);
      if (topo.tknpGroup.length > 1) tknp = await make(topo.tknpGroup, `tknp/nccl/tknp/${topo.tpRank}`);
    }
    return new ProcessGroups(topo, world, tp, tknp, transport, store, server, plane);
  }

  /** Fails every collective here and on the peers (a rank hit an error it cannot recover from). */
  abort(reason: string): void {
    if (this.dataPlane === 'nccl') {
      this.tp.abort(reason);
      this.tknp.abort(reason);
    }
    this.transport.abort(reason);
  }

  async close(): Promise<void> {
    await Promise.all([this.tp.close(), this.tknp.close()]).catch(() => {});
    await this.transport.close();
    this.store.close();
    await this.server?.close();
  }
}
