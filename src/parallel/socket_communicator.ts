// Collectives over the socket mesh for one group of ranks (world, a TP group or a token-
// parallel group). Each operation takes the group's next sequence number, so every rank
// must call the same operations in the same order (as with NCCL).
import { f16BitsToF32Fast, f32ToF16Bits } from '../util/f16.js';
import { sumInOrder, type Communicator, type ReduceDType } from './communicator.js';
import type { SocketTransport } from './socket_transport.js';

export class SocketCommunicator implements Communicator {
  readonly backend = 'socket';
  readonly rank: number;
  private seq = 0;

  /** `ranks`: the group's global ranks in group order; `tag`: a number unique to the group. */
  constructor(
    private readonly transport: SocketTransport,
    private readonly ranks: readonly number[],
    private readonly tag: number,
  ) {
    this.rank = ranks.indexOf(transport.rank);
    if (this.rank < 0) throw new Error(`rank ${transport.rank} is not in group [${ranks}]`);
  }

  get size(): number {
    return this.ranks.length;
  }

  private send(to: number, seq: number, data: Uint8Array): void {
    this.transport.send(this.ranks[to], this.tag, seq, data);
  }

  private recv(from: number, seq: number, timeoutMs?: number): Promise<Uint8Array> {
    return this.transport.recv(this.ranks[from], this.tag, seq, timeoutMs);
  }

  /**
   * Like broadcast, but a non-root rank waits without a timeout (only the loss of a peer ends
   * the wait): workers idle here between steps for as long as the engine has nothing to do.
   */
  async broadcastIdle(data: Uint8Array | null, root: number): Promise<Uint8Array> {
    if (this.rank === root) return this.broadcast(data, root);
    return this.recv(root, this.seq++, Infinity);
  }

  async broadcast(data: Uint8Array | null, root: number): Promise<Uint8Array> {
    const seq = this.seq++;
    if (this.rank === root) {
      if (!data) throw new Error('broadcast: root must pass data');
      for (let r = 0; r < this.size; r++) if (r !== root) this.send(r, seq, data);
      return data;
    }
    return this.recv(root, seq);
  }

  async scatterv(chunks: readonly Uint8Array[] | null, root: number): Promise<Uint8Array> {
    const seq = this.seq++;
    if (this.rank === root) {
      if (!chunks || chunks.length !== this.size) throw new Error(`scatterv: root must pass ${this.size} chunks`);
      for (let r = 0; r < this.size; r++) if (r !== root) this.send(r, seq, chunks[r]);
      return chunks[root];
    }
    return this.recv(root, seq);
  }

  async gatherv(chunk: Uint8Array, root: number): Promise<Uint8Array[] | null> {
    const seq = this.seq++;
    if (this.rank !== root) {
      this.send(root, seq, chunk);
      return null;
    }
    const out: Uint8Array[] = [];
    for (let r = 0; r < this.size; r++) out.push(r === root ? chunk : await this.recv(r, seq));
    return out;
  }

  async allReduce(data: Uint8Array, dtype: ReduceDType): Promise<Uint8Array> {
    const parts = await this.gatherv(data, 0);
    const sum = parts ? sumInOrder(parts, dtype, f16BitsToF32Fast, f32ToF16Bits) : null;
    return this.broadcast(sum, 0);
  }

  async allGather(chunk: Uint8Array): Promise<Uint8Array[]> {
    const seq = this.seq++;
    for (let r = 0; r < this.size; r++) if (r !== this.rank) this.send(r, seq, chunk);
    const out: Uint8Array[] = [];
    for (let r = 0; r < this.size; r++) out.push(r === this.rank ? chunk : await this.recv(r, seq));
    return out;
  }

  async barrier(): Promise<void> {
    await this.allGather(new Uint8Array(0));
  }

  abort(reason: string): void {
    this.transport.abort(reason);
  }

  async close(): Promise<void> {
    // The transport is shared by the process's groups; its owner closes it.
  }
}
