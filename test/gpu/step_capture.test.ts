// Recorder capture and replay (src/gpu/step_capture.ts): a replayed run does the captured work
// with the captured buffers and uniform bytes, without looking anything up; it is refused where
// the pool would hand back other buffers; the step cache keeps the most recently used keys.
import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/gpu/recorder.js';
import { StepCache, StepCapture } from '../../src/gpu/step_capture.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { add } from '../../src/kernels/add.js';
import { roundF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, readF32, testGpu, uploadF16 } from '../helpers/gpu.js';

const gpu = await testGpu();
const N = 300;

/**
 * Records a small "step": two scratch tensors start as copies of a, then each add writes
 * x[(i + 1) % 2] = x[i % 2] + b over the first N - i % 7 elements (sizes vary, so each dispatch has
 * uniform bytes of its own), with a split in the middle; out = the last one written.
 */
function recordStep(rec: Recorder, a: Tensor, b: Tensor, out: Tensor, adds: number): void {
  const x = [rec.scratch([N], 'f16'), rec.scratch([N], 'f16')];
  for (const t of x) rec.copy(a, t);
  for (let i = 0; i < adds; i++) {
    const n = N - (i % 7);
    add(rec, { ...x[i % 2], shape: [n] }, { ...b, shape: [n] }, { ...x[(i + 1) % 2], shape: [n] });
    if (i === adds >> 1) rec.split();
  }
  rec.copy(x[adds % 2], out);
}

function expected(a: Float32Array, b: Float32Array, adds: number): Float32Array {
  const x = [Float32Array.from(a), Float32Array.from(a)];
  for (let i = 0; i < adds; i++) for (let j = 0; j < N - (i % 7); j++) x[(i + 1) % 2][j] = roundF16(x[i % 2][j] + b[j]);
  return x[adds % 2];
}

describe.skipIf(!gpu)(`step capture and replay ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const g = gpu as Gpu;
  const rng = new Rng(9);
  const av = Float32Array.from({ length: N }, () => roundF16(rng.normal()));
  const bv = Float32Array.from({ length: N }, () => roundF16(rng.normal() / 64));
  const a = uploadF16(g, av, [N], 'a');
  const b = uploadF16(g, bv, [N], 'b');
  const out = g.tensor([N], 'f16', 'out');
  const out2 = g.tensor([N], 'f16', 'out2');
  const adds = 600; // three uniform arenas of 256 slots

  async function capture(): Promise<StepCapture> {
    const rec = new Recorder(g, 'capture');
    add(rec, a, b, out); // before the capture: its uniform slot is not part of it
    rec.startCapture();
    recordStep(rec, a, b, out, adds);
    const c = rec.finishCapture();
    rec.submit();
    await g.flush();
    return c;
  }

  it('a replay does the captured work with no wrapper, lookup or new bind group, and leaves the recorder usable', async () => {
    const c = await capture();
    expect(c.dispatches).toBe(adds);
    expect(c.ops.filter((o) => o.kind === 'split').length).toBe(1);
    const want = expected(av, bv, adds);
    expect(Array.from(await readF32(g, out))).toEqual(Array.from(want));
    for (let round = 0; round < 2; round++) {
      // Other work in between takes the same pooled arenas and writes other uniform bytes into them.
      const other = new Recorder(g, 'other');
      for (let i = 0; i < adds; i++) add(other, { ...a, shape: [1 + (i % 5)] }, { ...b, shape: [1 + (i % 5)] }, { ...out2, shape: [1 + (i % 5)] });
      other.submit();
      await g.flush();
      g.write(out, new Uint16Array(N));
      const rec = new Recorder(g, 'replay');
      add(rec, a, b, out); // as before the capture: the pool then hands back the captured buffers
      const lookups = g.bindGroups.hits + g.bindGroups.misses;
      expect(rec.replay(c)).toBe(true);
      expect(g.bindGroups.hits + g.bindGroups.misses).toBe(lookups); // nothing looked up, nothing created
      // Recording goes on after a replay (into the replayed arena's next slot) without touching the capture.
      add(rec, out, b, out2);
      rec.submit();
      await g.flush();
      expect(Array.from(await readF32(g, out))).toEqual(Array.from(want));
      const got = await readF32(g, out2);
      for (let j = 0; j < N; j++) expect(got[j], `round ${round}, [${j}]`).toBe(roundF16(want[j] + bv[j]));
    }
  });

  it('refuses (recording nothing, returning every buffer) where the pool hands back other buffers', async () => {
    const c = await capture();
    // Hold the capture's first pooled buffer: the pool must hand out another one in its place.
    const first = c.pooled[0];
    const held = g.pool.acquire(first.size, first.usage);
    expect(held).toBe(first);
    g.write(out, new Uint16Array(N));
    const rec = new Recorder(g, 'refused');
    add(rec, a, b, out);
    expect(rec.replay(c)).toBe(false);
    rec.submit();
    await g.flush();
    const got = await readF32(g, out); // the add before the replay alone
    for (let j = 0; j < N; j++) expect(got[j]).toBe(roundF16(av[j] + bv[j]));
    g.pool.release(held);
    // Everything went back: the capture replays again.
    const again = new Recorder(g, 'again');
    add(again, a, b, out);
    expect(again.replay(c)).toBe(true);
    again.submit();
    await g.flush();
    expect(Array.from(await readF32(g, out))).toEqual(Array.from(expected(av, bv, adds)));
  });

  it('cannot capture timed passes, and an aborted capture leaves plain recording', async () => {
    const timed = new Recorder(g, 'timed', { timeEachDispatch: true });
    expect(() => timed.startCapture()).toThrow(/timed/);
    expect(timed.replay(await capture())).toBe(false);
    const rec = new Recorder(g, 'abort');
    rec.startCapture();
    expect(() => rec.startCapture()).toThrow(/already/);
    rec.abortCapture();
    expect(() => rec.finishCapture()).toThrow(/without startCapture/);
    add(rec, a, b, out);
    rec.submit();
    await g.flush();
    const got = await readF32(g, out);
    for (let j = 0; j < N; j++) expect(got[j]).toBe(roundF16(av[j] + bv[j]));
  });

  it('StepCache: replays a key seen before, records (and captures) otherwise, keeps the most recent keys', async () => {
    const cache = new StepCache<string>(2);
    const step = async (key: string | null) => {
      const rec = new Recorder(g, 'cached');
      let recorded = false;
      const value = await cache.record(rec, key, async () => {
        recorded = true;
        recordStep(rec, a, b, out, 40);
        return `made under ${key}`;
      });
      rec.submit();
      await g.flush();
      return { value, recorded };
    };
    expect(await step('x')).toEqual({ value: 'made under x', recorded: true });
    expect(await step('x')).toEqual({ value: 'made under x', recorded: false });
    expect(await step(null)).toEqual({ value: 'made under null', recorded: true });
    await step('y');
    await step('x'); // x is now the most recent, y the oldest
    await step('z'); // evicts y
    expect(cache.size).toBe(2);
    expect((await step('x')).recorded).toBe(false);
    expect((await step('y')).recorded).toBe(true);
    expect([cache.hits, cache.misses]).toEqual([3, 4]);
    // A failing recording stores nothing and leaves the recorder out of capture.
    const rec = new Recorder(g, 'failing');
    await expect(cache.record(rec, 'w', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(() => rec.finishCapture()).toThrow(/without startCapture/);
    expect(cache.get('w')).toBeUndefined();
  });
});
