#!/usr/bin/env python3
"""Builds tknp's quantized-checkpoint test fixtures (issue 17): a tiny random Llama stored as an AWQ
checkpoint and as a GPTQ checkpoint, each packed here in its format's documented layout, with float32
references from transformers run on the DEQUANTIZED weights.

    python3 tools/make_quant_fixtures.py --out DIR [--tokenizer-from test/fixtures/models/tiny-llama] [--seed 0] [--only tiny-awq]

DIR/<name>/ for name in tiny-awq, tiny-gptq holds config.json (with quantization_config),
generation_config.json, model.safetensors, tiny-llama's tokenizer files, fixture.json and logits.bin, in
the format tools/make_fixtures.py writes (docs/MODELS.md: prompts, 32 greedy ids with margins,
logits.bin [3 prompts][5 steps][vocab] float32 little-endian, tokenizer cases).

Model: LlamaForCausalLM, hidden 128, intermediate 256, 2 layers, 2 q / 1 kv heads x 64, vocab of
tiny-llama's tokenizer (1024), untied, rope theta 1e4; weights as make_fixtures.py draws them (linear
N(0, 0.08^2), embeddings N(0, 1), norms U(0.7, 1.3)). Embeddings, norms and lm_head are stored float16.
Every projection (q, k, v, o, gate, up, down) is quantized by round-to-nearest (the point is the format,
not GPTQ's or AWQ's search):

- tiny-awq:  quant_method awq, version gemm, 4-bit, group 128, zero_point true. Per group of 128 inputs of
             an output row: s = (max - min) / 15 (rounded to f16), z = clamp(round(-min / s), 0, 15),
             q = clamp(round(w / s) + z, 0, 15). Stored as AutoAWQ's WQLinear_GEMM: qweight int32 [K, N/8]
             packed along N, 8 outputs a word in the order (0, 2, 4, 6, 1, 3, 5, 7) (nibble i holds output
             8w + order[i]); qzeros int32 [K/128, N/8] packed the same way; scales f16 [K/128, N].
- tiny-gptq: quant_method gptq, 4-bit, group 128, sym true, desc_act false, checkpoint_format gptq (v1):
             the most common GPTQ setting (AutoGPTQ's defaults, most 4-bit GPTQ models on the hub).
             s = max|w| / 7.5 (f16), zero 8, q = clamp(round(w / s) + 8, 0, 15). Stored as AutoGPTQ's
             QuantLinear: qweight int32 [K/8, N] packed along K (value k of a word at bits 4(k % 8));
             qzeros int32 [K/128, N/8] packed along N in plain order, holding zero - 1 = 7 (the v1
             format's offset); scales f16 [K/128, N]; g_idx int32 [K] = k // 128.

The reference: float32 LlamaForCausalLM (eager attention, CPU) whose projections are (q - z) * s (s widened
from f16), the other weights the stored float16 ones widened. Each fixture is checked by unpacking its
words again (a second, independent reader) and comparing with the integers it was made from, and is built
on its own: one failing does not stop the other (the SUMMARY line lists what failed).
"""
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import argparse
import json
import shutil
import struct
import sys
import time
import traceback

T0 = time.time()


def log(msg: str) -> None:
    print(f"[quant fixtures {time.time() - T0:6.1f}s] {msg}", flush=True)


import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

import hf_common  # noqa: E402  (tools/ is on sys.path: python3 puts the script's folder there)
import make_fixtures as mf  # noqa: E402  (prompts, weight draws, greedy references: the float fixtures' code)
import quant_pack as qp  # noqa: E402  (the formats' packing, numpy only: test/tools/quant_pack.test.ts checks it)

GROUP = qp.GROUP
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
PROJ_SUFFIXES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MAX_BYTES = 1_000_000


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--tokenizer-from", default="test/fixtures/models/tiny-llama")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="*", help="build only these fixtures (tiny-awq, tiny-gptq)")
    return p.parse_args()


# ---------------------------------------------------------------- quantization (RTN) and packing: tools/quant_pack.py


def as_torch(pack):
    """quant_pack's packer on a torch weight: checkpoint tensors (torch) and the dequantized weight (float32)."""
    def run(w: torch.Tensor):
        t, _, deq = pack(w.numpy())
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in t.items()}, torch.from_numpy(deq)
    return run


SPECS = [
    {
        "name": "tiny-awq",
        "pack": as_torch(qp.awq_tensors),
        "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": GROUP, "zero_point": True, "version": "gemm",
                                "modules_to_not_convert": None},
    },
    {
        "name": "tiny-gptq",
        "pack": as_torch(qp.gptq_tensors),
        "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": GROUP, "desc_act": False, "sym": True,
                                "checkpoint_format": "gptq", "true_sequential": True, "damp_percent": 0.01,
                                "static_groups": False},
    },
]


# ---------------------------------------------------------------- one fixture


