"""The torch side of tools/bench_decode_pytorch.py: the dummy-weight Llama, one decode case
captured in a CUDA graph and timed by CUDA events, the eager prefill, and the copy bandwidth.
Every GPU call that can fail goes through gpu(), which names what failed."""
import time

import torch
from torch.nn import functional as F

from decode_peer_plan import (PeerError, fit_batch, inv_freq, kv_bytes, stats, step_activation_bytes,
                              warm_until_stable)

GiB = 1 << 30
# Where the model lives. A CPU smoke test may point these at "cpu" and float32 (shapes only).
DEVICE = "cuda"
DTYPE = torch.float16


def log(msg):
    print(msg, flush=True)


def gpu(what, fn, *args, **kwargs):
    """Runs one GPU operation; a CUDA failure becomes a PeerError naming `what` (OOM passes through)."""
    try:
        return fn(*args, **kwargs)
    except torch.OutOfMemoryError:
        raise
    except (RuntimeError, AssertionError) as e:
        raise PeerError(f"{what}: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else e!r}") from e


class DummyLlama:
    """The preset's weights, seeded random f16 on the GPU (std 1/sqrt(fan-in); norms 1)."""

    def __init__(self, d, cfg, seed):
        self.d = d
        g = torch.Generator(device=DEVICE).manual_seed(seed)
        h, qd, kvd, i = d["hidden"], d["heads"] * d["head_dim"], d["kv_heads"] * d["head_dim"], d["intermediate"]

        def w(*shape, std=None):
            x = torch.empty(*shape, device=DEVICE, dtype=DTYPE)
            return x.normal_(0.0, std if std is not None else shape[-1] ** -0.5, generator=g)

        ones = lambda n: torch.ones(n, device=DEVICE, dtype=DTYPE)  # noqa: E731
        self.embed = w(d["vocab"], h, std=1.0)
        self.layers = [{
            "in_norm": ones(h), "qkv": w(qd + 2 * kvd, h), "qkv_bias": w(qd + 2 * kvd, std=0.02) if d["qkv_bias"] else None,
            "o": w(h, qd), "post_norm": ones(h), "gate_up": w(2 * i, h), "down": w(h, i),
        } for _ in range(d["layers"])]
        self.norm = ones(h)
        self.lm_head = self.embed if d["tie"] else w(d["vocab"], h)
        self.inv_freq = torch.tensor(inv_freq(cfg, d["head_dim"]), device=DEVICE, dtype=torch.float32)

    def rotate(self, x, cos, sin):
        # x: [tokens, heads, headDim]; cos, sin: [tokens, 1, headDim / 2] (neox: halves, not pairs)
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)

    def cos_sin(self, positions):
        # positions: [tokens] int64 -> cos, sin: [tokens, 1, headDim / 2] f16
        f = positions.to(torch.float32)[:, None] * self.inv_freq[None, :]
        return f.cos().to(DTYPE)[:, None, :], f.sin().to(DTYPE)[:, None, :]

    def layer_qkv(self, lw, x, cos, sin):
        # x: [tokens, hidden] -> q: [tokens, heads, headDim], k, v: [tokens, kvHeads, headDim]
        d = self.d
        h = F.rms_norm(x, (d["hidden"],), lw["in_norm"], d["eps"])
        qkv = F.linear(h, lw["qkv"], lw["qkv_bias"])
        qd, kvd = d["heads"] * d["head_dim"], d["kv_heads"] * d["head_dim"]
        q = qkv[:, :qd].view(-1, d["heads"], d["head_dim"])
        k = qkv[:, qd:qd + kvd].view(-1, d["kv_heads"], d["head_dim"])
        v = qkv[:, qd + kvd:].view(-1, d["kv_heads"], d["head_dim"])
        return self.rotate(q, cos, sin), self.rotate(k, cos, sin), v

    def layer_rest(self, lw, x, attn):
        # x: [tokens, hidden]; attn: [tokens, heads * headDim] -> [tokens, hidden]
        i = self.d["intermediate"]
        x = x + F.linear(attn, lw["o"])
        h = F.rms_norm(x, (self.d["hidden"],), lw["post_norm"], self.d["eps"])
        gu = F.linear(h, lw["gate_up"])
        return x + F.linear(F.silu(gu[:, :i]) * gu[:, i:], lw["down"])

    def logits_argmax(self, x):
        # x: [rows, hidden] -> token ids [rows]
        h = F.rms_norm(x, (self.d["hidden"],), self.norm, self.d["eps"])
        return torch.argmax(F.linear(h, self.lm_head), dim=-1)


