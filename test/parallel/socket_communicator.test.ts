import { describe, expect, it } from 'vitest';
import { CommAbortedError, CommTimeoutError, PeerLostError } from '../../src/parallel/communicator.js';
import { SocketCommunicator } from '../../src/parallel/socket_communicator.js';
import { SocketTransport } from '../../src/parallel/socket_transport.js';
import { StoreClient, StoreServer } from '../../src/parallel/store.js';
import { f16BitsToF32, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';

async function world(n: number, timeoutMs = 5000): Promise<{ transports: SocketTransport[]; comms: SocketCommunicator[]; stop: () => Promise<void> }> {
  const server = await StoreServer.listen(0, '127.0.0.1');
  const clients = await Promise.all(Array.from({ length: n }, () => StoreClient.connect('127.0.0.1', server.port, 5000)));
  const transports = await Promise.all(clients.map((c, r) => SocketTransport.create(c, r, n, { host: '127.0.0.1', timeoutMs })));
  const ranks = Array.from({ length: n }, (_, i) => i);
  const comms = transports.map((t) => new SocketCommunicator(t, ranks, 1));
  return {
    transports,
    comms,
    stop: async () => {
      await Promise.all(transports.map((t) => t.close()));
      clients.forEach((c) => c.close());
      await server.close();
    },
  };
}

const bytes = (...v: number[]) => new Uint8Array(v);

describe('SocketCommunicator', () => {
  it('runs every collective with variable sizes, including empty chunks', async () => {
    const { comms, stop } = await world(3);
    const b = await Promise.all(comms.map((c, r) => c.broadcast(r === 1 ? bytes(7, 8, 9) : null, 1)));
    expect(b.map((x) => [...x])).toEqual([[7, 8, 9], [7, 8, 9], [7, 8, 9]]);
    const chunks = [bytes(1), bytes(), bytes(2, 3, 4)];
    const s = await Promise.all(comms.map((c, r) => c.scatterv(r === 0 ? chunks : null, 0)));
    expect(s.map((x) => [...x])).toEqual([[1], [], [2, 3, 4]]);
    const g = await Promise.all(comms.map((c, r) => c.gatherv(bytes(...Array(r).fill(r)), 2)));
    expect(g[0]).toBeNull();
    expect(g[2]!.map((x) => [...x])).toEqual([[], [1], [2, 2]]);
    const ag = await Promise.all(comms.map((c, r) => c.allGather(bytes(r * 10))));
    for (const x of ag) expect(x.map((y) => [...y])).toEqual([[0], [10], [20]]);
    await Promise.all(comms.map((c) => c.barrier()));
    await stop();
  });

  it('all-reduces f32 and f16 in rank order, identically on every rank', async () => {
    const { comms, stop } = await world(4);
    const rng = new Rng(3);
    const inputs = comms.map(() => rng.floats(1001, -2, 2));
    const f32 = await Promise.all(comms.map((c, r) => c.allReduce(new Uint8Array(inputs[r].buffer.slice(0)), 'f32')));
    const want = inputs[0].map((_, i) => Math.fround(Math.fround(Math.fround(inputs[0][i] + inputs[1][i]) + inputs[2][i]) + inputs[3][i]));
    for (const r of f32) expect([...new Float32Array(r.buffer.slice(r.byteOffset, r.byteOffset + r.byteLength))]).toEqual([...want]);
    const f16 = await Promise.all(comms.map((c, r) => c.allReduce(new Uint8Array(toF16(inputs[r]).buffer), 'f16')));
    const first = [...new Uint16Array(f16[0].buffer.slice(f16[0].byteOffset, f16[0].byteOffset + f16[0].byteLength))].map(f16BitsToF32);
    for (const r of f16) expect([...new Uint16Array(r.buffer.slice(r.byteOffset, r.byteOffset + r.byteLength))].map(f16BitsToF32)).toEqual(first);
    expect(Math.abs(first[5] - want[5])).toBeLessThan(0.01);
    await stop();
  });

  it('fails pending operations at once when a peer disconnects', async () => {
    const { transports, comms, stop } = await world(3, 20_000);
    const pending = comms[0].gatherv(bytes(1), 0);
    comms[1].gatherv(bytes(2), 0);
    // Rank 2 dies before sending.
    const t0 = Date.now();
    await transports[2].close();
    await expect(pending).rejects.toBeInstanceOf(PeerLostError);
    expect(Date.now() - t0).toBeLessThan(5000);
    await stop();
  });

  it('times out a hung peer and aborts the others', async () => {
    const { comms, stop } = await world(2, 300);
    const err = await comms[0].broadcast(null, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommTimeoutError);
    // The abort reaches rank 1: its next operation fails instead of hanging.
    await new Promise((r) => setTimeout(r, 50));
    await expect(comms[1].barrier()).rejects.toBeInstanceOf(CommAbortedError);
    await stop();
  });
});
