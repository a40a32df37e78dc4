#!/usr/bin/env python3
"""PyTorch baselines for `tknp bench kernels`, timed with CUDA events on the same GPU.

Usage (on the GPU host, in the same command as the tknp harness):
    tknp bench kernels --list-cases cases.json [--filter ...]
    python3 tools/bench_pytorch.py --cases cases.json --out baseline.json
    tknp bench kernels --baseline baseline.json --json report.json --html report.html

Cases are matched by (kernel, shape); params name the dimensions (see src/bench/suites/*.ts).
Kernels without a PyTorch counterpart here are skipped and listed. Linear: cuBLAS via F.linear
(with the bias where params.bias), f32 logits via torch.mm(out_dtype=float32) where params.f32Out
(as the engine's lm_head); weights under 256 MB rotate among 4 copies, as tknp's cases do, so
both stream them from memory rather than the 50 MB L2. A ' fast' case (tknp's other mode) has
the same PyTorch call as its default-mode twin: it is timed once and reported for both.
"""
import argparse
import json
import os
import statistics
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decode_peer_plan import warm_until_stable  # noqa: E402


def p(params, *names, default=None):
    for n in names:
        if n in params:
            return int(params[n])
    if default is not None:
        return default
    raise KeyError(f"none of {names} in {params}")


def time_cuda(fn, target_ms=200.0, max_iters=200):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def batch_ms():  # ~2 ms of work per batch, as tknp's timeGpu, until two batches agree within 3%
        start.record(); fn(); end.record(); torch.cuda.synchronize()  # noqa: E702
        n = max(1, min(1000, int(2.0 / max(start.elapsed_time(end), 1e-3))))
        start.record()
        for _ in range(n):
            fn()
        end.record(); torch.cuda.synchronize()  # noqa: E702
        return start.elapsed_time(end) / n
    warm_until_stable(batch_ms)
    start.record(); fn(); end.record(); torch.cuda.synchronize()  # noqa: E702
    first = max(start.elapsed_time(end), 1e-3)
    n = max(5, min(max_iters, int(target_ms / first)))
    # Calls back to back with an event between each two (as tknp's timeGpu times 10 calls per
    # submit, each in its own timed pass): the GPU never waits for the host inside the timed span.
    times = []
    while len(times) < n:
        k = min(10, n - len(times))
        ev = [torch.cuda.Event(enable_timing=True) for _ in range(k + 1)]
        ev[0].record()
        for i in range(k):
            fn()
            ev[i + 1].record()
        torch.cuda.synchronize()
        times.extend(ev[i].elapsed_time(ev[i + 1]) * 1e3 for i in range(k))  # microseconds
    return statistics.median(times)