class DecodeCase:
    """Static buffers of one (batch, context) case and the step the graph captures."""

    def __init__(self, m, batch, context, seed):
        d, self.m, self.batch, self.context = m.d, m, batch, context
        g = torch.Generator(device=DEVICE).manual_seed(seed)
        self.tokens = torch.randint(0, d["vocab"], (batch,), device=DEVICE, generator=g)
        self.positions = torch.full((batch,), context, device=DEVICE, dtype=torch.int64)
        slots = context + 1
        shape = (batch, d["kv_heads"], slots, d["head_dim"])
        self.k = [torch.empty(shape, device=DEVICE, dtype=DTYPE).normal_(generator=g) for _ in range(d["layers"])]
        self.v = [torch.empty(shape, device=DEVICE, dtype=DTYPE).normal_(generator=g) for _ in range(d["layers"])]

    def step(self):
        m, d, B = self.m, self.m.d, self.batch
        x = F.embedding(self.tokens, m.embed)
        cos, sin = m.cos_sin(self.positions)
        for lw, kc, vc in zip(m.layers, self.k, self.v):
            q, k, v = m.layer_qkv(lw, x, cos, sin)
            kc[:, :, self.context].copy_(k)
            vc[:, :, self.context].copy_(v)
            # The GQA group as query rows: q [B, kvHeads, group, headDim] against its kv head's cache.
            o = F.scaled_dot_product_attention(q.view(B, d["kv_heads"], d["group"], d["head_dim"]), kc, vc)
            x = m.layer_rest(lw, x, o.reshape(B, d["heads"] * d["head_dim"]))
        self.tokens.copy_(m.logits_argmax(x))


def time_replays(replay, replays, step_hint_ms):
    """Warm up until two timed batches agree within 3%, then `replays` back-to-back replays, each between CUDA events."""
    per_batch = max(2, min(50, int(30.0 / max(step_hint_ms, 0.05))))

    def timed_batch():
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(per_batch):
            replay()
        b.record()
        gpu("synchronize after a warm-up batch", b.synchronize)
        return a.elapsed_time(b) / per_batch

    warm, _, stable = warm_until_stable(timed_batch)
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(replays + 1)]
    ev[0].record()
    for i in range(replays):
        replay()
        ev[i + 1].record()
    gpu("synchronize after the timed replays", ev[-1].synchronize)
    return [ev[i].elapsed_time(ev[i + 1]) for i in range(replays)], warm, stable


def run_decode_case(m, batch, context, args):
    d = m.d
    free, _total = gpu("cudaMemGetInfo", torch.cuda.mem_get_info)
    ran = fit_batch(d, batch, context + 1, free)
    base = {"batch": batch, "context": context, "fit": ran == batch, "maxBatchThatFits": ran}
    if ran == 0:
        return {**base, "ranBatch": 0, "skipped": f"not one sequence fits: {free / GiB:.1f} GiB free, a sequence needs {(kv_bytes(d, 1, context + 1) + step_activation_bytes(d, 1)) / GiB:.2f} GiB"}
    if ran < batch:
        log(f"  batch {batch} x {context} needs {kv_bytes(d, batch, context + 1) / GiB:.1f} GiB of KV, {free / GiB:.1f} GiB free: running the largest batch that fits, {ran}")
    c = graph = None
    try:
        c = gpu(f"allocate the KV cache of batch {ran} x context {context}", DecodeCase, m, ran, context, args.seed + batch * 7919 + context)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the graph (cuBLAS handles, SDPA kernel choice)
            for _ in range(2):
                gpu(f"eager decode step (batch {ran}, context {context})", c.step)
        torch.cuda.current_stream().wait_stream(side)
        gpu("synchronize after the eager steps", torch.cuda.synchronize)
        t0 = time.perf_counter()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            c.step()
        gpu("synchronize after the graph capture", torch.cuda.synchronize)
        capture_s = time.perf_counter() - t0
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); graph.replay(); b.record()  # noqa: E702
        gpu("first graph replay", b.synchronize)
        times, warm, stable = time_replays(graph.replay, args.replays, a.elapsed_time(b))
        st = stats(times)
        return {**base, "ranBatch": ran, "stepMs": st, "tokensPerSecond": ran / (st["median"] / 1e3), "replays": len(times),
                "warmupBatches": warm, "clockStable": stable, "captureSeconds": capture_s, "kvBytes": kv_bytes(d, ran, context + 1)}
    except torch.OutOfMemoryError as e:
        return {**base, "ranBatch": 0, "skipped": f"out of memory at batch {ran} x context {context}: {str(e).splitlines()[0]}"}
    finally:
        del graph, c
        torch.cuda.empty_cache()


