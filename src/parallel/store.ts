// A small TCP key-value store for rendezvous (like torch.distributed's TCPStore): the root
// serves it on MASTER_ADDR:MASTER_PORT; every rank registers its address, waits for the
// others', and exchanges the NCCL unique id. Line-delimited JSON over one connection.
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { CommTimeoutError, PeerLostError } from './communicator.js';

type ReqBody = { op: 'set'; key: string; value: string } | { op: 'get'; key: string } | { op: 'add'; key: string; delta: number };
type Req = ReqBody & { id: number };
type Res = { id: number; value?: string; error?: string };

export class StoreServer {
  private readonly data = new Map<string, string>();
  private readonly sockets = new Set<Socket>();
  private readonly waiters = new Map<string, (() => void)[]>();
  private constructor(private readonly server: Server) {}

  /** Serves on host:port; `host` is the address the other ranks dial (loopback for a one-machine job). */
  static listen(port: number, host: string): Promise<StoreServer> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      const store = new StoreServer(server);
      server.on('connection', (sock) => store.serve(sock));
      server.once('error', reject);
      server.listen(port, host, () => resolve(store));
    });
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  private serve(sock: Socket): void {
    sock.setNoDelay(true);
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const req = JSON.parse(buf.slice(0, nl)) as Req;
        buf = buf.slice(nl + 1);
        this.handle(req, (res) => sock.writable && sock.write(`${JSON.stringify(res)}\n`));
      }
    });
    sock.on('error', () => {});
  }

  private handle(req: Req, reply: (r: Res) => void): void {
    if (req.op === 'set') {
      this.data.set(req.key, req.value);
      for (const w of this.waiters.get(req.key) ?? []) w();
      this.waiters.delete(req.key);
      reply({ id: req.id });
    } else if (req.op === 'add') {
      const v = Number(this.data.get(req.key) ?? '0') + req.delta;
      this.data.set(req.key, String(v));
      for (const w of this.waiters.get(req.key) ?? []) w();
      this.waiters.delete(req.key);
      reply({ id: req.id, value: String(v) });
    } else {
      const done = () => reply({ id: req.id, value: this.data.get(req.key) });
      if (this.data.has(req.key)) done();
      else {
        const list = this.waiters.get(req.key) ?? [];
        list.push(done);
        this.waiters.set(req.key, list);
      }
    }
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export class StoreClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: string | undefined) => void; reject: (e: Error) => void }>();
  private closedError: Error | undefined;

  private constructor(private readonly sock: Socket) {
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const res = JSON.parse(buf.slice(0, nl)) as Res;
        buf = buf.slice(nl + 1);
        this.pending.get(res.id)?.resolve(res.value);
        this.pending.delete(res.id);
      }
    });
    sock.on('close', () => {
      this.closedError = new PeerLostError('rendezvous store connection closed (root rank gone?)');
      for (const p of this.pending.values()) p.reject(this.closedError);
      this.pending.clear();
    });
    sock.on('error', () => {});
  }

  /** Connects, retrying until `timeoutMs` (the root may start after this rank). */
  static async connect(host: string, port: number, timeoutMs: number): Promise<StoreClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection({ host, port }, () => resolve(s));
          s.once('error', reject);
        });
        sock.setNoDelay(true);
        return new StoreClient(sock);
      } catch (e) {
        if (Date.now() > deadline) throw new CommTimeoutError(`cannot reach the rendezvous store at ${host}:${port} within ${timeoutMs} ms: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private call(req: ReqBody, timeoutMs: number): Promise<string | undefined> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CommTimeoutError(`rendezvous store: '${req.key}' not available within ${timeoutMs} ms (a rank missing?)`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.sock.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }

  async set(key: string, value: string, timeoutMs = 30_000): Promise<void> {
    await this.call({ op: 'set', key, value }, timeoutMs);
  }

  /** Waits until `key` is set, then returns its value. */
  async get(key: string, timeoutMs = 30_000): Promise<string> {
    return (await this.call({ op: 'get', key }, timeoutMs)) ?? '';
  }

  async add(key: string, delta: number, timeoutMs = 30_000): Promise<number> {
    return Number(await this.call({ op: 'add', key, delta }, timeoutMs));
  }

  close(): void {
    this.sock.destroy();
  }
}