def make(case):
    k, prm = case["kernel"], case["params"]
    dev, dt = "cuda", torch.float16
    g = torch.Generator(device=dev).manual_seed(0)
    rnd = lambda *s: torch.randn(*s, device=dev, dtype=dt, generator=g)
    if k == "decode_attention":
        b, ctx = p(prm, "batch", "numSeqs"), p(prm, "context", "ctx", "seqLen")
        hq, hk, d = p(prm, "numHeads", "heads", "hq"), p(prm, "numKvHeads", "kvHeads", "hk"), p(prm, "headDim", "d")
        q, kk, vv = rnd(b, hq, 1, d), rnd(b, hk, ctx, d), rnd(b, hk, ctx, d)
        return "F.scaled_dot_product_attention(enable_gqa)", lambda: F.scaled_dot_product_attention(q, kk, vv, enable_gqa=hq != hk)
    if k == "prefill_attention":
        s, L = p(prm, "numSeqs", "batch", default=1), p(prm, "tokens", "seqLen", "queryLen")
        hq, hk, d = p(prm, "numHeads", "heads", "hq"), p(prm, "numKvHeads", "kvHeads", "hk"), p(prm, "headDim", "d")
        q, kk, vv = rnd(s, hq, L, d), rnd(s, hk, L, d), rnd(s, hk, L, d)
        return "F.scaled_dot_product_attention(is_causal)", lambda: F.scaled_dot_product_attention(q, kk, vv, is_causal=True, enable_gqa=hq != hk)
    if k == "linear":
        m, n, kk = p(prm, "M", "tokens"), p(prm, "N"), p(prm, "K")
        x = rnd(m, kk)
        ws = [rnd(n, kk) for _ in range(4 if 2 * n * kk < 256 << 20 else 1)]
        b = rnd(n) if prm.get("bias") else None
        turn = [0]

        def w():
            turn[0] += 1
            return ws[turn[0] % len(ws)]
        if prm.get("f32Out"):
            try:
                torch.mm(x, ws[0].t(), out_dtype=torch.float32)
                return "torch.mm(out_dtype=float32)", lambda: torch.mm(x, w().t(), out_dtype=torch.float32)
            except (TypeError, RuntimeError) as e:
                print(f"torch.mm(out_dtype=float32) unavailable ({str(e).splitlines()[0][:120]}): f16 logits for {case['shape']}", flush=True)
        return "F.linear" + (" +bias" if b is not None else ""), lambda: F.linear(x, w(), b)
    if k == "add":
        n = p(prm, "n")
        a, b = rnd(n), rnd(n)
        return "torch.add", lambda: a + b
    if k == "rms_norm":
        t, h = p(prm, "T", "tokens"), p(prm, "H", "hidden")
        x, w = rnd(t, h), rnd(h)
        return "F.rms_norm", lambda: F.rms_norm(x, (h,), w, 1e-5)
    if k == "fused_add_rms_norm":
        t, h = p(prm, "T", "tokens"), p(prm, "H", "hidden")
        x, r, w = rnd(t, h), rnd(t, h), rnd(h)
        return "x+r; F.rms_norm", lambda: F.rms_norm(x + r, (h,), w, 1e-5)
    if k == "embedding":
        t, v, h = p(prm, "T", "tokens"), p(prm, "V", "vocab"), p(prm, "H", "hidden")
        table = rnd(v, h)
        ids = torch.randint(0, v, (t,), device=dev, generator=g)
        return "F.embedding", lambda: F.embedding(ids, table)
    if k == "silu_and_mul":
        t, i = p(prm, "T", "tokens"), p(prm, "I", "intermediate")
        x = rnd(t, 2 * i)
        return "F.silu(g)*u", lambda: F.silu(x[:, :i]) * x[:, i:]
    if k in ("argmax",):
        s, v = p(prm, "numSeqs", "S", "batch"), p(prm, "V", "vocab")
        x = torch.randn(s, v, device=dev, dtype=torch.float32, generator=g)
        return "torch.argmax", lambda: torch.argmax(x, dim=-1)
    return None, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--target-ms", type=float, default=200.0, help="timed milliseconds per case (at least 5 calls)")
    a = ap.parse_args()
    cases = json.load(open(a.cases))
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}", flush=True)
    results, skipped, timed = [], set(), {}
    source = f"PyTorch {torch.__version__} on {torch.cuda.get_device_name()} (CUDA events, median)"

    def save():  # after every case: a run stopped by a time limit keeps what it timed
        with open(f"{a.out}.tmp", "w") as f:
            json.dump({"source": source, "results": results}, f, indent=1)
        os.replace(f"{a.out}.tmp", a.out)
    for c in cases:
        twin = (c["kernel"], c["shape"][:-len(" fast")] if c["shape"].endswith(" fast") else c["shape"])
        if twin in timed:  # tknp's other mode of the same shape: the same PyTorch call
            results.append({**timed[twin], "shape": c["shape"]})
            save()
            continue
        try:
            impl, fn = make(c)
        except (KeyError, torch.OutOfMemoryError) as e:
            print(f"skip {c['kernel']} {c['shape']}: {e}", flush=True)
            continue
        if fn is None:
            skipped.add(c["kernel"])
            continue
        try:
            us = time_cuda(fn, target_ms=a.target_ms)
        except torch.OutOfMemoryError as e:
            print(f"skip {c['kernel']} {c['shape']}: OOM", flush=True)
            continue
        finally:
            torch.cuda.empty_cache()
        gbps = c["bytes"] / (us * 1e3)
        print(f"{c['kernel']:18s} {c['shape']:34s} {us:9.1f} us {gbps:7.0f} GB/s {c['flops'] / (us * 1e6):8.2f} TFLOP/s", flush=True)
        results.append({"kernel": c["kernel"], "shape": c["shape"], "medianUs": us, "impl": impl})
        timed[twin] = results[-1]
        save()
    if skipped:
        print(f"no PyTorch counterpart for: {', '.join(sorted(skipped))}")
    save()


if __name__ == "__main__":
    sys.exit(main())
