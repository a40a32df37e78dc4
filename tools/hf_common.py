"""Code shared by tools/make_fixtures.py and tools/train_default_model.py: the Hugging Face files
they write (tokenizer and generation configs), the float32 CPU references they compute, and small
utilities. Both run as `python3 tools/<script>.py`, which puts tools/ first on sys.path, so they
`import hf_common`. torch, transformers and tokenizers are imported inside the functions that use
them: the module itself imports without them.
"""
import hashlib
import lzma
import json
import os
import random
import re
import sys

# Tokenizer round-trip texts both tools record (text -> ids with and without special tokens).
TOKENIZER_CASES = [
    "Hello, world!",
    "",
    " ",
    "   leading and trailing   ",
    "tabs\tand\nnewlines\n\n\nend",
    "numbers 1234567 and 3.14159",
    "don't I'M you'll WE'VE",
    "naïve café résumé Ω ß",
    "日本語のテキスト",
    "emoji: 👍🏽 👨‍👩‍👧 🇩🇪 ❤️",
    "nbsp\u00a0and\u200bzwsp",
    "e\u0301 vs \u00e9",
    "          ten spaces",
    "line\r\nwindows",
]


def sha256(path: str) -> str:
    """SHA-256 of a file's contents (of the decompressed text for a .xz file)."""
    h = hashlib.sha256()
    with (lzma.open(path, "rb") if path.endswith(".xz") else open(path, "rb")) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_corpus(path: str) -> list:
    """The corpus entries (fortune format: entries separated by lines holding only '%'; .xz: compressed)."""
    with (lzma.open(path, "rt", encoding="utf-8") if path.endswith(".xz") else open(path, encoding="utf-8")) as f:
        text = f.read()
    return [e for e in re.split(r"\n%\n", text.rstrip("\n")) if e.strip()]


def seed_everything(seed: int) -> None:
    """Seeds Python and torch and asks torch for deterministic algorithms (CPU; CUDA is the caller's)."""
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def versions() -> dict:
    """Versions of Python and the libraries that made the files (recorded in their JSON)."""
    import tokenizers
    import torch
    import transformers

    return {"python": sys.version.split()[0], "torch": torch.__version__,
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}


# ---------------------------------------------------------------- Hugging Face files


def save_tokenizer_files(tok, out: str, special: dict, extra: list, max_len: int, chat_template: str,
                         **more) -> None:
    """tokenizer.json, tokenizer_config.json (PreTrainedTokenizerFast with `special` tokens by role,
    `extra` additional specials, the chat template, then the `more` fields) and special_tokens_map.json."""
    tok.save(os.path.join(out, "tokenizer.json"))
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", **special, "additional_special_tokens": extra,
           "model_max_length": max_len, "clean_up_tokenization_spaces": False, "chat_template": chat_template,
           **more}
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, ensure_ascii=False)
    with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
        json.dump({**special, "additional_special_tokens": extra}, f, indent=2)


def load_hf_tokenizer(out: str, chat_template: str):
    """The tokenizer as transformers users get it (AutoTokenizer on `out`), with its chat template checked."""
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(out)
    assert hf.chat_template == chat_template, "chat_template did not survive save/load"
    return hf


def rewrite_config(out: str, update) -> dict:
    """Loads out/config.json, lets `update(cfg)` change it in place, writes it back (sorted keys), returns it."""
    path = os.path.join(out, "config.json")
    cfg = json.load(open(path))
    update(cfg)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    return cfg


def finish_model_dir(out: str, **token_ids) -> None:
    """generation_config.json (greedy, with the given bos/eos/pad token ids), then drops the *.jinja
    files transformers may write beside it: only the files we mean to ship stay."""
    from transformers import GenerationConfig

    GenerationConfig(**token_ids, do_sample=False).save_pretrained(out)
    for name in os.listdir(out):
        if name.endswith(".jinja"):
            os.remove(os.path.join(out, name))


# ---------------------------------------------------------------- references


def load_float32(cls, out: str):
    """The saved model reloaded in float32 with eager attention, in eval mode (CPU references)."""
    import torch

    try:
        model = cls.from_pretrained(out, dtype=torch.float32, attn_implementation="eager")
    except TypeError:  # transformers < 5
        model = cls.from_pretrained(out, torch_dtype=torch.float32, attn_implementation="eager")
    return model.eval()


def greedy_decode(model, ids: list, n: int, keep_logits: int = 1):
    """Exactly n greedy tokens (does not stop at eos), full recompute each step, float32 logits.
    Returns the last-position logits of the first `keep_logits` steps (a list), the tokens, and
    each step's top1 - top2 logit margin (rounded to 6 decimals)."""
    import torch

    with torch.no_grad():
        seq = torch.tensor([ids], dtype=torch.long)
        kept, out, margins = [], [], []
        for i in range(n):
            logits = model(input_ids=seq).logits[0, -1].float()
            if i < keep_logits:
                kept.append(logits.clone())
            top = torch.topk(logits, 2)
            nxt = int(top.indices[0])
            out.append(nxt)
            margins.append(round(float(top.values[0] - top.values[1]), 6))
            seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)
    return kept, out, margins


def encode_prompt(tok, hf, prompt: dict, text: str = None):
    """A reference prompt's (text, ids): {"messages": …} through the chat template with the generation
    prompt (no added special tokens), else `text` (default prompt["text"]) with the tokenizer's
    special tokens. The tokenizers and transformers encodings must agree."""
    if "messages" in prompt:
        text = hf.apply_chat_template(prompt["messages"], tokenize=False, add_generation_prompt=True)
        ids = tok.encode(text, add_special_tokens=False).ids
        assert ids == hf.encode(text, add_special_tokens=False), "transformers and tokenizers disagree"
    else:
        text = prompt["text"] if text is None else text
        ids = tok.encode(text).ids
        assert ids == hf.encode(text), "transformers and tokenizers disagree"
    return text, ids


def tokenizer_case(tok, text: str) -> dict:
    """text -> ids with and without special tokens, and the decoded ids (specials kept)."""
    no_sp = tok.encode(text, add_special_tokens=False).ids
    return {"text": text, "ids": tok.encode(text).ids, "idsNoSpecial": no_sp,
            "decoded": tok.decode(no_sp, skip_special_tokens=False)}
