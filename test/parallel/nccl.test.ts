// The NCCL addon and NcclCommunicator. Everywhere: the addon loads without CUDA/NCCL and fails
// with named errors naming the library path tried. With NCCL and a CUDA device (the GPU host):
// every collective on one rank, staging growth, ordering, timeouts and abort; with 2+ GPUs,
// multi-rank collectives (ranks as threads of this process, one GPU each).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommAbortedError, CommTimeoutError } from '../../src/parallel/communicator.js';
import { loadNcclAddon, ncclAddonCandidates, ncclAvailable, NcclUnavailableError, type NativeNcclComm } from '../../src/parallel/nccl_addon.js';
import { NcclCommunicator } from '../../src/parallel/nccl_communicator.js';
import { StoreClient, StoreServer } from '../../src/parallel/store.js';
import { f16BitsToF32, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';

const avail = ncclAvailable();
const gpus = avail.ok ? loadNcclAddon().cudaDeviceCount() : 0;
const gpuSkip = !avail.ok ? `NCCL unavailable: ${avail.reason}` : gpus === 0 ? 'no CUDA device' : '';
if (gpuSkip) console.log(`[nccl.test] skipping the GPU tests: ${gpuSkip}`);
else if (gpus < 2) console.log(`[nccl.test] skipping the multi-rank tests: ${gpus} CUDA device`);

const randomBytes = (rng: Rng, n: number) => Uint8Array.from({ length: n }, () => rng.int(0, 255));
const bytesOf = (a: Float32Array | Uint16Array) => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
const f32Of = (u: Uint8Array) => new Float32Array(u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength));
const f16Of = (u: Uint8Array) => [...new Uint16Array(u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength))].map(f16BitsToF32);
function same(got: Uint8Array | null | undefined, want: Uint8Array): void {
  expect(got).toBeInstanceOf(Uint8Array);
  expect(got!.byteLength).toBe(want.byteLength);
  expect(Buffer.compare(Buffer.from(got!.buffer, got!.byteOffset, got!.byteLength), Buffer.from(want))).toBe(0);
}

/** For the enclosing describe: a store server on a free local port and a client of it (handed to `use`). */
function storeForSuite(use: (store: StoreClient) => void): void {
  let server: StoreServer;
  let store: StoreClient;
  beforeAll(async () => {
    server = await StoreServer.listen(0, '127.0.0.1');
    store = await StoreClient.connect('127.0.0.1', server.port, 5000);
    use(store);
  });
  afterAll(async () => {
    store.close();
    await server.close();
  });
}

