"""PyTorch side of bench/probes/linear_tiles.ts: torch.matmul (cuBLAS, f16, f32 accumulation) over the
same shapes and M, timed sustained like the probe (R calls back to back between two CUDA events, median of 3
after a warm loop; weights under 400 MB rotate among copies so they stream from memory, not the L2).
Usage: python3 bench/probes/linear_tiles_torch.py [shape-regex] [M,M,...] > table   (JSON lines to $LINEAR_TILES_TORCH_JSON)
"""
import json
import os
import re
import sys
import time

import torch

SHAPES = [
    ("llama3 qkv", 4096, 6144, False), ("llama3 o", 4096, 4096, False), ("llama3 gate_up", 4096, 28672, False),
    ("llama3 down", 14336, 4096, False), ("llama3 lm_head", 4096, 128256, False),
    ("qwen2.5 qkv", 3584, 4608, True), ("qwen2.5 o", 3584, 3584, False), ("qwen2.5 gate_up", 3584, 37888, False),
    ("qwen2.5 down", 18944, 3584, False), ("qwen2.5 lm_head", 3584, 152064, False),
]
pick = re.compile(sys.argv[1] if len(sys.argv) > 1 else ".")
MS = [int(m) for m in (sys.argv[2] if len(sys.argv) > 2 else "1,2,4,8,16,24,32,48,64,80,96,112,128,160,192,256,384,512").split(",")]
json_path = os.environ.get("LINEAR_TILES_TORCH_JSON")
dev = torch.device("cuda")
print(f"device: {torch.cuda.get_device_name()} torch {torch.__version__}", flush=True)


def sustained(fn, reps):
    ts = []
    for _ in range(3):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(reps):
            fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b) * 1e6 / reps)  # ns per call
    return sorted(ts)[1]


warmed = False
for name, K, N, has_bias in SHAPES:
    if not pick.search(name):
        continue
    g = torch.Generator(device=dev).manual_seed(K * 31 + N)
    x = torch.rand(max(MS), K, device=dev, generator=g, dtype=torch.float16) * 2 - 1
    copies = min(4, max(1, -(-400_000_000 // (2 * N * K))))
    ws = [((torch.rand(N, K, device=dev, generator=g, dtype=torch.float16) * 2 - 1) * (2 / K**0.5)) for _ in range(copies)]
    bias = (torch.rand(N, device=dev, generator=g, dtype=torch.float16) * 2 - 1) if has_bias else None
    for M in MS:
        xm = x[:M]
        it = [0]

        def run():
            w = ws[it[0] % copies]
            it[0] += 1
            return torch.nn.functional.linear(xm, w, bias)

        if not warmed:
            t0 = time.time()
            while time.time() - t0 < 1.5:
                for _ in range(20):
                    run()
                torch.cuda.synchronize()
            warmed = True
        for _ in range(20):
            run()
        torch.cuda.synchronize()
        one = sustained(run, 3)
        reps = max(3, min(200, round(2e6 / one)))
        ns = sustained(run, reps)
        line = {"shape": name, "M": M, "K": K, "N": N, "torch_us": ns / 1e3, "gbps": 2 * N * K / ns}
        print(f"{name:16s} M{M:<4d} torch {ns / 1e3:.1f}us {2 * N * K / ns:.0f}GB/s", flush=True)
        if json_path:
            with open(json_path, "a") as f:
                f.write(json.dumps(line) + "\n")
    del x, ws, bias
    torch.cuda.empty_cache()
