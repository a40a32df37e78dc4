import { describe, expect, it } from 'vitest';
import { runCommBench } from '../../src/bench/comm.js';
import { SocketCommunicator } from '../../src/parallel/socket_communicator.js';
import { SocketTransport } from '../../src/parallel/socket_transport.js';
import { StoreClient, StoreServer } from '../../src/parallel/store.js';

describe('collective microbenchmark', () => {
  it('times every op at every size on every rank of a socket group, and large frames arrive whole', async () => {
    const server = await StoreServer.listen(0, '127.0.0.1');
    const clients = await Promise.all([0, 1, 2].map(() => StoreClient.connect('127.0.0.1', server.port, 5000)));
    const transports = await Promise.all(clients.map((c, r) => SocketTransport.create(c, r, 3, { host: '127.0.0.1', timeoutMs: 20_000 })));
    const comms = transports.map((t) => new SocketCommunicator(t, [0, 1, 2], 9));
    const sizes = [4096, 3 << 20];
    const results = await Promise.all(comms.map((c) => runCommBench(c, sizes, { iterations: 2 })));
    for (const rows of results) {
      expect(rows.map((r) => `${r.op}:${r.bytes}`)).toEqual(['broadcast', 'scatterv', 'gatherv', 'allReduce'].flatMap((op) => sizes.map((b) => `${op}:${b}`)));
      for (const r of rows) expect(r.medianUs).toBeGreaterThan(0);
    }
    // A 3 MiB frame crosses many socket reads: its bytes must arrive in order.
    const big = new Uint8Array(3 << 20).map((_, i) => (i * 7) & 0xff);
    const got = await Promise.all(comms.map((c, r) => c.broadcast(r === 0 ? big : null, 0)));
    for (const g of got) expect(Buffer.compare(Buffer.from(g), Buffer.from(big))).toBe(0);
    await Promise.all(transports.map((t) => t.close()));
    clients.forEach((c) => c.close());
    await server.close();
  });
});
