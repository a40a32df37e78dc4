// Measures the device's peak copy bandwidth and f32/f16 arithmetic throughput at start-up, on
// the same device the kernels run on, so every result can be put as a % of what is reachable.
import type { Gpu } from '../gpu/gpu.js';
import { f32 } from '../gpu/recorder.js';
import type { Sweep } from './types.js';
import { timeGpu } from './timing.js';

export interface DevicePeaks {
  /** Bytes read + written per second by a WGSL copy kernel, GB/s. */
  readonly copyGBps: number;
  readonly f32TFlops: number;
  readonly f16TFlops: number;
}

export async function measurePeaks(gpu: Gpu, sweep: Sweep): Promise<DevicePeaks> {
  const bytes = sweep === 'small' ? 16 << 20 : Math.min(1 << 30, Number(gpu.limits.maxStorageBufferBindingSize) & ~15);
  const n4 = bytes / 16;
  const src = gpu.tensor([n4 * 4], 'u32', 'peak-src');
  const dst = gpu.tensor([n4 * 4], 'u32', 'peak-dst');
  const copy = gpu.pipeline('bench_copy');
  const workgroups = sweep === 'small' ? 256 : 132 * 64;
  const tc = await timeGpu(gpu, (rec) => rec.dispatch(copy, [src, dst], [n4], [workgroups]), { targetMs: 100 });
  src.buffer.destroy();
  dst.buffer.destroy();

  // At most 65535 workgroups in one dimension.
  const threads = (sweep === 'small' ? 64 : 65535) * 256;
  const iters = sweep === 'small' ? 256 : 4096;
  const out = gpu.tensor([threads], 'f32', 'peak-out');
  const flopsOf = async (defines: string[], flopsPerIter: number) => {
    const p = gpu.pipeline('bench_fma', { defines });
    const t = await timeGpu(gpu, (rec) => rec.dispatch(p, [out], [iters, f32(1)], [threads / 256]), { targetMs: 100, maxIterations: 20 });
    return (threads * iters * flopsPerIter) / t.medianNs / 1e3;
  };
  const f32TFlops = await flopsOf([], 8 * 2);
  const f16TFlops = await flopsOf(['F16'], 8 * 2 * 4);
  out.buffer.destroy();
  return { copyGBps: (2 * bytes) / tc.medianNs, f32TFlops, f16TFlops };
}
