// Sets up a rank's communication: rendezvous through the TCP store (served by rank 0), the
// socket mesh, and the world / TP / token-parallel communicators. The world communicator is
// the control plane (step messages, start-up exchange); TP and token-parallel groups carry
// the data.
import { hostname } from 'node:os';
import type { Communicator } from './communicator.js';
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
  ) {}

  /** Rank 0 serves the store on masterPort (0: any free port; read it back with `storePort`). */
  static async init(o: ProcessGroupOptions): Promise<ProcessGroups> {
    const topo = topology(o.rank, o.tensorParallelSize, o.tokenParallelSize);
    const server = o.rank === 0 ? await StoreServer.listen(o.masterPort) : undefined;
    const port = server ? server.port : o.masterPort;
    return ProcessGroups.connect(topo, o, port, server);
  }

  /** Rank 0 only: start the store first (to learn its port before spawning the other ranks). */
  static async serve(port: number): Promise<StoreServer> {
    return StoreServer.listen(port);
  }

  static async connect(topo: Topology, o: ProcessGroupOptions, port: number, server?: StoreServer): Promise<ProcessGroups> {
    const store = await StoreClient.connect(o.masterAddr, port, o.timeoutMs);
    const local = ['127.0.0.1', 'localhost'].includes(o.masterAddr);
    const transport = await SocketTransport.create(store, o.rank, topo.worldSize, { host: o.host ?? (local ? '127.0.0.1' : hostname()), timeoutMs: o.timeoutMs });
    const all = Array.from({ length: topo.worldSize }, (_, i) => i);
    const world = new SocketCommunicator(transport, all, 1);
    // Tags: 1 world, 2 + tknpRank for TP groups, 1000 + tpRank for token-parallel groups.
    const tp = new SocketCommunicator(transport, topo.tpGroup, 2 + topo.tknpRank);
    const tknp = new SocketCommunicator(transport, topo.tknpGroup, 1000 + topo.tpRank);
    return new ProcessGroups(topo, world, tp, tknp, transport, store, server);
  }

  /** Fails every collective here and on the peers (a rank hit an error it cannot recover from). */
  abort(reason: string): void {
    this.transport.abort(reason);
  }

  async close(): Promise<void> {
    await this.transport.close();
    this.store.close();
    await this.server?.close();
  }
}
