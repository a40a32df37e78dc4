"""The transformers row of tools/bench_decode_pytorch.py ("what most users run"): the preset's
config as a transformers model with random weights made on the GPU, f16, eager attention,
`generate` greedy with a static cache (a dynamic one where static fails; the row says which),
batch 1, one random prompt. Time per generated token = (t(1 + n new tokens) - t(1 new token)) / n,
so the prompt's prefill cancels; t(1 new token) is transformers' own time to first token."""
import time

import torch

from decode_peer_plan import PeerError, stats


def build_model(cfg, seed):
    """An f16 model of this config.json on the GPU, random weights, eager attention."""
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM
    kwargs = {k: v for k, v in cfg.items() if k not in ("model_type", "architectures", "torch_dtype", "dtype")}
    try:
        config = AutoConfig.for_model(cfg.get("model_type", "llama"), **kwargs)
    except (ValueError, KeyError, TypeError) as first:
        # transformers 5 spells rope as rope_parameters {rope_type, rope_theta, ...}: retry in that form.
        rp = {**(kwargs.pop("rope_scaling", None) or {"rope_type": "default"}), "rope_theta": kwargs.pop("rope_theta", 10000.0)}
        try:
            config = AutoConfig.for_model(cfg.get("model_type", "llama"), **kwargs, rope_parameters=rp)
        except (ValueError, KeyError, TypeError) as e:
            raise PeerError(f"transformers {transformers.__version__} cannot make a config of model_type {cfg.get('model_type')!r}: {first}; with rope_parameters: {e}") from e
    torch.manual_seed(seed)
    last = None
    for dtype_key in ("dtype", "torch_dtype"):  # transformers 5 renamed torch_dtype to dtype
        try:
            with torch.device("cuda"):
                model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", **{dtype_key: torch.float16})
            break
        except TypeError as e:
            last = e
    else:
        raise PeerError(f"AutoModelForCausalLM.from_config refused both dtype= and torch_dtype=: {last}")
    model.eval()
    if next(model.parameters()).dtype != torch.float16 or next(model.parameters()).device.type != "cuda":
        model = model.to(device="cuda", dtype=torch.float16)
    return model


def _generate(model, ids, n, cache):
    kwargs = {"max_new_tokens": n, "min_new_tokens": n, "do_sample": False, "pad_token_id": 0}
    if cache == "static":
        # A static cache makes generate compile the forward by itself (minutes): keep it eager.
        kwargs["cache_implementation"] = "static"
        kwargs["disable_compile"] = True
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
    torch.cuda.synchronize()
    got = out.shape[1] - ids.shape[1]
    if got != n:
        raise PeerError(f"generate made {got} tokens, asked for {n}")
    return (time.perf_counter() - t0) * 1e3


def run_generate(cfg, d, context, new_tokens, seed, repeats=2):
    import transformers
    base = {"batch": 1, "context": context, "newTokens": new_tokens, "attention": "eager"}
    model = None
    try:
        model = build_model(cfg, seed)
        g = torch.Generator(device="cuda").manual_seed(seed + 2)
        ids = torch.randint(0, d["vocab"], (1, context), device="cuda", generator=g)
        cache, static_error = "static", None
        try:
            _generate(model, ids, 2, "static")  # warm-up (and the static cache's first allocation)
        except (RuntimeError, ValueError, TypeError, NotImplementedError, PeerError) as e:
            cache, static_error = "dynamic", f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
            _generate(model, ids, 2, "dynamic")
        first, full = [], []
        for _ in range(repeats):
            first.append(_generate(model, ids, 1, cache))
            full.append(_generate(model, ids, 1 + new_tokens, cache))
        t1, tn = stats(first)["median"], stats(full)["median"]
        ms = (tn - t1) / new_tokens
        return {**base, "cache": cache, **({"staticError": static_error} if static_error else {}),
                "impl": f"transformers {transformers.__version__} {type(model).__name__}.generate, f16, eager attention, {cache} cache, greedy, no compile",
                "msPerToken": ms, "tokensPerSecond": 1e3 / ms, "ttftMs": t1, "runsMs": {"oneToken": first, f"{1 + new_tokens}Tokens": full}}
    except torch.OutOfMemoryError as e:
        return {**base, "skipped": f"out of memory: {str(e).splitlines()[0]}"}
    except (RuntimeError, ValueError, TypeError, ImportError, PeerError) as e:
        return {**base, "skipped": f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"}
    finally:
        del model
        torch.cuda.empty_cache()
