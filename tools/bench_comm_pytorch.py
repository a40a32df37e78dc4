#!/usr/bin/env python3
"""Device-side NCCL collectives through torch.distributed, to compare with `tknp bench comm`
(whose collectives are host-staged). Launch one process per GPU:

    NCCL_NVLS_ENABLE=0 torchrun --nproc_per_node N tools/bench_comm_pytorch.py --out comm_torch.json

Times broadcast, scatter, gather and all_reduce (f16) for the same per-rank payload sizes
(4 KiB .. 64 MiB) with CUDA events, median over iterations, and writes JSON on rank 0.
"""
import argparse
import json
import os
import statistics

import torch
import torch.distributed as dist

SIZES = [4 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20]


def timed(fn, iters):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        dist.barrier()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="comm_torch.json")
    ap.add_argument("--iterations", type=int, default=20)
    a = ap.parse_args()
    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    rows = []
    for nbytes in SIZES:
        n = nbytes // 2
        x = torch.ones(n, dtype=torch.float16, device="cuda")
        parts = [torch.ones(n, dtype=torch.float16, device="cuda") for _ in range(world)]
        ops = {
            "broadcast": lambda: dist.broadcast(x, 0),
            "scatterv": lambda: dist.scatter(x, parts if rank == 0 else None, src=0),
            "gatherv": lambda: dist.gather(x, parts if rank == 0 else None, dst=0),
            "allReduce": lambda: dist.all_reduce(x),
        }
        for op, fn in ops.items():
            us = timed(fn, a.iterations)
            rows.append({"op": op, "backend": "torch-nccl", "worldSize": world, "bytes": nbytes, "medianUs": us, "gbps": nbytes / (us * 1e3)})
            if rank == 0:
                print(f"{op:11s} {nbytes:12d} {us:10.1f} us {nbytes / (us * 1e3):8.2f} GB/s", flush=True)
    if rank == 0:
        json.dump({"source": f"torch {torch.__version__} NCCL {torch.cuda.nccl.version()}", "results": rows}, open(a.out, "w"), indent=1)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
