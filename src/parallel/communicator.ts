// Communicator: the collectives tknp's parallel layers need, over a group of ranks. Payloads
// are bytes (GPU tensors are staged through host memory by the caller). Two implementations:
// sockets (any machine, CPU-only CI) and NCCL (NVIDIA GPUs, native-nccl/ addon).
// Every operation fails with a named error after the communicator's timeout, or at once
// when a peer is lost, so no rank ever waits forever.

export class CommTimeoutError extends Error {
  override readonly name = 'CommTimeoutError';
}

/** A peer rank's process died or its connection closed. */
export class PeerLostError extends Error {
  override readonly name = 'PeerLostError';
}

/** The communicator was aborted (by `abort()` here or on a peer). */
export class CommAbortedError extends Error {
  override readonly name = 'CommAbortedError';
}

export type ReduceDType = 'f32' | 'f16';

export interface Communicator {
  /** This process's rank within the group. */
  readonly rank: number;
  readonly size: number;
  /** 'socket' | 'nccl'. */
  readonly backend: string;

  /** Root's `data` to every rank (others pass null and receive it). */
  broadcast(data: Uint8Array | null, root: number): Promise<Uint8Array>;
  /** Root sends chunks[r] to rank r (variable sizes); every rank gets its chunk. */
  scatterv(chunks: readonly Uint8Array[] | null, root: number): Promise<Uint8Array>;
  /** Every rank sends `chunk` (variable sizes); root gets all chunks in rank order, others null. */
  gatherv(chunk: Uint8Array, root: number): Promise<Uint8Array[] | null>;
  /** Elementwise sum over ranks, summed in rank order in f32 (deterministic), result on every rank. */
  allReduce(data: Uint8Array, dtype: ReduceDType): Promise<Uint8Array>;
  /** Every rank's chunk, in rank order, on every rank. */
  allGather(chunk: Uint8Array): Promise<Uint8Array[]>;
  barrier(): Promise<void>;
  /** Fails every pending and future operation (and tells peers, where the backend can). */
  abort(reason: string): void;
  close(): Promise<void>;
}

/** Sums `parts` (each `dtype` elements as bytes) in order, in f32. */
export function sumInOrder(parts: readonly Uint8Array[], dtype: ReduceDType, f16ToF32: (h: number) => number, f32ToF16: (x: number) => number): Uint8Array {
  const n = parts[0].byteLength / (dtype === 'f32' ? 4 : 2);
  const acc = new Float32Array(n);
  for (const p of parts) {
    const copy = p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength); // aligned copy
    if (dtype === 'f32') {
      const v = new Float32Array(copy);
      for (let i = 0; i < n; i++) acc[i] += v[i];
    } else {
      const v = new Uint16Array(copy);
      for (let i = 0; i < n; i++) acc[i] += f16ToF32(v[i]);
    }
  }
  if (dtype === 'f32') return new Uint8Array(acc.buffer);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = f32ToF16(acc[i]);
  return new Uint8Array(out.buffer);
}
