// Collective microbenchmark through tknp's Communicator (sockets or the NCCL addon, both
// host-staged): what a token-parallel step pays to move rows. Run on every rank of a group;
// rank 0 gets the timings. Sizes are per-rank payloads.
import type { Communicator } from '../parallel/communicator.js';
import { percentile } from './timing.js';

export type CommOp = 'broadcast' | 'scatterv' | 'gatherv' | 'allReduce';

export interface CommResult {
  readonly op: CommOp;
  readonly backend: string;
  readonly worldSize: number;
  /** Bytes each rank sends or receives in the operation. */
  readonly bytes: number;
  readonly medianUs: number;
  readonly p90Us: number;
  /** bytes / time: the per-rank algorithm bandwidth. */
  readonly gbps: number;
}

export const DEFAULT_COMM_SIZES = [4 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20];

async function once(comm: Communicator, op: CommOp, payload: Uint8Array): Promise<void> {
  const root = 0;
  switch (op) {
    case 'broadcast':
      await comm.broadcast(comm.rank === root ? payload : null, root);
      return;
    case 'scatterv':
      await comm.scatterv(comm.rank === root ? Array.from({ length: comm.size }, () => payload) : null, root);
      return;
    case 'gatherv':
      await comm.gatherv(payload, root);
      return;
    case 'allReduce':
      await comm.allReduce(payload, 'f16');
      return;
  }
}

/** Times every op at every size (a barrier before each timed call); returns results on every rank. */
export async function runCommBench(comm: Communicator, sizes: readonly number[] = DEFAULT_COMM_SIZES, opts: { iterations?: number; ops?: readonly CommOp[] } = {}): Promise<CommResult[]> {
  const ops = opts.ops ?? (['broadcast', 'scatterv', 'gatherv', 'allReduce'] as const);
  const out: CommResult[] = [];
  for (const op of ops) {
    for (const bytes of sizes) {
      const payload = new Uint8Array(bytes);
      for (let i = 0; i < bytes; i += 4096) payload[i] = (i >> 12) & 0xff;
      const iterations = opts.iterations ?? Math.max(3, Math.min(50, Math.round((256 << 20) / Math.max(bytes, 1 << 16))));
      await once(comm, op, payload); // warm-up (staging buffers grow here)
      const times: number[] = [];
      for (let i = 0; i < iterations; i++) {
        await comm.barrier();
        const t0 = performance.now();
        await once(comm, op, payload);
        times.push((performance.now() - t0) * 1000);
      }
      times.sort((a, b) => a - b);
      const medianUs = percentile(times, 50);
      out.push({ op, backend: comm.backend, worldSize: comm.size, bytes, medianUs, p90Us: percentile(times, 90), gbps: bytes / (medianUs * 1e3) });
    }
  }
  return out;
}

export function formatCommResults(rows: readonly CommResult[]): string {
  const lines = ['op          backend  world        bytes   median µs      p90 µs     GB/s'];
  for (const r of rows) {
    lines.push(`${r.op.padEnd(11)} ${r.backend.padEnd(8)} ${String(r.worldSize).padStart(5)} ${String(r.bytes).padStart(12)} ${r.medianUs.toFixed(1).padStart(11)} ${r.p90Us.toFixed(1).padStart(11)} ${r.gbps.toFixed(2).padStart(8)}`);
  }
  return lines.join('\n');
}
