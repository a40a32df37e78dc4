// Bind groups cached by pipeline and resources. Creating a bind group is the largest CPU cost
// of a dispatch (~10 µs in Dawn, against ~2 µs to set and dispatch), and an engine step repeats
// the same dispatches with the same buffers, offsets and sizes every step (activation buffers
// are persistent; the uniform arena reuses the same pooled buffer and slot sequence), so the
// cache turns almost every bind group of a steady decode into a lookup.

const MAX_PER_PIPELINE = 4096;

export class BindGroupCache {
  private readonly ids = new WeakMap<GPUBuffer, number>();
  private nextId = 1;
  private readonly groups = new WeakMap<GPUComputePipeline, { layout: GPUBindGroupLayout; byKey: Map<string, GPUBindGroup> }>();
  hits = 0;
  misses = 0;

  constructor(private readonly device: GPUDevice) {}

  private id(b: GPUBuffer): number {
    let id = this.ids.get(b);
    if (id === undefined) this.ids.set(b, (id = this.nextId++));
    return id;
  }

  /** The bind group of `pipeline` with `resources` at bindings 0..n-1. */
  get(pipeline: GPUComputePipeline, resources: readonly GPUBufferBinding[]): GPUBindGroup {
    let entry = this.groups.get(pipeline);
    if (!entry) this.groups.set(pipeline, (entry = { layout: pipeline.getBindGroupLayout(0), byKey: new Map() }));
    let key = '';
    for (const r of resources) key += `${this.id(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1};`;
    let group = entry.byKey.get(key);
    if (group) {
      this.hits++;
      return group;
    }
    this.misses++;
    if (entry.byKey.size >= MAX_PER_PIPELINE) entry.byKey.clear();
    group = this.device.createBindGroup({ layout: entry.layout, entries: resources.map((resource, binding) => ({ binding, resource })) });
    entry.byKey.set(key, group);
    return group;
  }
}
