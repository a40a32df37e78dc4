#!/usr/bin/env python3
"""Trains tknp's default model: a byte-level BPE tokenizer and a small LlamaForCausalLM
on the fortune corpus, saved in Hugging Face layout with a greedy reference.

    python3 tools/train_default_model.py --corpus tools/corpus/corpus.txt.xz --out DIR \
        [--minutes 5] [--seed 0] [--steps N]

Writes to DIR: config.json, model.safetensors (f16), tokenizer.json, tokenizer_config.json
(with chat_template), special_tokens_map.json, generation_config.json, reference.json
(prompts, token ids, float32 greedy continuations and last-position logits, computed on the
CPU from the stored f16 weights) and training_log.json (loss curve, timings).

Needs torch, transformers (>= 4.56; written for and run with 5.17), tokenizers, safetensors.
The number of optimiser steps is fixed (--steps, default 400, ~15 s of training on an H100:
the corpus is small, 0.8 M tokens, and more steps only memorise it); a throughput probe only
lowers it when the run would not fit --minutes on a slower machine (and says so), so a run
is reproducible. Training uses eager attention, seeded data order and deterministic
algorithms, so two runs on the same machine give the same weights.
"""
import os

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before CUDA starts
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import argparse
import json
import math
import random
import re
import time

T0 = time.time()


def log(msg: str) -> None:
    print(f"[train {time.time() - T0:7.1f}s] {msg}", flush=True)


import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

import hf_common  # noqa: E402  (tools/hf_common.py: python3 puts the script's folder on sys.path)

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>"]
UNK_ID, BOS_ID, EOS_ID, PAD_ID = 0, 1, 2, 3
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
PROMPTS = [
    {"name": "meaning", "text": "Q: What is the meaning of life?\nA:"},
    {"name": "friend", "text": "A friend in need"},
    {"name": "computers", "text": "The computer"},
    {"name": "animal", "text": "Man is the only animal that"},
    {"name": "lightbulb", "text": "Q: How many programmers does it take to change a light bulb?\nA:"},
    {"name": "chat", "messages": [{"role": "user", "content": "Tell me a fortune."}]},
]
GREEDY_TOKENS = 48


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default="tools/corpus/corpus.txt.xz")
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=5.0, help="wall-clock budget for the whole run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=400,
                   help="optimiser steps (fixed; lowered only if --minutes is too short). 400 is where held-out "
                        "loss bottoms out on this corpus; more steps memorise it (3000: train 0.09, held-out 9.8)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--intermediate", type=int, default=768)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--max-positions", type=int, default=2048)
    p.add_argument("--holdout", type=float, default=0.05)
    p.add_argument("--attn", default="eager", choices=["sdpa", "eager"],
                   help="attention for training: eager is deterministic; sdpa (cuDNN backward) is faster but not")
    p.add_argument("--evals", type=int, default=8, help="number of loss evaluations during training")
    return p.parse_args()


