#!/usr/bin/env python3
"""The default model's held-out token stream and its float32 reference loss, for
`tknp bench perplexity` (docs/BENCH_QUALITY.md).

    python3 tools/dump_heldout.py --out DIR [--model models/default] [--corpus tools/corpus/corpus.txt.xz]

Rebuilds the held-out split exactly as tools/train_default_model.py made it (its split_corpus with the
seed and holdout fraction models/default/training_log.json records, its encode_docs with the model's
own tokenizer.json and chat template: every entry as <s> text </s>, Q/A entries also as a rendered
chat), checks the corpus hash and token count against training_log.json, and writes to DIR:

  heldout_default.u16   the whole stream, little-endian uint16 token ids
  heldout_default.json  {"tokens", "window", "windows", "referenceLoss", "windowLosses", ...}

referenceLoss is re-measured here, not copied: the training script's own evaluate() over its
fixed_windows (non-overlapping windows of seq_len + 1 tokens) with the saved f16 weights upcast to
float32 on the CPU, eager attention (hf_common.load_float32); windowLosses are the same windows one
at a time. Needs torch, transformers and tokenizers (the training script's imports); ~1 minute on a CPU.
"""
import argparse
import json
import math
import os
import struct
import sys

import train_default_model as tdm  # tools/ is on sys.path when run as python3 tools/dump_heldout.py

hf_common = tdm.hf_common
STREAM = "heldout_default.u16"
META = "heldout_default.json"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for heldout_default.u16 and heldout_default.json")
    p.add_argument("--model", default="models/default", help="the trained model (tokenizer.json, model.safetensors, training_log.json)")
    p.add_argument("--corpus", default="tools/corpus/corpus.txt.xz")
    p.add_argument("--max-windows", type=int, default=256, help="the training script's cap on held-out windows")
    p.add_argument("--batch", type=int, default=16, help="windows per forward pass of referenceLoss (the training script's 16)")
    return p.parse_args()


def fail(msg: str) -> None:
    print(f"dump_heldout: {msg}", file=sys.stderr)
    sys.exit(1)


def training_args(model_dir: str) -> dict:
    """The training run's record: its args (seed, holdout, seq_len) and what it measured."""
    path = os.path.join(model_dir, "training_log.json")
    if not os.path.exists(path):
        fail(f"{path} is missing: the split's seed and holdout come from it")
    return json.load(open(path))


def heldout_ids(args, log: dict):
    """The held-out token stream as train_default_model.main() built it, and its chat count."""
    from tokenizers import Tokenizer

    corpus_sha = hf_common.sha256(args.corpus)
    if corpus_sha != log["corpusSha256"]:
        fail(f"{args.corpus}: sha256 {corpus_sha} is not the training corpus's {log['corpusSha256']}")
    entries = hf_common.read_corpus(args.corpus)
    held, train = tdm.split_corpus(entries, log["args"]["seed"], log["args"]["holdout"])
    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    hf = hf_common.load_hf_tokenizer(args.model, tdm.CHAT_TEMPLATE)
    ids, chats = tdm.encode_docs(tok, hf, held)
    print(f"corpus {args.corpus}: {len(entries)} entries, {len(train)} train / {len(held)} held out; "
          f"held-out stream {len(ids)} tokens ({chats} chat docs)", flush=True)
    if len(ids) != log["heldOutTokens"]:
        fail(f"the held-out stream has {len(ids)} tokens; the training run had {log['heldOutTokens']} (training_log.json)")
    if max(ids) >= 1 << 16:
        fail(f"token id {max(ids)} does not fit uint16")
    return ids, len(held), chats


def reference_losses(args, ids: list, seq_len: int):
    """(loss, per-window losses): float32 CPU loss of the saved f16 weights over fixed_windows."""
    import torch

    torch.manual_seed(0)
    model = tdm.load_float32(args.model)
    windows = tdm.fixed_windows(torch.tensor(ids, dtype=torch.long), seq_len, args.max_windows)
    loss = tdm.evaluate(model, windows, "cpu", args.batch)  # the function that gave README's 4.2153
    model.eval()  # evaluate() leaves the model in train mode
    per = []
    with torch.no_grad():
        for w in windows:
            per.append(tdm.loss_fn(model, w[None, :-1], w[None, 1:]).item())
    mean = sum(per) / len(per)
    if abs(mean - loss) > 1e-4:
        fail(f"mean of the per-window losses {mean:.6f} differs from evaluate()'s {loss:.6f}")
    return loss, per, windows.shape[0]


def main() -> None:
    args = parse_args()
    log = training_args(args.model)
    seq_len = log["args"]["seq_len"]
    ids, n_held, chats = heldout_ids(args, log)
    os.makedirs(args.out, exist_ok=True)
    stream = os.path.join(args.out, STREAM)
    with open(stream, "wb") as f:
        f.write(struct.pack(f"<{len(ids)}H", *ids))
    loss, per, n_windows = reference_losses(args, ids, seq_len)
    recorded = log.get("heldOutLossSavedF16WeightsFloat32Cpu")
    print(f"referenceLoss {loss:.6f} (perplexity {math.exp(loss):.3f}) over {n_windows} windows of {seq_len} + 1; "
          f"training_log.json recorded {recorded}", flush=True)
    if recorded is not None and abs(loss - recorded) > 5e-4:
        print(f"dump_heldout: WARNING: re-measured loss {loss:.6f} differs from the recorded {recorded}", file=sys.stderr)
    meta = {
        "tokens": len(ids),
        "window": seq_len,
        "windows": n_windows,
        "referenceLoss": round(loss, 6),
        "referencePerplexity": round(math.exp(loss), 4),
        "windowLosses": [round(x, 6) for x in per],
        "note": (f"held-out split of tools/train_default_model.py (seed {log['args']['seed']}, holdout "
                 f"{log['args']['holdout']}: {n_held} entries, {chats} also as chats), tokenized with {args.model}/tokenizer.json; "
                 f"referenceLoss: mean NLL (nats) of the saved f16 weights upcast to float32, transformers on the CPU, eager "
                 f"attention, over {n_windows} non-overlapping windows of {seq_len} + 1 tokens (each from position 0); "
                 f"written by tools/dump_heldout.py"),
        "recordedLoss": recorded,
        "dtype": "float32",
        "device": "cpu",
        "versions": hf_common.versions(),
        "corpusSha256": log["corpusSha256"],
        "weightsSha256": hf_common.sha256(os.path.join(args.model, "model.safetensors")),
        "tokenizerSha256": hf_common.sha256(os.path.join(args.model, "tokenizer.json")),
        "streamSha256": hf_common.sha256(stream),
    }
    with open(os.path.join(args.out, META), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"wrote {stream} ({len(ids)} tokens) and {os.path.join(args.out, META)}", flush=True)


if __name__ == "__main__":
    main()
