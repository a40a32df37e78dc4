import { describe, expect, it } from 'vitest';
import { binding } from '../../src/gpu/tensor.js';
import { noGpuReason, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

describe.skipIf(!gpu)(`Gpu lookups on the recording path ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  it('memo makes a value once per key, keeps null, and stores nothing when make throws', () => {
    const g = gpu!;
    let made = 0;
    const make = (v: string) => () => {
      made++;
      return { v };
    };
    const a = g.memo('test memo a', make('a'));
    expect(g.memo('test memo a', make('other'))).toBe(a);
    expect(a.v).toBe('a');
    const b = g.memo('test memo b', make('b'));
    expect(b).not.toBe(a);
    expect(b.v).toBe('b');
    expect(made).toBe(2);
    let nulls = 0;
    for (let i = 0; i < 2; i++) expect(g.memo('test memo null', () => (nulls++, null))).toBeNull();
    expect(nulls).toBe(1);
    let throws = 0;
    const boom = () => {
      throws++;
      throw new Error('boom');
    };
    expect(() => g.memo('test memo throws', boom)).toThrow('boom');
    expect(() => g.memo('test memo throws', boom)).toThrow('boom');
    expect(throws).toBe(2);
    expect(g.memo('test memo throws', () => 7)).toBe(7);
  });

  it('pipeline returns the same pipeline for the same shader, defines, constants and entry point, another otherwise', async () => {
    const g = gpu!;
    const p = g.pipeline('rms_norm', { defines: ['VEC8', 'IN_PLACE'], constants: { WG: 64, CACHE: 8 } });
    expect(g.pipeline('rms_norm', { defines: ['VEC8', 'IN_PLACE'], constants: { WG: 64, CACHE: 8 } })).toBe(p);
    expect(g.pipeline('rms_norm', { defines: ['VEC8', 'IN_PLACE'], constants: { WG: 64, CACHE: 8 }, entryPoint: 'main' })).toBe(p);
    // Another spelling of the same set of defines: the canonical cache's pipeline.
    expect(g.pipeline('rms_norm', { defines: ['IN_PLACE', 'VEC8'], constants: { WG: 64, CACHE: 8 } })).toBe(p);
    const others = [
      g.pipeline('rms_norm', { defines: ['VEC8'], constants: { WG: 64, CACHE: 8 } }),
      g.pipeline('rms_norm', { defines: ['VEC8', 'IN_PLACE', 'FUSED_ADD'], constants: { WG: 64, CACHE: 8 } }),
      g.pipeline('rms_norm', { defines: ['VEC8', 'IN_PLACE'], constants: { WG: 128, CACHE: 8 } }),
      g.pipeline('rms_norm', { defines: ['VEC8', 'IN_PLACE'], constants: { WG: 64, CACHE: 16 } }),
      g.pipeline('rms_norm', { defines: ['VEC8', 'IN_PLACE'], constants: { WG: 64 } }),
      g.pipeline('add', { constants: { WG: 64 } }),
    ];
    expect(new Set([p, ...others]).size).toBe(others.length + 1);
    // Asked again, each comes back as it was.
    expect(g.pipeline('rms_norm', { defines: ['VEC8', 'IN_PLACE'], constants: { WG: 128, CACHE: 8 } })).toBe(others[2]);
    expect(g.pipeline('rms_norm', { defines: ['VEC8', 'IN_PLACE'], constants: { WG: 64 } })).toBe(others[4]);
    expect(g.pipeline('add', { constants: { WG: 64 } })).toBe(others[5]);
    await g.flush(); // every pipeline compiled without error
  });

  it('bind groups: a hit exactly where pipeline, buffers, offsets and sizes all match', async () => {
    const g = gpu!;
    const p = g.pipeline('add', { constants: { WG: 64 } });
    const q = g.pipeline('add', { constants: { WG: 128 } });
    const [a, b, c, d] = [0, 1, 2, 3].map(() => g.tensor([512], 'f16'));
    const u = g.device.createBuffer({ size: 1024, usage: 0x40 | 0x08 });
    const res = (t: typeof a, uOffset = 0, size?: number) => [binding(a), binding(b), { ...binding(t), ...(size === undefined ? {} : { size }) }, { buffer: u, offset: uOffset, size: 16 }];
    const hits = g.bindGroups.hits;
    const misses = g.bindGroups.misses;
    const first = g.bindGroups.get(p, res(c));
    expect(g.bindGroups.get(p, res(c))).toBe(first); // equal resources in new objects
    const others = [
      g.bindGroups.get(q, res(c)), // another pipeline
      g.bindGroups.get(p, res(d)), // another buffer
      g.bindGroups.get(p, res(c, 256)), // another offset
      g.bindGroups.get(p, res(c, 0, 512)), // another size
      g.bindGroups.get(p, [binding(a), binding(b), binding(c), { buffer: u, size: 16 }]), // offset absent: 0
    ];
    expect(new Set([first, ...others.slice(0, 4)]).size).toBe(5);
    expect(others[4]).toBe(first);
    expect(g.bindGroups.get(p, res(c, 256))).toBe(others[2]);
    expect(g.bindGroups.misses - misses).toBe(5);
    expect(g.bindGroups.hits - hits).toBe(3);
    await g.flush(); // every group was valid
  });
});
