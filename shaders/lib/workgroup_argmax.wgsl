// workgroupArgmax: over the workgroup's per-thread (key, idx) pairs, (the max key, the lowest idx
// among the threads holding it); every thread gets the result. Exact (integer max and min), so it
// does not depend on the subgroup size or on the order of the atomics. Needs `enable subgroups`
// and uniform control flow. Before each call wKey must hold 0 and wIdx 0xffffffff, stored by one
// thread and followed by a barrier: the includer resets them. Included by argmax, sample.
var<workgroup> wKey: atomic<u32>;
var<workgroup> wIdx: atomic<u32>;

fn workgroupArgmax(key: u32, idx: u32) -> vec2<u32> {
  let k = subgroupMax(key);
  if (subgroupElect()) { atomicMax(&wKey, k); }
  workgroupBarrier();
  let top = atomicLoad(&wKey);
  let i = subgroupMin(select(0xffffffffu, idx, key == top));
  if (subgroupElect()) { atomicMin(&wIdx, i); }
  workgroupBarrier();
  return vec2<u32>(top, atomicLoad(&wIdx));
}
