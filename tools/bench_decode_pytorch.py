#!/usr/bin/env python3
"""PyTorch peer of `tknp bench decode`: the same model shapes and (batch, context) cases, run as a
hand-written Llama decode step in f16 captured in one CUDA graph, plus a transformers `generate`
row and an eager prefill time to first token. Dummy (seeded random) weights, like tknp's.

Usage (on the GPU host; tools/gpu_host_run.sh decode-peer runs all of it):
    tknp bench decode --preset llama-3-8b --cases 1x4096,64x4096 --ttft 4096 --list-cases cases.json
    python3 tools/bench_decode_pytorch.py --cases cases.json --out peer.json
    tknp bench decode --preset llama-3-8b --cases 1x4096,64x4096 --ttft 4096 --baseline peer.json ...
    python3 tools/bench_decode_pytorch.py --cases cases.json --dry-run --gpu-memory 80   # plan only, no torch

One decode step (every layer): RMSNorm -> fused q|k|v linear -> rotary (neox) on q, k -> k, v
written into a dense cache [batch, kvHeads, slots, headDim] -> F.scaled_dot_product_attention
with the GQA group as query rows (q as [batch, kvHeads, group, headDim] against its kv head: one
call per layer, no repeat_interleave) -> o_proj -> residual -> RMSNorm -> fused gate|up ->
SiLU * up -> down -> residual; then the final norm, lm_head and greedy argmax, fed back as the
next step's input ids. Every replay is the step of the token at position `context` (its K/V in
slot `context`, attention over context + 1 slots): a CUDA graph has fixed shapes, and tknp's timed
steps read within 1% of those KV bytes.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from decode_peer_plan import PeerError, fit_batch, kv_bytes, load_cases, model_dims, weight_bytes  # noqa: E402

GiB = 1 << 30


def log(msg):
    print(msg, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", required=True, help="case file from `tknp bench decode --list-cases FILE`")
    ap.add_argument("--out", help="JSON report for `tknp bench decode --baseline`")
    ap.add_argument("--replays", type=int, default=32, help="timed graph replays per case (median reported)")
    ap.add_argument("--prefill-runs", type=int, default=5, help="timed eager prefills after 2 warm-up ones")
    ap.add_argument("--generate-tokens", type=int, default=32, help="tokens the transformers generate row times")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip", default="", help="comma-separated parts to leave out: decode, generate, prefill")
    ap.add_argument("--dry-run", action="store_true", help="print the plan (dimensions, bytes, batches that fit --gpu-memory) without torch")
    ap.add_argument("--gpu-memory", type=float, default=80.0, help="GiB assumed free for weights + KV in --dry-run")
    a = ap.parse_args(argv)
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    bad = skip - {"decode", "generate", "prefill"}
    if bad:
        raise PeerError(f"--skip: unknown part(s) {', '.join(sorted(bad))} (decode, generate, prefill)")
    if a.replays < 3 or a.prefill_runs < 1 or a.generate_tokens < 2:
        raise PeerError("--replays must be >= 3, --prefill-runs >= 1, --generate-tokens >= 2")
    doc = load_cases(a.cases)
    cfg, d = doc["config"], model_dims(doc["config"])
    if a.dry_run:
        plan = dry_run_plan(doc, d, a.gpu_memory * GiB)
        print(json.dumps(plan, indent=1))
        if a.out:
            write(a.out, plan)
        return 0
    if not a.out:
        raise PeerError("--out is required (except with --dry-run)")
    return run(a, doc, cfg, d, skip)


def run(a, doc, cfg, d, skip):
    """Every part on the GPU; the report is rewritten after each case (a run cut short keeps its results)."""
    try:
        import torch
    except ImportError as e:
        raise PeerError(f"cannot import torch ({e}): run this on the GPU host's Python") from e
    if not torch.cuda.is_available():
        raise PeerError(f"torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is False)")
    from decode_peer_hf import run_generate
    from decode_peer_model import DummyLlama, gpu, measure_copy_gbps, run_decode_case, run_prefill
    device = torch.cuda.get_device_name()
    prompt = int(doc.get("ttft") or 4096)
    rep = {"source": f"PyTorch {torch.__version__} on {device}: hand-written f16 decode step in one CUDA graph, CUDA events, median",
           "torch": torch.__version__, "device": device, "preset": doc.get("preset"), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "command": " ".join(sys.argv), "dims": d, "weightBytes": weight_bytes(d), "replays": a.replays, "results": [], "errors": []}
    log(f"bench_decode_pytorch: {rep['source']}; preset {doc.get('preset')}: {d['layers']} layers, hidden {d['hidden']}, "
        f"{d['heads']}/{d['kv_heads']} heads, weights {weight_bytes(d) / GiB:.1f} GiB")
    rep["copyGBps"] = gpu("measure the copy bandwidth", measure_copy_gbps)
    log(f"copy bandwidth (1 GiB tensor copy, read + write): {rep['copyGBps']:.0f} GB/s")
    m = None
    if not {"decode", "prefill"} <= skip:
        free, total = gpu("cudaMemGetInfo", torch.cuda.mem_get_info)
        if free < weight_bytes(d) + GiB:
            raise PeerError(f"the weights need {weight_bytes(d) / GiB:.1f} GiB and {free / GiB:.1f} of {total / GiB:.1f} GiB are free")
        t0 = time.perf_counter()
        try:
            m = gpu("create the dummy weights", DummyLlama, d, cfg, a.seed)
        except torch.OutOfMemoryError as e:
            raise PeerError(f"out of memory making the {weight_bytes(d) / GiB:.1f} GiB of dummy weights: {str(e).splitlines()[0]}") from e
        log(f"dummy weights made in {time.perf_counter() - t0:.1f} s")
    for c in [] if "decode" in skip else doc["cases"]:
        try:
            r = run_decode_case(m, c["batch"], c["context"], a)
        except PeerError as e:
            rep["errors"].append(f"batch {c['batch']} context {c['context']}: {e}")
            r = {"batch": c["batch"], "context": c["context"], "ranBatch": 0, "skipped": f"error: {e}"}
            torch.cuda.empty_cache()
        rep["results"].append(r)
        log(f"batch {r['batch']:4d} context {r['context']:6d}: " + (r["skipped"] if "skipped" in r else
            f"ran {r['ranBatch']}: {r['tokensPerSecond']:.1f} tokens/s, step {r['stepMs']['median']:.2f} ms "
            f"(p10 {r['stepMs']['p10']:.2f}, p90 {r['stepMs']['p90']:.2f}; warm-up {r['warmupBatches']} batches{'' if r['clockStable'] else ', NOT stable'})"))
        write(a.out, rep)
    if "prefill" not in skip:
        try:
            rep["prefill"] = run_prefill(m, prompt, a)
        except PeerError as e:
            rep["errors"].append(f"prefill: {e}")
            rep["prefill"] = {"tokens": prompt, "skipped": f"error: {e}"}
        p = rep["prefill"]
        log(f"prefill {prompt} tokens: " + (p["skipped"] if "skipped" in p else f"time to first token {p['ttftMs']:.1f} ms ({p['impl']})"))
        write(a.out, rep)
    del m
    torch.cuda.empty_cache()
    if "generate" not in skip:
        rep["generate"] = run_generate(cfg, d, prompt, a.generate_tokens, a.seed)
        gr = rep["generate"]
        log(f"transformers generate, batch 1, context {prompt}: " + (gr["skipped"] if "skipped" in gr else
            f"{gr['msPerToken']:.2f} ms/token = {gr['tokensPerSecond']:.1f} tokens/s, time to first token {gr['ttftMs']:.0f} ms, {gr['cache']} cache ({gr['impl']})"))
    write(a.out, rep)
    log(f"wrote {a.out}")
    for e in rep["errors"]:
        log(f"error: {e}")
    return 1 if rep["errors"] else 0


def dry_run_plan(doc, d, memory):
    free = memory - weight_bytes(d)
    return {"preset": doc.get("preset"), "dims": d, "weightBytes": weight_bytes(d),
            "cases": [{"batch": c["batch"], "context": c["context"], "kvBytes": kv_bytes(d, c["batch"], c["context"] + 1),
                       "ranBatch": fit_batch(d, c["batch"], c["context"] + 1, free)} for c in doc["cases"]]}


def write(path, obj):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PeerError as e:
        print(f"bench_decode_pytorch: error: {e}", file=sys.stderr)
        sys.exit(2)