def run_prefill(m, tokens, args):
    """Time to first token of one `tokens`-long prompt: one eager forward (cuBLAS linears, SDPA flash, causal), KV written to a dense cache, lm_head on the last row, the token read back."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    d = m.d
    g = torch.Generator(device=DEVICE).manual_seed(args.seed + 1)
    ids = torch.randint(0, d["vocab"], (tokens,), device=DEVICE, generator=g)
    positions = torch.arange(tokens, device=DEVICE)
    shape = (1, d["kv_heads"], tokens + 1, d["head_dim"])
    cache = [tuple(torch.empty(shape, device=DEVICE, dtype=DTYPE) for _ in "kv") for _ in range(d["layers"])]
    impl = {"gqa": "enable_gqa"}

    def attend(q, k, v):
        # q: [1, heads, T, D]; k, v: [1, kvHeads, T, D]
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            if impl["gqa"] == "enable_gqa":
                try:
                    return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=d["group"] > 1)
                except RuntimeError as e:
                    impl["gqa"] = "expanded k/v"
                    impl["why"] = str(e).splitlines()[0][:200]
            return F.scaled_dot_product_attention(q, k.repeat_interleave(d["group"], 1), v.repeat_interleave(d["group"], 1), is_causal=True)

    def forward():
        x = F.embedding(ids, m.embed)
        cos, sin = m.cos_sin(positions)
        for lw, (kc, vc) in zip(m.layers, cache):
            q, k, v = m.layer_qkv(lw, x, cos, sin)
            kt, vt = k.transpose(0, 1)[None], v.transpose(0, 1)[None]
            kc[:, :, :tokens].copy_(kt)
            vc[:, :, :tokens].copy_(vt)
            o = attend(q.transpose(0, 1)[None], kt, vt)
            x = m.layer_rest(lw, x, o[0].transpose(0, 1).reshape(tokens, d["heads"] * d["head_dim"]))
        return int(m.logits_argmax(x[-1:])[0].item())

    try:
        runs = []
        for r in range(2 + args.prefill_runs):
            gpu("synchronize before a prefill", torch.cuda.synchronize)
            t0 = time.perf_counter()
            gpu(f"eager prefill of {tokens} tokens", forward)
            if r >= 2:
                runs.append((time.perf_counter() - t0) * 1e3)
        st = stats(runs)
        return {"tokens": tokens, "ttftMs": st["median"], "runsMs": runs, "tokensPerSecond": tokens / (st["median"] / 1e3),
                "impl": f"eager PyTorch: cuBLAS F.linear, SDPA flash causal ({impl['gqa']}), no graph", **({"note": impl["why"]} if "why" in impl else {})}
    except torch.OutOfMemoryError as e:
        return {"tokens": tokens, "skipped": f"out of memory: {str(e).splitlines()[0]}"}
    finally:
        del cache
        torch.cuda.empty_cache()


def measure_copy_gbps():
    """Device copy bandwidth (bytes read + written per second) of a 1 GiB tensor copy, warmed up."""
    src = torch.empty(GiB // 2, device=DEVICE, dtype=DTYPE)
    dst = torch.empty_like(src)
    try:
        times, _, _ = time_replays(lambda: dst.copy_(src), 20, 1.0)
        return 2 * GiB / (stats(times)["median"] / 1e3) / 1e9
    finally:
        del src, dst
        torch.cuda.empty_cache()