def build(spec: dict, args, seed: int) -> dict:
    out = os.path.join(args.out, spec["name"])
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    for f in TOKENIZER_FILES:
        shutil.copy(os.path.join(args.tokenizer_from, f), os.path.join(out, f))
    src_cfg = json.load(open(os.path.join(args.tokenizer_from, "config.json")))
    tok = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
    hf = hf_common.load_hf_tokenizer(out, mf.STYLES["llama3"]["template"])
    def make_config(**extra) -> LlamaConfig:
        return LlamaConfig(
            vocab_size=tok.get_vocab_size(), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, head_dim=64, hidden_act="silu", rms_norm_eps=1e-5,
            max_position_embeddings=1024, tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
            bos_token_id=src_cfg["bos_token_id"], eos_token_id=src_cfg["eos_token_id"], initializer_range=0.02,
            **mf.rope(LlamaConfig, 10000.0), **extra)

    config = make_config()
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    mf.randomise(model, seed, tied=False)
    stored, reference = {}, {}
    n_params = 0
    for name, p in model.named_parameters():  # parameters only: buffers (inv_freq) come from the config
        n_params += p.numel()
        w16 = p.detach().half()
        module = name[: -len(".weight")] if name.endswith(".weight") else None
        if module and module.endswith(PROJ_SUFFIXES):
            packed, deq = spec["pack"](w16.float().contiguous())
            for suffix, t in packed.items():
                stored[f"{module}.{suffix}"] = t.contiguous()
            reference[name] = deq
        else:
            stored[name] = w16.contiguous()
            reference[name] = w16.float()
    save_file(stored, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(out)
    hf_common.rewrite_config(out, lambda c: c.update(architectures=["LlamaForCausalLM"], torch_dtype="float16", dtype="float16", quantization_config=spec["quantization_config"]))
    hf_common.finish_model_dir(out, bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id)

    ref_model = LlamaForCausalLM(make_config(attn_implementation="eager")).float()
    missing, unexpected = ref_model.load_state_dict(reference, strict=False)
    assert not unexpected and all("rotary_emb" in m for m in missing), f"reference state dict: missing {missing}, unexpected {unexpected}"
    ref_model = ref_model.eval()
    params = dict(model.named_parameters())
    q_err = max((reference[k] - params[k].detach().half().float()).abs().max().item() for k in reference if k.endswith(tuple(f"{s}.weight" for s in PROJ_SUFFIXES)))
    log(f"{spec['name']}: {n_params / 1e6:.2f} M params, largest |dequantized - f16 weight| {q_err:.4f}")

    prompts, greedy, blocks = [], [], []
    for p in mf.PROMPTS:
        fitted = None if "messages" in p else mf.fit_prompt(hf, p["text"])
        text, ids = hf_common.encode_prompt(tok, hf, p, fitted)
        logits, gen, margins = mf.run_prompt(ref_model, ids)
        blocks.append(logits)
        prompts.append({"name": p["name"], **({"messages": p["messages"]} if "messages" in p else {}),
                        "text": text, "addSpecialTokens": "messages" not in p, "ids": ids})
        eos = set(config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id])
        greedy.append({"ids": gen, "margins": margins, "distinct": len(set(gen)),
                       "text": tok.decode(gen, skip_special_tokens=False),
                       "textSkipSpecial": tok.decode(gen, skip_special_tokens=True),
                       "firstEosIndex": next((i for i, t in enumerate(gen) if t in eos), None)})
        log(f"  {p['name']}: {len(ids)} tokens, greedy {len(set(gen))} distinct of {mf.GREEDY}, min margin {min(margins):.4f}")
    arr = torch.stack(blocks).contiguous()
    with open(os.path.join(out, "logits.bin"), "wb") as f:
        f.write(struct.pack(f"<{arr.numel()}f", *arr.flatten().tolist()))
    fixture = {
        "name": spec["name"],
        "architecture": "LlamaForCausalLM",
        "storageDtype": "float16",
        "quantization": spec["quantization_config"],
        "referenceDtype": "float32",
        "referenceWeights": "dequantized: (q - z) * s for every projection, the stored float16 weights elsewhere",
        "referenceDevice": "cpu",
        "attnImplementation": "eager",
        "seed": seed,
        "parameters": n_params,
        "vocabSize": config.vocab_size,
        "versions": hf_common.versions(),
        "weightsSha256": hf_common.sha256(os.path.join(out, "model.safetensors")),
        "prompts": prompts,
        "greedyTokens": mf.GREEDY,
        "greedy": greedy,
        "greedyNote": "exactly greedyTokens argmax steps (full recompute, not stopping at eos); margins[i] = top1 - top2 logit",
        "logits": {"file": "logits.bin", "dtype": "float32", "endian": "little", "shape": [len(blocks), mf.LOGIT_STEPS, config.vocab_size],
                   "layout": "[prompt][step][vocab]; step 0 = last prompt position, step k = after appending greedy token k-1"},
        "tokenizerCases": mf.tokenizer_cases(tok, "llama3"),
    }
    with open(os.path.join(out, "fixture.json"), "w") as f:
        json.dump(fixture, f, indent=1, ensure_ascii=False)
    size = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    assert size < MAX_BYTES, f"{spec['name']} is {size} bytes, over {MAX_BYTES}"
    log(f"  wrote {out}: {sorted(os.listdir(out))}, {size / 1e6:.2f} MB")
    return {"name": spec["name"], "bytes": size}


def main() -> None:
    args = parse_args()
    log("  ".join(f"{k} {v}" for k, v in hf_common.versions().items()))
    hf_common.seed_everything(args.seed)
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    done, failed = [], []
    for i, spec in enumerate(SPECS):
        if args.only and spec["name"] not in args.only:
            continue
        try:
            done.append(build(spec, args, args.seed + 100 + i))
        except Exception:  # each fixture on its own: report and go on
            traceback.print_exc()
            failed.append(spec["name"])
            log(f"{spec['name']}: FAILED (see the traceback above)")
    print("SUMMARY quant fixtures: " + (", ".join(f"{r['name']} {r['bytes'] / 1e6:.2f} MB" for r in done) or "none")
          + (f"; FAILED: {', '.join(failed)}" if failed else "") + f"; {time.time() - T0:.0f}s -> {args.out}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
