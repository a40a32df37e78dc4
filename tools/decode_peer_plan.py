"""Pure planning for tools/bench_decode_pytorch.py (no torch: testable anywhere).

Reads the case file `tknp bench decode --list-cases FILE` writes (the preset's config.json and
the (batch, context) cases, so the peer's shapes never drift from tknp's), derives the model's
dimensions, sizes the dense KV cache and the step's activations, picks the largest batch that
fits the free GPU memory, computes Llama 3 rotary frequencies, and holds the timing logic
(warm up until two timed batches agree, then the statistics of the timed replays).
"""
import json
import math


class PeerError(Exception):
    """Bad input or a failed GPU call, with a message naming what and where."""


def _int(obj, key, where, minimum=1):
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise PeerError(f"{where}: '{key}' must be an integer >= {minimum}, got {v!r}")
    return v


def load_cases(path):
    """The case file as a dict: preset, config (config.json), cases [{batch, context}], steps, warmupSteps, ttft."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise PeerError(f"cannot read the case file {path}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise PeerError(f"{path} is not JSON: {e}") from e
    return check_cases(doc, path)


def check_cases(doc, where):
    if not isinstance(doc, dict):
        raise PeerError(f"{where}: expected an object with 'config' and 'cases', got {type(doc).__name__}")
    if not isinstance(doc.get("config"), dict):
        raise PeerError(f"{where}: 'config' (the model's config.json) is missing or not an object")
    cases = doc.get("cases")
    if not isinstance(cases, list) or not cases:
        raise PeerError(f"{where}: 'cases' must be a non-empty list of {{batch, context}}")
    seen = set()
    for i, c in enumerate(cases):
        if not isinstance(c, dict):
            raise PeerError(f"{where}: cases[{i}] is not an object")
        key = (_int(c, "batch", f"{where} cases[{i}]"), _int(c, "context", f"{where} cases[{i}]"))
        if key in seen:
            raise PeerError(f"{where}: cases[{i}] (batch {key[0]}, context {key[1]}) is listed twice")
        seen.add(key)
    if doc.get("ttft") is not None:
        _int(doc, "ttft", where)
    model_dims(doc["config"], f"{where} config")  # fails early on a config the peer cannot build
    return doc


def model_dims(cfg, where="config"):
    """The dimensions of a Llama-family config.json (as src/loader/model_config.ts reads them)."""
    hidden = _int(cfg, "hidden_size", where)
    heads = _int(cfg, "num_attention_heads", where)
    kv_heads = _int(cfg, "num_key_value_heads", where) if "num_key_value_heads" in cfg else heads
    head_dim = _int(cfg, "head_dim", where) if cfg.get("head_dim") is not None else hidden // heads
    if heads % kv_heads:
        raise PeerError(f"{where}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}")
    if head_dim % 2:
        raise PeerError(f"{where}: head_dim {head_dim} must be even (rotary)")
    arch = (cfg.get("architectures") or [""])[0]
    model_type = cfg.get("model_type", "")
    qwen2 = model_type == "qwen2" or arch.startswith("Qwen2")
    return {
        "hidden": hidden,
        "layers": _int(cfg, "num_hidden_layers", where),
        "heads": heads,
        "kv_heads": kv_heads,
        "group": heads // kv_heads,
        "head_dim": head_dim,
        "intermediate": _int(cfg, "intermediate_size", where),
        "vocab": _int(cfg, "vocab_size", where),
        "eps": float(cfg.get("rms_norm_eps", 1e-5)),
        "tie": cfg.get("tie_word_embeddings") is True,
        "qkv_bias": qwen2 or cfg.get("attention_bias") is True,
        "max_positions": int(cfg.get("max_position_embeddings", 1 << 30)),
    }


def rope_params(cfg):
    """(theta, scaling dict or None) from rope_parameters (transformers 5) or rope_theta + rope_scaling."""
    rp = cfg.get("rope_parameters")
    if isinstance(rp, dict):
        scaling = rp if rp.get("rope_type", "default") != "default" else None
        return float(rp.get("rope_theta", cfg.get("rope_theta", 10000.0))), scaling
    rs = cfg.get("rope_scaling")
    rs = rs if isinstance(rs, dict) and rs.get("rope_type", rs.get("type", "default")) != "default" else None
    return float(cfg.get("rope_theta", 10000.0)), rs


def inv_freq(cfg, head_dim):
    """Rotary inverse frequencies (python floats), with Llama 3's scaling where the config asks for it."""
    theta, scaling = rope_params(cfg)
    base = [1.0 / theta ** (2 * i / head_dim) for i in range(head_dim // 2)]
    if scaling is None:
        return base
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind != "llama3":
        raise PeerError(f"rope type {kind!r} is not supported by the peer (default and llama3 are)")
    factor = float(scaling["factor"])
    low, high = float(scaling.get("low_freq_factor", 1.0)), float(scaling.get("high_freq_factor", 4.0))
    old = float(scaling.get("original_max_position_embeddings", 8192))
    low_wavelen, high_wavelen = old / low, old / high
    out = []
    for f in base:
        wavelen = 2 * math.pi / f
        if wavelen < high_wavelen:
            out.append(f)
        elif wavelen > low_wavelen:
            out.append(f / factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return out


def weight_bytes(d):
    """f16 bytes of every weight the peer allocates (embedding and lm_head once each unless tied)."""
    h, q, kv, i = d["hidden"], d["heads"] * d["head_dim"], d["kv_heads"] * d["head_dim"], d["intermediate"]
    per_layer = h * (q + 2 * kv) + (q + 2 * kv if d["qkv_bias"] else 0) + q * h + 2 * i * h + i * h + 2 * h
    emb = d["vocab"] * h * (1 if d["tie"] else 2)
    return 2 * (d["layers"] * per_layer + emb + h)


def kv_bytes(d, batch, slots):
    """The dense f16 KV cache: layers x {k, v} x [batch, kvHeads, slots, headDim]."""
    return d["layers"] * 2 * batch * d["kv_heads"] * slots * d["head_dim"] * 2


def step_activation_bytes(d, batch):
    """Upper estimate of one decode step's live intermediates (the graph's private pool)."""
    h, i, v = d["hidden"], d["intermediate"], d["vocab"]
    qkv = (d["heads"] + 2 * d["kv_heads"]) * d["head_dim"]
    per_token = 2 * (4 * h + 2 * qkv + 2 * d["heads"] * d["head_dim"] + 2 * i + i) + 6 * v
    return batch * per_token


MARGIN = 2 << 30  # cuBLAS workspaces, the allocator's rounding, the CUDA context's growth


def fit_batch(d, batch, slots, free_bytes, margin=MARGIN):
    """Largest batch <= `batch` whose KV cache and step activations fit `free_bytes` (0: none)."""
    per_seq = kv_bytes(d, 1, slots) + step_activation_bytes(d, 1)
    room = free_bytes - margin
    return int(max(0, min(batch, room // per_seq))) if room > 0 else 0


def stats(ms):
    """median, mean, p10, p90, min, max of a list of times (ms)."""
    s = sorted(ms)
    if not s:
        raise PeerError("no timings to summarise")

    def at(q):
        return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]

    mid = len(s) // 2
    median = s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
    return {"median": median, "mean": sum(s) / len(s), "p10": at(0.1), "p90": at(0.9), "min": s[0], "max": s[-1]}


def warm_until_stable(timed_batch_ms, tolerance=0.03, max_batches=40):
    """Calls timed_batch_ms() (mean ms of one batch of replays) until two successive batches agree
    within `tolerance` (an idle H100 sits at 345 MHz and needs a few hundred ms of load); returns
    (batches run, last value, stable?)."""
    last = None
    for n in range(1, max_batches + 1):
        v = timed_batch_ms()
        if last is not None and abs(v - last) <= tolerance * last:
            return n, v, True
        last = v
    return max_batches, last, False
