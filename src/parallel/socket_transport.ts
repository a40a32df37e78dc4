// A full mesh of TCP connections between the ranks of one job, carrying tagged frames.
// Every process has one SocketTransport; communicators for the world, TP and token-parallel
// groups are views over it (the tag tells the group, a per-group sequence number the op).
//
// Frame: u32 payload length | u32 tag | u32 seq | u32 kind (0 data, 1 abort) | payload.
// A closed connection fails every receive at once (PeerLostError); an abort frame from a
// peer fails them with CommAbortedError.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { CommAbortedError, CommTimeoutError, PeerLostError } from './communicator.js';
import type { StoreClient } from './store.js';

const HEADER = 16;
const KIND_DATA = 0;
const KIND_ABORT = 1;
/** A rank closing normally says so first, so its disconnect is not taken for a crash. */
const KIND_BYE = 2;

interface Waiter {
  resolve: (b: Uint8Array) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class SocketTransport {
  private readonly peers = new Map<number, Socket>();
  private readonly inbox = new Map<string, Uint8Array>();
  private readonly waiters = new Map<string, Waiter>();
  private failure: Error | undefined;
  private closing = false;
  private readonly departed = new Set<number>();

  private constructor(
    readonly rank: number,
    readonly worldSize: number,
    private readonly server: Server,
    readonly timeoutMs: number,
  ) {}

  /**
   * Listens on `host` (the address the other ranks reach this one by: loopback for a
   * one-machine job, so nothing off the machine can connect), publishes it in the store, and
   * connects to every other rank (a rank dials the lower ranks and accepts the higher ones).
   */
  static async create(store: StoreClient, rank: number, worldSize: number, opts: { host: string; timeoutMs: number; jobKey?: string }): Promise<SocketTransport> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, opts.host, () => resolve());
    });
    const t = new SocketTransport(rank, worldSize, server, opts.timeoutMs);
    const port = (server.address() as { port: number }).port;
    const key = opts.jobKey ?? 'tknp';
    const accepted = new Promise<void>((resolve) => {
      let need = worldSize - 1 - rank;
      if (need === 0) resolve();
      server.on('connection', (sock) => {
        sock.once('data', (hello) => {
          const peer = hello.readUInt32LE(0);
          t.attach(peer, sock, hello.subarray(4));
          if (--need === 0) resolve();
        });
      });
    });
    await store.set(`${key}/addr/${rank}`, `${opts.host}:${port}`, opts.timeoutMs);
    for (let peer = 0; peer < rank; peer++) {
      const [host, p] = (await store.get(`${key}/addr/${peer}`, opts.timeoutMs)).split(':');
      const sock = await new Promise<Socket>((resolve, reject) => {
        const s = createConnection({ host, port: Number(p) }, () => resolve(s));
        s.once('error', reject);
      });
      const hello = Buffer.alloc(4);
      hello.writeUInt32LE(rank, 0);
      sock.write(hello);
      t.attach(peer, sock, Buffer.alloc(0));
    }
    await withTimeout(accepted, opts.timeoutMs, `rank ${rank}: not every rank connected within ${opts.timeoutMs} ms`);
    return t;
  }

  private attach(peer: number, sock: Socket, initial: Buffer): void {
    sock.setNoDelay(true);
    this.peers.set(peer, sock);
    // Incoming bytes are kept as a list of chunks and joined once per frame (joining on every
    // chunk would copy a large frame quadratically often).
    const chunks: Buffer[] = initial.length ? [Buffer.from(initial)] : [];
    let buffered = initial.length;
    const take = (n: number): Buffer => {
      const first = chunks[0];
      if (first.length >= n) {
        chunks[0] = first.subarray(n);
        if (chunks[0].length === 0) chunks.shift();
        buffered -= n;
        return first.subarray(0, n);
      }
      const out = Buffer.allocUnsafe(n);
      let pos = 0;
      while (pos < n) {
        const c = chunks[0];
        const k = Math.min(c.length, n - pos);
        c.copy(out, pos, 0, k);
        pos += k;
        if (k === c.length) chunks.shift();
        else chunks[0] = c.subarray(k);
      }
      buffered -= n;
      return out;
    };
    let header: Buffer | undefined;
    const onData = (d: Buffer) => {
      if (d.length) {
        chunks.push(d);
        buffered += d.length;
      }
      for (;;) {
        if (!header) {
          if (buffered < HEADER) return;
          header = Buffer.from(take(HEADER)); // copy: the chunk it came from may be reused
        }
        const len = header.readUInt32LE(0);
        if (buffered < len) return;
        const tag = header.readUInt32LE(4);
        const seq = header.readUInt32LE(8);
        const kind = header.readUInt32LE(12);
        header = undefined;
        const payload = new Uint8Array(len ? take(len) : Buffer.alloc(0));
        if (kind === KIND_ABORT) this.fail(new CommAbortedError(`rank ${peer} aborted: ${Buffer.from(payload).toString('utf8')}`));
        else if (kind === KIND_BYE) this.departed.add(peer);
        else this.deliver(`${peer}:${tag}:${seq}`, payload);
      }
    };
    if (initial.length) onData(Buffer.alloc(0));
    sock.on('data', onData);
    sock.on('close', () => {
      if (this.closing) return;
      if (!this.departed.has(peer)) {
        this.fail(new PeerLostError(`rank ${peer} disconnected (process died?)`));
        return;
      }
      // A rank that shut down normally: only what still waits on it fails.
      for (const [key, w] of this.waiters) {
        if (!key.startsWith(`${peer}:`)) continue;
        clearTimeout(w.timer);
        this.waiters.delete(key);
        w.reject(new PeerLostError(`rank ${peer} has shut down`));
      }
    });
    sock.on('error', () => {});
  }

  private deliver(key: string, payload: Uint8Array): void {
    const w = this.waiters.get(key);
    if (w) {
      clearTimeout(w.timer);
      this.waiters.delete(key);
      w.resolve(payload);
    } else this.inbox.set(key, payload);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const w of this.waiters.values()) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters.clear();
  }

  send(peer: number, tag: number, seq: number, payload: Uint8Array): void {
    if (this.failure) throw this.failure;
    const sock = this.peers.get(peer);
    if (!sock) throw new PeerLostError(`rank ${this.rank}: no connection to rank ${peer}`);
    const h = Buffer.alloc(HEADER);
    h.writeUInt32LE(payload.byteLength, 0);
    h.writeUInt32LE(tag, 4);
    h.writeUInt32LE(seq, 8);
    h.writeUInt32LE(KIND_DATA, 12);
    sock.write(h);
    sock.write(payload);
  }

  /** Waits for a frame; `timeoutMs` Infinity waits until it comes or the peer is lost. */
  recv(peer: number, tag: number, seq: number, timeoutMs = this.timeoutMs): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure);
    const key = `${peer}:${tag}:${seq}`;
    const ready = this.inbox.get(key);
    if (ready) {
      this.inbox.delete(key);
      return Promise.resolve(ready);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        const err = new CommTimeoutError(`rank ${this.rank}: no message from rank ${peer} within ${timeoutMs} ms (rank hung?)`);
        reject(err);
        this.abort(err.message);
      }, Number.isFinite(timeoutMs) ? timeoutMs : 2 ** 31 - 1);
      if (!Number.isFinite(timeoutMs)) clearTimeout(timer);
      this.waiters.set(key, { resolve, reject, timer });
    });
  }

  /** Fails everything here and tells every peer. */
  abort(reason: string): void {
    const payload = Buffer.from(reason, 'utf8');
    for (const sock of this.peers.values()) {
      if (!sock.writable) continue;
      const h = Buffer.alloc(HEADER);
      h.writeUInt32LE(payload.length, 0);
      h.writeUInt32LE(KIND_ABORT, 12);
      sock.write(h);
      sock.write(payload);
    }
    this.fail(new CommAbortedError(`rank ${this.rank} aborted: ${reason}`));
  }

  get error(): Error | undefined {
    return this.failure;
  }

  /**
   * Says goodbye to every peer, closes every connection (a hung peer cannot hold this up: the
   * sockets are destroyed after a second) and stops listening.
   */
  async close(): Promise<void> {
    this.closing = true;
    const bye = Buffer.alloc(HEADER);
    bye.writeUInt32LE(KIND_BYE, 12);
    for (const s of this.peers.values()) {
      if (s.writable) s.end(bye);
      setTimeout(() => s.destroy(), 1000).unref();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new CommTimeoutError(message)), ms);
    }),
  ]);
}