describe('NCCL addon on any machine', () => {
  it('builds and loads without CUDA or NCCL', () => {
    expect(ncclAddonCandidates().some((p) => existsSync(p)), 'run `npm run build:nccl`').toBe(true);
    const addon = loadNcclAddon();
    for (const f of ['ncclAvailable', 'cudaDeviceCount', 'cudaDeviceInfo', 'getUniqueId', 'NcclComm'] as const) expect(typeof addon[f]).toBe('function');
    expect(typeof avail.ok).toBe('boolean');
    expect(() => new addon.NcclComm(new Uint8Array(5), 0, 1, 0)).toThrow(/128-byte/);
  });

  it('names the library path from TKNP_NCCL_LIB when it cannot load it', () => {
    // A fresh process: a successful load is cached for the process's lifetime.
    const path = ncclAddonCandidates().find((p) => existsSync(p))!;
    const script = `const a = require(${JSON.stringify(path)}); const out = { avail: a.ncclAvailable() };
      for (const [k, f] of [['id', () => a.getUniqueId()], ['comm', () => new a.NcclComm(new Uint8Array(128), 0, 1, 0)]])
        try { f(); out[k] = 'no error'; } catch (e) { out[k] = { code: e.code, message: e.message }; }
      console.log(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, TKNP_NCCL_LIB: '/nonexistent/libnccl.so.2' }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, { ok?: boolean; reason?: string; code?: string; message?: string }>;
    expect(out.avail.ok).toBe(false);
    expect(out.avail.reason).toContain('cannot load /nonexistent/libnccl.so.2 (from TKNP_NCCL_LIB)');
    for (const k of ['id', 'comm']) {
      expect(out[k].code).toBe('TKNP_NCCL_UNAVAILABLE');
      expect(out[k].message).toContain('/nonexistent/libnccl.so.2');
    }
  });

  describe.skipIf(avail.ok)('where NCCL is missing', () => {
    let store: StoreClient;
    storeForSuite((s) => (store = s));

    it('reports it with a reason naming libnccl.so.2', () => {
      expect(avail.ok).toBe(false);
      expect(avail.reason).toMatch(/libnccl\.so\.2/);
    });

    it('fails NcclCommunicator.create at once with NcclUnavailableError on every rank', async () => {
      for (const rank of [0, 1]) {
        const t0 = Date.now();
        const err = await NcclCommunicator.create({ store, rank, size: 2, cudaDevice: 0, key: 'nccl-missing', timeoutMs: 20_000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NcclUnavailableError);
        expect((err as Error).message).toMatch(/cannot load libnccl\.so\.2 \(set TKNP_NCCL_LIB/);
        expect(Date.now() - t0).toBeLessThan(5000); // rank 1 does not wait for an id
      }
    });

    it('names the TKNP_NCCL_LIB path in NcclCommunicator.create', async () => {
      const saved = process.env.TKNP_NCCL_LIB;
      process.env.TKNP_NCCL_LIB = '/nonexistent';
      try {
        const err = await NcclCommunicator.create({ store, rank: 0, size: 1, cudaDevice: 0, key: 'nccl-env' }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NcclUnavailableError);
        expect((err as Error).message).toContain('cannot load /nonexistent (from TKNP_NCCL_LIB)');
      } finally {
        if (saved === undefined) delete process.env.TKNP_NCCL_LIB;
        else process.env.TKNP_NCCL_LIB = saved;
      }
    });
  });
});

describe.skipIf(gpuSkip !== '')('NCCL on a GPU', () => {
  let store: StoreClient;
  storeForSuite((s) => (store = s));
  let keys = 0;
  const key = () => `nccl-test-${keys++}`;

  it('describes CUDA devices', () => {
    const info = loadNcclAddon().cudaDeviceInfo(0);
    expect(info.pciBusId).toMatch(/^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i);
    expect(info.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('runs every collective on one rank, with sizes exchanged or given, including empty chunks', async () => {
    const c = await NcclCommunicator.create({ store, rank: 0, size: 1, cudaDevice: 0, key: key(), timeoutMs: 20_000 });
    expect(c.backend).toBe('nccl');
    const rng = new Rng(11);
    for (const n of [0, 1, 7, 256, 1001, 65_539]) {
      const data = randomBytes(rng, n);
      same(await c.broadcast(data, 0), data);
      same(await c.broadcast(data, 0, n), data);
      same(await c.scatterv([data], 0), data);
      same(await c.scatterv([data], 0, [n]), data);
      for (const sizes of [undefined, [n]]) {
        const g = await c.gatherv(data, 0, sizes);
        expect(g).toHaveLength(1);
        same(g![0], data);
        const ag = await c.allGather(data, sizes);
        expect(ag).toHaveLength(1);
        same(ag[0], data);
      }
      const x = rng.floats(n, -3, 3);
      same(await c.allReduce(bytesOf(x), 'f32'), bytesOf(x));
      const h = toF16(x);
      same(await c.allReduce(bytesOf(h), 'f16'), bytesOf(h));
    }
    await expect(c.allReduce(new Uint8Array(6), 'f32')).rejects.toBeInstanceOf(RangeError);
    await expect(c.scatterv([new Uint8Array(3)], 0, [4])).rejects.toBeInstanceOf(RangeError);
    await c.barrier();
    await c.close();
    await expect(c.broadcast(new Uint8Array(1), 0)).rejects.toBeInstanceOf(CommAbortedError);
  });

  it('keeps call order with many operations in flight, and grows its staging buffers', async () => {
    const c = await NcclCommunicator.create({ store, rank: 0, size: 1, cudaDevice: 0, key: key(), timeoutMs: 20_000 });
    const rng = new Rng(12);
    const inputs = [5, 3 << 20, 17, (12 << 20) + 3, 0, 4096].map((n) => rng.floats(n));
    const outs = await Promise.all(inputs.map((x, i) => (i % 2 ? c.allReduce(bytesOf(x), 'f32') : c.scatterv([bytesOf(x)], 0))));
    outs.forEach((o, i) => same(o, bytesOf(inputs[i])));
    await c.close();
  });

  it('times out an init whose peers never come, then fails later operations as aborted', async () => {
    const t0 = Date.now();
    const err = await NcclCommunicator.create({ store, rank: 0, size: 2, cudaDevice: 0, key: key(), timeoutMs: 1500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommTimeoutError);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('aborts a pending init and rejects every operation after abort()', async () => {
    const addon = loadNcclAddon();
    const lonely: NativeNcclComm = new addon.NcclComm(addon.getUniqueId(), 0, 2, 0, { timeoutMs: 60_000 });
    const pending = lonely.allReduce(new Uint8Array(4), 'f32');
    setTimeout(() => lonely.abort(), 300);
    const t0 = Date.now();
    await expect(lonely.ready()).rejects.toMatchObject({ code: 'TKNP_NCCL_ABORTED' });
    await expect(pending).rejects.toMatchObject({ code: 'TKNP_NCCL_ABORTED' });
    expect(Date.now() - t0).toBeLessThan(15_000);
    await lonely.destroy();

    const c = await NcclCommunicator.create({ store, rank: 0, size: 1, cudaDevice: 0, key: key() });
    c.abort('test abort');
    const e = await c.allGather(new Uint8Array(3)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CommAbortedError);
    expect((e as Error).message).toContain('test abort');
    await c.close();
  });

  describe.skipIf(gpus < 2)('several ranks (one GPU each, threads of this process)', () => {
    const n = Math.min(gpus, 4);
    const world = (timeoutMs: number) => {
      const k = key();
      return Promise.all(Array.from({ length: n }, (_, r) => NcclCommunicator.create({ store, rank: r, size: n, cudaDevice: r, key: k, timeoutMs })));
    };

    it('moves variable-size chunks between ranks', async () => {
      const comms = await world(20_000);
      const rng = new Rng(21);
      const data = comms.map((_, r) => randomBytes(rng, r === 1 ? 0 : rng.int(1, 5000)));
      for (const root of [0, n - 1]) {
        const b = await Promise.all(comms.map((c, r) => c.broadcast(r === root ? data[r] : null, root)));
        b.forEach((x) => same(x, data[root]));
        const s = await Promise.all(comms.map((c, r) => c.scatterv(r === root ? data : null, root)));
        s.forEach((x, r) => same(x, data[r]));
        const g = await Promise.all(comms.map((c, r) => c.gatherv(data[r], root)));
        g.forEach((x, r) => (r === root ? x!.forEach((y, i) => same(y, data[i])) : expect(x).toBeNull()));
      }
      const equal = comms.map(() => randomBytes(rng, 999));
      for (const chunks of [data, equal]) {
        const ag = await Promise.all(comms.map((c, r) => c.allGather(chunks[r])));
        ag.forEach((x) => x.forEach((y, i) => same(y, chunks[i])));
      }
      await Promise.all(comms.map((c) => c.close()));
    });

    it('sums f32 and f16 identically on every rank, within rounding of the exact sum', async () => {
      const comms = await world(20_000);
      const rng = new Rng(22);
      const xs = comms.map(() => rng.floats(3001, -2, 2));
      const exact = xs[0].map((_, i) => xs.reduce((s, x) => s + x[i], 0));
      const sumAbs = xs[0].map((_, i) => xs.reduce((s, x) => s + Math.abs(x[i]), 0));
      const f32 = await Promise.all(comms.map((c, r) => c.allReduce(bytesOf(xs[r]), 'f32')));
      f32.forEach((o) => same(o, f32[0]));
      f32Of(f32[0]).forEach((v, i) => expect(Math.abs(v - exact[i])).toBeLessThanOrEqual(n * 2 ** -23 * sumAbs[i] + 1e-7));
      const hs = xs.map((x) => toF16(x));
      const f16 = await Promise.all(comms.map((c, r) => c.allReduce(bytesOf(hs[r]), 'f16')));
      f16.forEach((o) => same(o, f16[0]));
      const exact16 = hs[0].map((_, i) => hs.reduce((s, h) => s + f16BitsToF32(h[i]), 0));
      f16Of(f16[0]).forEach((v, i) => expect(Math.abs(v - exact16[i])).toBeLessThanOrEqual(n * 2 ** -11 * sumAbs[i] + 1e-3));
      await Promise.all(comms.map((c) => c.close()));
    });

    it('times out when a rank never joins a collective', async () => {
      const comms = await world(1500);
      const late = comms[n - 1];
      const errs = await Promise.all(comms.slice(0, -1).map((c) => c.allReduce(new Uint8Array(4096), 'f32').catch((e: unknown) => e)));
      errs.forEach((e) => expect(e).toBeInstanceOf(CommTimeoutError));
      await expect(comms[0].barrier()).rejects.toBeInstanceOf(CommAbortedError);
      late.abort('test over');
      await Promise.all(comms.map((c) => c.close().catch(() => {})));
    });
  });
});
