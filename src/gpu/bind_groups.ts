// Bind groups cached by pipeline and resources. Creating a bind group is the largest CPU cost
// of a dispatch (~10 µs in Dawn, against ~2 µs to set and dispatch), and an engine step repeats
// the same dispatches with the same buffers, offsets and sizes every step (activation buffers
// are persistent; the uniform arena reuses the same pooled buffer and slot sequence), so the
// cache turns almost every bind group of a steady decode into a lookup.

const MAX_PER_PIPELINE = 4096;

/** One cached group: its resources as (buffer id, offset, size) triples. */
interface Cached {
  readonly key: readonly number[];
  readonly group: GPUBindGroup;
}

interface PipelineGroups {
  readonly layout: GPUBindGroupLayout;
  /** By a hash of the key; a bucket's keys are compared in full, so a hit is an exact match. */
  readonly byHash: Map<number, Cached[]>;
  count: number;
}

export class BindGroupCache {
  private readonly ids = new WeakMap<GPUBuffer, number>();
  private nextId = 1;
  private readonly groups = new WeakMap<GPUComputePipeline, PipelineGroups>();
  /** The key of the current lookup (reused: a hit allocates nothing). */
  private readonly scratch: number[] = [];
  hits = 0;
  misses = 0;

  constructor(private readonly device: GPUDevice) {}

  private id(b: GPUBuffer): number {
    let id = this.ids.get(b);
    if (id === undefined) this.ids.set(b, (id = this.nextId++));
    return id;
  }

  /**
   * The bind group of `pipeline` with `resources` at bindings 0..n-1: a cached one where an earlier
   * call had the same pipeline and, binding by binding, the same buffer, offset (absent = 0) and
   * size (absent = -1).
   */
  get(pipeline: GPUComputePipeline, resources: readonly GPUBufferBinding[]): GPUBindGroup {
    const buffers = resources.map((r) => r.buffer);
    const offsets = resources.map((r) => r.offset ?? 0);
    const sizes = resources.map((r) => r.size ?? -1);
    return this.lookup(pipeline, buffers, offsets, sizes, resources.length);
  }

  /**
   * `get` without binding objects (Recorder.dispatch's path, which allocates nothing on a hit):
   * binding i < n is buffers[i] at offsets[i], sizes[i] bytes (-1: the rest of the buffer).
   */
  lookup(pipeline: GPUComputePipeline, buffers: readonly GPUBuffer[], offsets: readonly number[], sizes: readonly number[], n: number): GPUBindGroup {
    let entry = this.groups.get(pipeline);
    if (!entry) this.groups.set(pipeline, (entry = { layout: pipeline.getBindGroupLayout(0), byHash: new Map(), count: 0 }));
    // Every dispatch looks its group up: numbers and a hash, no key string.
    const key = this.scratch;
    const len = n * 3;
    let h = len;
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      const id = this.id(buffers[i]);
      const offset = offsets[i];
      const size = sizes[i];
      key[j] = id;
      key[j + 1] = offset;
      key[j + 2] = size;
      h = Math.imul(h ^ id, 0x01000193);
      h = Math.imul(h ^ (offset | 0), 0x01000193);
      h = Math.imul(h ^ (size | 0), 0x01000193);
    }
    h &= 0x3fffffff; // a small integer (Smi): Map keys that need no allocation
    let bucket = entry.byHash.get(h);
    if (bucket) {
      for (let b = 0; b < bucket.length; b++) {
        const c = bucket[b];
        if (sameKey(c.key, key, len)) {
          this.hits++;
          return c.group;
        }
      }
    }
    this.misses++;
    if (entry.count >= MAX_PER_PIPELINE) {
      entry.byHash.clear();
      entry.count = 0;
      bucket = undefined;
    }
    const entries: GPUBindGroupEntry[] = [];
    for (let i = 0; i < n; i++) {
      entries.push({ binding: i, resource: sizes[i] < 0 ? { buffer: buffers[i], offset: offsets[i] } : { buffer: buffers[i], offset: offsets[i], size: sizes[i] } });
    }
    const group = this.device.createBindGroup({ layout: entry.layout, entries });
    const cached = { key: key.slice(0, len), group };
    if (bucket) bucket.push(cached);
    else entry.byHash.set(h, [cached]);
    entry.count++;
    return group;
  }
}

function sameKey(a: readonly number[], b: readonly number[], n: number): boolean {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}