def seed_everything(seed: int) -> None:
    hf_common.seed_everything(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


# ---------------------------------------------------------------- corpus and tokenizer


QA = re.compile(r"^Q:\s*(.+?)\n\s*A:\s*(.+)$", re.S)


def qa_messages(entry: str):
    """Q:/A: jokes become a user/assistant exchange (teaches the chat format)."""
    m = QA.match(entry)
    if not m or entry.count("Q:") != 1 or entry.count("A:") != 1:
        return None
    q, a = (" ".join(s.split()) for s in m.groups())
    return [{"role": "user", "content": q}, {"role": "assistant", "content": a}]


def train_tokenizer(texts: list, vocab: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        min_frequency=2,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", BOS_ID)]
    )
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, f"special token {s} has id {tok.token_to_id(s)}, want {i}"
    return tok


def save_tokenizer(tok: Tokenizer, out: str, max_len: int) -> None:
    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    hf_common.save_tokenizer_files(tok, out, special, SPECIALS[4:], max_len, CHAT_TEMPLATE)


def split_corpus(entries: list, seed: int, holdout: float):
    """(held out, train): the entries in a seeded shuffled order, the first `holdout` fraction held out
    (at least one). tools/dump_heldout.py rebuilds the held-out stream with it."""
    order = list(range(len(entries)))
    random.Random(seed).shuffle(order)
    n_held = max(1, int(len(entries) * holdout))
    return [entries[i] for i in order[:n_held]], [entries[i] for i in order[n_held:]]


def encode_docs(tok: Tokenizer, hf, entries: list) -> list:
    """Token stream: every entry as <s> text </s>; Q/A entries also as a rendered chat."""
    raw = tok.encode_batch(entries, add_special_tokens=False)
    ids = []
    chats = 0
    for entry, enc in zip(entries, raw):
        ids.append(BOS_ID)
        ids.extend(enc.ids)
        ids.append(EOS_ID)
        msgs = qa_messages(entry)
        if msgs is not None:
            text = hf.apply_chat_template(msgs, tokenize=False).rstrip("\n")
            ids.extend(tok.encode(text, add_special_tokens=False).ids)
            chats += 1
    return ids, chats


# ---------------------------------------------------------------- model and training


def make_config(args: argparse.Namespace, vocab: int) -> LlamaConfig:
    kw = dict(
        vocab_size=vocab,
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        head_dim=args.head_dim,
        max_position_embeddings=args.max_positions,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
        initializer_range=0.02,
    )
    if "rope_parameters" in getattr(LlamaConfig, "__dataclass_fields__", {}) or transformers.__version__ >= "5":
        kw["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0}
    else:
        kw["rope_theta"] = 10000.0
    return LlamaConfig(**kw)


def new_model(config, attn: str, device: str):
    config._attn_implementation = attn
    return LlamaForCausalLM(config).to(device)


def batches(stream: torch.Tensor, batch: int, seq_len: int, gen: torch.Generator):
    """Random windows of seq_len+1 tokens; inputs are [:, :-1], targets [:, 1:]."""
    offs = torch.arange(seq_len + 1, device=stream.device)
    while True:
        starts = torch.randint(0, stream.numel() - seq_len - 1, (batch,), generator=gen).to(stream.device)
        w = stream[starts[:, None] + offs]
        yield w[:, :-1], w[:, 1:]


def fixed_windows(stream: torch.Tensor, seq_len: int, max_windows: int) -> torch.Tensor:
    n = min((stream.numel() - 1) // seq_len, max_windows)
    idx = torch.arange(n, device=stream.device)[:, None] * seq_len + torch.arange(seq_len + 1, device=stream.device)
    return stream[idx]


def loss_fn(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=x).logits
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))


@torch.no_grad()
def evaluate(model, windows: torch.Tensor, device: str, batch: int) -> float:
    model.eval()
    total, count = 0.0, 0
    for i in range(0, windows.shape[0], batch):
        w = windows[i : i + batch]
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = loss_fn(model, w[:, :-1], w[:, 1:])
        total += loss.item() * w.shape[0]
        count += w.shape[0]
    model.train()
    return total / max(count, 1)


def make_optimizer(model, lr: float, wd: float, device: str):
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
    extra = {"fused": True} if device == "cuda" else {}
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8, **extra)


def lr_at(step: int, steps: int, lr: float) -> float:
    warmup = max(1, min(100, steps // 10))
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def probe_seconds_per_step(config, stream, args, device: str) -> float:
    """Times a few steps of a throwaway model (its own RNG, so the real run is unaffected)."""
    g = torch.Generator().manual_seed(args.seed + 1000)
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if device == "cuda" else []):
        model = new_model(config, args.attn, device)
        opt = make_optimizer(model, args.lr, args.weight_decay, device)
        it = batches(stream, args.batch, args.seq_len, g)
        times = []
        for i in range(15):
            x, y = next(it)
            t = time.time()
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
                loss = loss_fn(model, x, y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.time() - t)
        del model, opt
    times = sorted(times[5:])
    return times[len(times) // 2]


def train(model, train_stream, eval_train, eval_held, args, steps: int, device: str, curve: list) -> None:
    opt = make_optimizer(model, args.lr, args.weight_decay, device)
    gen = torch.Generator().manual_seed(args.seed)
    it = batches(train_stream, args.batch, args.seq_len, gen)
    eval_every = max(1, steps // max(1, args.evals))
    model.train()
    t_start = time.time()
    running = []
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, args.lr)
        x, y = next(it)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = loss_fn(model, x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        running.append(loss.detach())
        last = step == steps - 1
        if (step + 1) % eval_every == 0 or last:
            batch_loss = torch.stack(running).mean().item()
            running = []
            tr = evaluate(model, eval_train, device, args.batch)
            he = evaluate(model, eval_held, device, args.batch)
            el = time.time() - t_start
            curve.append({"step": step + 1, "batchLoss": batch_loss, "trainLoss": tr, "heldOutLoss": he, "seconds": el})
            log(f"step {step + 1:5d}/{steps}  lr {lr_at(step, steps, args.lr):.2e}  batch {batch_loss:.4f}  "
                f"train {tr:.4f}  held-out {he:.4f} (ppl {math.exp(he):.1f})  {el:.0f}s")


# ---------------------------------------------------------------- saving and reference


def save_model(model, config, out: str) -> None:
    model = model.to("cpu").to(torch.float16)
    mx = max(p.abs().max().item() for p in model.parameters())
    assert mx < 60000, f"weight magnitude {mx} does not fit f16"
    model.save_pretrained(out)

    def set_dtype(cfg: dict) -> None:
        cfg["torch_dtype"] = "float16"  # transformers 5 writes "dtype"; older readers want torch_dtype
        cfg.setdefault("dtype", "float16")

    hf_common.rewrite_config(out, set_dtype)
    hf_common.finish_model_dir(out, bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID)


def load_float32(out: str):
    model = hf_common.load_float32(LlamaForCausalLM, out)
    assert next(model.parameters()).dtype == torch.float32
    return model


def make_reference(out: str, hf, tok: Tokenizer) -> dict:
    model = load_float32(out)
    refs = []
    for p in PROMPTS:
        text, ids = hf_common.encode_prompt(tok, hf, p)
        (logits,), gen, margins = hf_common.greedy_decode(model, ids, GREEDY_TOKENS)
        top5 = torch.topk(logits, 5)
        eos_at = gen.index(EOS_ID) if EOS_ID in gen else None
        refs.append({
            "name": p["name"],
            **({"messages": p["messages"]} if "messages" in p else {}),
            "text": text,
            "addSpecialTokens": "messages" not in p,
            "promptIds": ids,
            "lastLogits": {
                "first8": [round(float(v), 6) for v in logits[:8]],
                "argmax": int(logits.argmax()),
                "max": round(float(logits.max()), 6),
                "logSumExp": round(float(torch.logsumexp(logits, 0)), 6),
                "top5Ids": [int(i) for i in top5.indices],
                "top5Values": [round(float(v), 6) for v in top5.values],
            },
            "greedyIds": gen,
            "greedyMargins": margins,
            "greedyText": hf.decode(gen, skip_special_tokens=False),
            "greedyTextUntilEos": hf.decode(gen[:eos_at] if eos_at is not None else gen, skip_special_tokens=True),
            "firstEosIndex": eos_at,
        })
        log(f"reference {p['name']}: {len(ids)} prompt tokens -> {hf.decode(gen[:eos_at] if eos_at is not None else gen)!r}")
    return {
        "dtype": "float32",
        "device": "cpu",
        "weights": "model.safetensors (float16), upcast to float32",
        "attnImplementation": "eager",
        "greedyTokens": GREEDY_TOKENS,
        "greedyNote": "exactly greedyTokens argmax steps, not stopping at eos; greedyMargins[i] = top1 - top2 logit at step i",
        "prompts": refs,
    }


# The shared cases plus this tokenizer's literal specials, in the order reference.json lists them.
_SPECIALS_AT = hf_common.TOKENIZER_CASES.index("          ten spaces")
TOKENIZER_CASES = (hf_common.TOKENIZER_CASES[:_SPECIALS_AT] + ["<s> literal specials </s> <|user|>"]
                   + hf_common.TOKENIZER_CASES[_SPECIALS_AT:])


def tokenizer_cases(tok: Tokenizer) -> list:
    return [hf_common.tokenizer_case(tok, text) for text in TOKENIZER_CASES]


# ---------------------------------------------------------------- main


def main() -> None:
    args = parse_args()
    log("  ".join(f"{k} {v}" for k, v in hf_common.versions().items()))
    seed_everything(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    log(f"device {device}" + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else " (no GPU: slow!)"))
    os.makedirs(args.out, exist_ok=True)

    entries = hf_common.read_corpus(args.corpus)
    held, train_entries = split_corpus(entries, args.seed, args.holdout)
    log(f"corpus {args.corpus}: {len(entries)} entries ({hf_common.sha256(args.corpus)[:12]}), "
        f"{len(train_entries)} train / {len(held)} held out")

    tok = train_tokenizer(train_entries, args.vocab)
    save_tokenizer(tok, args.out, args.max_positions)
    tok = Tokenizer.from_file(os.path.join(args.out, "tokenizer.json"))
    hf = hf_common.load_hf_tokenizer(args.out, CHAT_TEMPLATE)
    vocab = tok.get_vocab_size()
    log(f"tokenizer: byte-level BPE, vocab {vocab}, sha256 {hf_common.sha256(os.path.join(args.out, 'tokenizer.json'))[:12]}")

    train_ids, train_chats = encode_docs(tok, hf, train_entries)
    held_ids, held_chats = encode_docs(tok, hf, held)
    chars = sum(len(e) for e in train_entries)
    log(f"tokens: train {len(train_ids)} ({chars / len(train_ids):.2f} chars/token, {train_chats} chat docs), "
        f"held out {len(held_ids)} ({held_chats} chat docs)")

    train_stream = torch.tensor(train_ids, dtype=torch.long, device=device)
    held_stream = torch.tensor(held_ids, dtype=torch.long, device=device)
    eval_held = fixed_windows(held_stream, args.seq_len, 256)
    eval_train = fixed_windows(train_stream, args.seq_len, eval_held.shape[0])

    config = make_config(args, vocab)
    spent = time.time() - T0
    sps = probe_seconds_per_step(config, train_stream, args, device)
    budget = args.minutes * 60 - spent - 45  # 45 s for saving and the reference
    fit = int(budget / sps) if sps > 0 else args.steps
    steps = args.steps
    log(f"throughput probe: {sps * 1000:.1f} ms/step ({args.batch * args.seq_len / sps / 1e6:.2f} M tok/s); "
        f"{args.steps} steps need ~{args.steps * sps:.0f}s, budget allows {fit}")
    if fit < steps:
        steps = max(1, fit)
        log(f"WARNING: lowering steps to {steps} to fit --minutes {args.minutes}; this is not the reference run")
    tokens_seen = steps * args.batch * args.seq_len
    log(f"training {steps} steps x {args.batch} x {args.seq_len} = {tokens_seen / 1e6:.1f} M tokens "
        f"({tokens_seen / len(train_ids):.1f} epochs)")

    seed_everything(args.seed)
    model = new_model(config, args.attn, device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params / 1e6:.2f} M parameters (tied embeddings), {args.layers} layers, hidden {args.hidden}, "
        f"{args.heads} q / {args.kv_heads} kv heads x {args.head_dim}, intermediate {args.intermediate}")
    curve = []
    t_train = time.time()
    train(model, train_stream, eval_train, eval_held, args, steps, device, curve)
    train_seconds = time.time() - t_train

    save_model(model, config, args.out)
    del model
    log(f"saved HF layout to {args.out}")
    ref = make_reference(args.out, hf, tok)
    final = curve[-1]
    f16_model = load_float32(args.out)
    f16_held = evaluate(f16_model, eval_held.cpu(), "cpu", 16)
    log(f"held-out loss of the saved f16 weights (float32, CPU): {f16_held:.4f}")
    summary = {
        "versions": hf_common.versions(),
        "seed": args.seed,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "corpusSha256": hf_common.sha256(args.corpus),
        "parameters": n_params,
        "vocabSize": vocab,
        "steps": steps,
        "tokensSeen": tokens_seen,
        "epochs": round(tokens_seen / len(train_ids), 2),
        "trainTokens": len(train_ids),
        "heldOutTokens": len(held_ids),
        "trainLoss": round(final["trainLoss"], 4),
        "heldOutLoss": round(final["heldOutLoss"], 4),
        "heldOutLossSavedF16WeightsFloat32Cpu": round(f16_held, 4),
        "trainSeconds": round(train_seconds, 1),
        "args": vars(args),
        "curve": curve,
    }
    ref["model"] = {k: summary[k] for k in ("versions", "seed", "parameters", "vocabSize", "steps", "trainLoss", "heldOutLoss")}
    ref["weightsSha256"] = hf_common.sha256(os.path.join(args.out, "model.safetensors"))
    ref["tokenizerCases"] = tokenizer_cases(tok)
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1, ensure_ascii=False)
    with open(os.path.join(args.out, "training_log.json"), "w") as f:
        json.dump(summary, f, indent=1)
    size = os.path.getsize(os.path.join(args.out, "model.safetensors"))
    log(f"files: {sorted(os.listdir(args.out))}")
    print(f"SUMMARY default model: {n_params / 1e6:.2f} M params, vocab {vocab}, {steps} steps "
          f"({summary['epochs']} epochs) in {train_seconds:.0f}s on {summary['device']}, train loss "
          f"{final['trainLoss']:.3f}, held-out loss {final['heldOutLoss']:.3f}, model.safetensors "
          f"{size / 1e6:.1f} MB, total {time.time() - T0:.0f}s -> {args.out}", flush=True)


if __name__ == "__main__":
    main()
