#!/usr/bin/env python3
"""Builds tknp's test fixtures: tiny random-weight Llama, Mistral, Qwen2, Qwen3, Phi-3, Gemma 2 and
Gemma 3 models in Hugging Face layout, each with a real (tiny, trained) byte-level BPE tokenizer and
float32 references.

    python3 tools/make_fixtures.py --out DIR [--corpus tools/corpus/corpus.txt.xz] [--seed 0]

DIR/<name>/ for name in tiny-llama, tiny-mistral, tiny-qwen2 holds config.json,
generation_config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
special_tokens_map.json, fixture.json and logits.bin:

- tiny-llama:   LlamaForCausalLM, 4 q / 2 kv heads x 64, llama3 rope scaling, untied, f16,
                Llama-3 style tokenizer (regex Split + ByteLevel, bos added, eos list).
- tiny-mistral: MistralForCausalLM, 2 q / 1 kv heads x 128, untied, bf16, GPT-2 style
                ByteLevel tokenizer, [INST] chat template.
- tiny-qwen2:   Qwen2ForCausalLM, q/k/v bias, tied embeddings, 4 q / 2 kv heads x 64, f16,
                Qwen2 style tokenizer (NFC, regex Split + ByteLevel, no bos), ChatML template.
- tiny-qwen3:   Qwen3ForCausalLM, q/k norms, 3 q / 1 kv heads x 128 (GQA 3), tied, rms_norm_eps 0.05 with
                small embeddings so that eps matters (checked: eps 1e-6 moves the logits), Qwen2 tokenizer.
- tiny-phi3:    Phi3ForCausalLM (fused qkv_proj / gate_up_proj), hidden 96, 1 head x 96, partial_rotary_factor
                0.75, longrope (short factors within 128 tokens; attention factor from 512/128), sliding
                window 48, Mistral-style tokenizer.
- tiny-gemma2:  Gemma2ForCausalLM, hidden 64, 2 q / 1 kv heads x 256, query_pre_attn_scalar 144, attention
                soft-cap 10, final soft-cap 5, sliding window 16 on layer 0, tied, Llama-3 tokenizer.
- tiny-gemma3:  Gemma3ForCausalLM, hidden 112 (Gemma3TextConfig wants a multiple of the 7 heads), 7 q / 1 kv heads x 80 (GQA 7), q/k norms, sliding window 16 on
                layer 0 with its local RoPE (theta 1e4), linear-scaled global RoPE (1e6, x8), tied.
- tiny-long:    Qwen2ForCausalLM with YaRN (factor 4 over 1024), hidden 128, 2 q / 1 kv heads x 64, tied, one prompt of
                over 2,000 tokens (decode spans several 512-token partitions, prefill several chunks).

fixture.json: prompts (text, ids), greedy continuations (32 tokens: ids, text, top1-top2
margins), an index into logits.bin (little-endian float32, shape [prompts, 5, vocab]: the
last prompt position, then after each of the first 4 greedy tokens), and tokenizer cases
(text -> ids, with and without special tokens). References are float32 on the CPU from
exactly the stored f16/bf16 weights (model reloaded from DIR).
"""
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import argparse
import copy
import json
import struct
import time

T0 = time.time()


def log(msg: str) -> None:
    print(f"[fixtures {time.time() - T0:6.1f}s] {msg}", flush=True)


import torch  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import (  # noqa: E402
    Gemma2Config, Gemma2ForCausalLM, Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM,
    MistralConfig, MistralForCausalLM, Phi3Config, Phi3ForCausalLM, Qwen2Config, Qwen2ForCausalLM,
    Qwen3Config, Qwen3ForCausalLM,
)

import hf_common  # noqa: E402  (tools/hf_common.py: python3 puts the script's folder on sys.path)

VOCAB = 1024
GREEDY = 32
LOGIT_STEPS = 5  # last prompt position + first 4 decode steps
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# Tokenizer styles: special tokens (ids 0..n-1 in this order), bos/eos/pad/unk, template.
STYLES = {
    "llama3": {
        "specials": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        "bos": "<|begin_of_text|>", "eos": "<|eot_id|>", "pad": None, "unk": None,
        "configEos": ["<|end_of_text|>", "<|eot_id|>"],
        "template": (
            "{{ bos_token }}{% for message in messages %}"
            "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
            "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
        ),
    },
    "mistral": {
        "specials": ["<unk>", "<s>", "</s>", "[INST]", "[/INST]"],
        "bos": "<s>", "eos": "</s>", "pad": None, "unk": "<unk>",
        "configEos": ["</s>"],
        "template": (
            "{{ bos_token }}{% for message in messages %}"
            "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
            "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
            "{% else %}{{ raise_exception('only user and assistant roles are supported') }}{% endif %}"
            "{% endfor %}"
        ),
    },
    "qwen2": {
        "specials": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        "bos": None, "eos": "<|im_end|>", "pad": "<|endoftext|>", "unk": None,
        "configEos": ["<|endoftext|>"],
        "template": (
            "{% for message in messages %}"
            "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
            "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
        ),
    },
}

PROMPTS = [
    {"name": "short", "text": "The quick brown fox"},
    {"name": "long", "text": ("Whenever you find yourself on the side of the majority, it is time to pause and "
                              "reflect. A day without sunshine is like, you know, night. Never put off until "
                              "tomorrow what you can do the day after tomorrow.")},
    {"name": "chat", "messages": [{"role": "user", "content": "What does a fortune cookie say?"}]},
]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--corpus", default="tools/corpus/corpus.txt.xz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="*", help="build only these fixtures")
    return p.parse_args()


# ---------------------------------------------------------------- tokenizers


def corpus_sample(path: str, n: int = 400) -> list:
    entries = hf_common.read_corpus(path)
    step = max(1, len(entries) // n)
    return entries[::step][:n]


def build_tokenizer(style: str, texts: list) -> Tokenizer:
    st = STYLES[style]
    tok = Tokenizer(models.BPE(unk_token=st["unk"]) if st["unk"] else models.BPE())
    if style == "mistral":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        split = LLAMA3_SPLIT if style == "llama3" else QWEN2_SPLIT
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(split), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    if style == "qwen2":
        tok.normalizer = normalizers.NFC()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB, min_frequency=2, special_tokens=st["specials"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    if st["bos"]:
        bos_id = tok.token_to_id(st["bos"])
        tok.post_processor = processors.TemplateProcessing(
            single=f"{st['bos']} $A", pair=f"{st['bos']} $A {st['bos']} $B", special_tokens=[(st["bos"], bos_id)])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def save_tokenizer(tok: Tokenizer, style: str, out: str) -> None:
    st = STYLES[style]
    special = {k + "_token": st[k] for k in ("bos", "eos", "unk", "pad") if st[k]}
    named = set(special.values())
    extra = [s for s in st["specials"] if s not in named]
    hf_common.save_tokenizer_files(tok, out, special, extra, 1024, st["template"],
                                   **({} if st["bos"] else {"bos_token": None}))


# ---------------------------------------------------------------- models


def rope(cfg_cls, theta: float, scaling=None) -> dict:
    """rope kwargs for transformers 5 (rope_parameters) or 4.x (rope_theta + rope_scaling)."""
    if "rope_parameters" in getattr(cfg_cls, "__dataclass_fields__", {}):
        return {"rope_parameters": {"rope_type": "default", "rope_theta": theta, **(scaling or {})}}
    return {"rope_theta": theta, **({"rope_scaling": scaling} if scaling else {})}


def gemma3_rope(global_theta: float, factor: float, local_theta: float) -> dict:
    """Gemma 3's two RoPEs: transformers 5's per-layer-type rope_parameters, or 4.x's rope_theta +
    rope_scaling (global) + rope_local_base_freq (sliding layers)."""
    if "rope_parameters" in getattr(Gemma3TextConfig, "__dataclass_fields__", {}):
        return {"rope_parameters": {
            "full_attention": {"rope_type": "linear", "factor": factor, "rope_theta": global_theta},
            "sliding_attention": {"rope_type": "default", "rope_theta": local_theta}}}
    return {"rope_theta": global_theta, "rope_scaling": {"rope_type": "linear", "factor": factor},
            "rope_local_base_freq": local_theta}


def long_prompt(corpus: list) -> dict:
    """One prompt of corpus entries joined until it passes 2,100 words (tokenized: 2,000-2,600 ids)."""
    words = []
    for entry in corpus:
        words += entry.split()
        if len(words) > 2100:
            break
    return {"name": "long2k", "text": " ".join(words), "lo": 2000, "hi": 2600}


def fixture_specs(ids: dict, corpus: list) -> list:
    """ids: per style, token -> id. Returns one spec per fixture."""
    l3, mi, qw = ids["llama3"], ids["mistral"], ids["qwen2"]
    common = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, hidden_act="silu",
                  max_position_embeddings=1024, initializer_range=0.02)
    # Issue 16's fixtures are smaller than the first three (each must stay well under 1 MB: everything the
    # repository tracks travels to the GPU host in every device call, 64 MiB in all).
    SMALL = dict(hidden_size=64, intermediate_size=128)
    return [
        {
            "name": "tiny-llama", "style": "llama3", "dtype": torch.float16, "cls": LlamaForCausalLM,
            "config": lambda v: LlamaConfig(
                vocab_size=v, num_attention_heads=4, num_key_value_heads=2, head_dim=64, rms_norm_eps=1e-5,
                tie_word_embeddings=False, bos_token_id=l3["<|begin_of_text|>"],
                eos_token_id=[l3["<|end_of_text|>"], l3["<|eot_id|>"]], attention_bias=False, mlp_bias=False,
                **rope(LlamaConfig, 500000.0, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                               "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
                **common),
        },
        {
            "name": "tiny-mistral", "style": "mistral", "dtype": torch.bfloat16, "cls": MistralForCausalLM,
            "config": lambda v: MistralConfig(
                vocab_size=v, num_attention_heads=2, num_key_value_heads=1, head_dim=128, rms_norm_eps=1e-5,
                tie_word_embeddings=False, bos_token_id=mi["<s>"], eos_token_id=mi["</s>"], sliding_window=None,
                **rope(MistralConfig, 1000000.0), **common),
        },
        {
            "name": "tiny-qwen2", "style": "qwen2", "dtype": torch.float16, "cls": Qwen2ForCausalLM,
            "config": lambda v: Qwen2Config(
                vocab_size=v, num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
                tie_word_embeddings=True, bos_token_id=qw["<|endoftext|>"], eos_token_id=qw["<|endoftext|>"],
                use_sliding_window=False, **rope(Qwen2Config, 1000000.0), **common),
        },
        {
            # Small embeddings (std 0.2: mean square 0.04) against eps 0.05: the eps in every norm matters.
            "name": "tiny-qwen3", "style": "qwen2", "dtype": torch.float16, "cls": Qwen3ForCausalLM, "embedStd": 0.2,
            "epsMatters": True,
            "config": lambda v: Qwen3Config(
                vocab_size=v, num_attention_heads=3, num_key_value_heads=1, head_dim=128, rms_norm_eps=0.05,
                tie_word_embeddings=True, bos_token_id=qw["<|endoftext|>"], eos_token_id=qw["<|endoftext|>"],
                attention_bias=False, use_sliding_window=False, **rope(Qwen3Config, 1000000.0),
                **{**common, **SMALL}),
        },
        {
            "name": "tiny-phi3", "style": "mistral", "dtype": torch.float16, "cls": Phi3ForCausalLM,
            "config": lambda v: Phi3Config(
                vocab_size=v, hidden_size=96, intermediate_size=128, num_hidden_layers=2, num_attention_heads=1,
                num_key_value_heads=1, hidden_act="silu", rms_norm_eps=1e-5, tie_word_embeddings=False,
                partial_rotary_factor=0.75, max_position_embeddings=512, original_max_position_embeddings=128,
                sliding_window=48, bos_token_id=mi["<s>"], eos_token_id=mi["</s>"], pad_token_id=mi["</s>"],
                initializer_range=0.02,
                **rope(Phi3Config, 10000.0, {"rope_type": "longrope",
                                             "short_factor": [1.0 + 0.05 * i for i in range(36)],
                                             "long_factor": [2.0 + 0.5 * i for i in range(36)]})),
        },
        {
            "name": "tiny-gemma2", "style": "llama3", "dtype": torch.float16, "cls": Gemma2ForCausalLM, "gemmaNorms": True,
            "config": lambda v: Gemma2Config(
                vocab_size=v, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, head_dim=256, query_pre_attn_scalar=144, sliding_window=16,
                attn_logit_softcapping=10.0, final_logit_softcapping=5.0, hidden_activation="gelu_pytorch_tanh",
                rms_norm_eps=1e-6, tie_word_embeddings=True, max_position_embeddings=1024, attention_bias=False,
                bos_token_id=l3["<|begin_of_text|>"], eos_token_id=[l3["<|end_of_text|>"], l3["<|eot_id|>"]],
                pad_token_id=l3["<|end_of_text|>"], initializer_range=0.02, **rope(Gemma2Config, 10000.0)),
        },
        {
            "name": "tiny-gemma3", "style": "llama3", "dtype": torch.float16, "cls": Gemma3ForCausalLM, "gemmaNorms": True,
            "config": lambda v: Gemma3TextConfig(
                vocab_size=v, hidden_size=112, intermediate_size=128, num_hidden_layers=2, num_attention_heads=7,
                num_key_value_heads=1, head_dim=80, query_pre_attn_scalar=80, sliding_window=16,
                layer_types=["sliding_attention", "full_attention"], hidden_activation="gelu_pytorch_tanh",
                rms_norm_eps=1e-6, tie_word_embeddings=True, max_position_embeddings=1024, attention_bias=False,
                bos_token_id=l3["<|begin_of_text|>"], eos_token_id=[l3["<|end_of_text|>"], l3["<|eot_id|>"]],
                pad_token_id=l3["<|end_of_text|>"], initializer_range=0.02,
                **gemma3_rope(1000000.0, 8.0, 10000.0)),
        },
        {
            "name": "tiny-long", "style": "qwen2", "dtype": torch.float16, "cls": Qwen2ForCausalLM,
            "prompts": [long_prompt(corpus)],
            "config": lambda v: Qwen2Config(
                vocab_size=v, hidden_size=128, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, hidden_act="silu", rms_norm_eps=1e-6, max_position_embeddings=4096,
                tie_word_embeddings=True, bos_token_id=qw["<|endoftext|>"], eos_token_id=qw["<|endoftext|>"],
                use_sliding_window=False, initializer_range=0.02,
                **rope(Qwen2Config, 1000000.0, {"rope_type": "yarn", "factor": 4.0,
                                                "original_max_position_embeddings": 1024})),
        },
    ]


@torch.no_grad()
def randomise(model, seed: int, tied: bool, gemma_norms: bool = False, embed_std: float = None) -> None:
    """Weights large enough that logits are peaked and greedy decoding is not degenerate. Gemma's
    RMSNorm multiplies by (1 + weight): its norm weights are drawn around 0, so that 1 + w is in
    [0.7, 1.3] as elsewhere."""
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(model.named_parameters()):
        if name.endswith("norm.weight"):
            p.copy_((0.0 if gemma_norms else 1.0) + 0.3 * (torch.rand(p.shape, generator=g) * 2 - 1))
        elif name.endswith(".bias"):
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
        elif "embed_tokens" in name:
            p.copy_((embed_std or (0.15 if tied else 1.0)) * torch.randn(p.shape, generator=g))
        else:  # linear weights [out, in]
            p.copy_(0.08 * torch.randn(p.shape, generator=g))


def save_model(model, spec: dict, style: str, tok: Tokenizer, out: str) -> None:
    dtype_name = {torch.float16: "float16", torch.bfloat16: "bfloat16"}[spec["dtype"]]
    model.to(spec["dtype"]).save_pretrained(out)
    cfg = hf_common.rewrite_config(out, lambda cfg: cfg.update(torch_dtype=dtype_name, dtype=dtype_name))
    st = STYLES[style]
    eos = [tok.token_to_id(t) for t in dict.fromkeys(st["configEos"] + [st["eos"]])]
    hf_common.finish_model_dir(
        out,
        bos_token_id=tok.token_to_id(st["bos"]) if st["bos"] else cfg.get("bos_token_id"),
        eos_token_id=eos if len(eos) > 1 else eos[0],
        pad_token_id=tok.token_to_id(st["pad"]) if st["pad"] else None,
    )


# ---------------------------------------------------------------- references


def fit_prompt(hf, text: str, lo: int = 5, hi: int = 40) -> str:
    """`text` cut at a word boundary to at most `hi` tokens; it must keep at least `lo`."""
    words = text.split(" ")
    while len(hf.encode(" ".join(words))) > hi and len(words) > 1:
        words.pop()
    text = " ".join(words)
    n = len(hf.encode(text))
    assert lo <= n <= hi, f"prompt {text!r} has {n} tokens, want {lo}..{hi}"
    return text


def run_prompt(model, ids: list):
    logits_steps, gen, margins = hf_common.greedy_decode(model, ids, GREEDY, LOGIT_STEPS)
    return torch.stack(logits_steps), gen, margins


def tokenizer_cases(tok: Tokenizer, style: str) -> list:
    st = STYLES[style]
    texts = hf_common.TOKENIZER_CASES + [" ".join(st["specials"]) + " inline", f"x{st['eos']}y {st['specials'][-1]}\nz"]
    cases = []
    for text in texts:
        case = hf_common.tokenizer_case(tok, text)
        case["decodedSkipSpecial"] = tok.decode(case["idsNoSpecial"], skip_special_tokens=True)
        cases.append(case)
    return cases


@torch.no_grad()
def check_eps_matters(ref_model, spec: dict, out: str, ids: list) -> None:
    """The fixture must fail an engine that ignored rms_norm_eps: the same weights with eps 1e-6 move the
    last logits by far more than any parity tolerance (0.5 here, against tolerances of 0.02-0.06)."""
    other = hf_common.load_float32(spec["cls"], out)
    other.config.rms_norm_eps = 1e-6
    for m in other.modules():
        for attr in ("variance_epsilon", "eps"):
            if hasattr(m, attr) and isinstance(getattr(m, attr), float):
                setattr(m, attr, 1e-6)
    a = ref_model(input_ids=torch.tensor([ids])).logits[0, -1]
    b = other(input_ids=torch.tensor([ids])).logits[0, -1]
    diff = (a - b).abs().max().item()
    assert diff > 0.5, f"{spec['name']}: rms_norm_eps 1e-6 moves the logits by only {diff}"
    log(f"  rms_norm_eps {ref_model.config.rms_norm_eps} vs 1e-6: last logits differ by up to {diff:.3f}")


def build_fixture(spec: dict, tok: Tokenizer, root: str, seed: int) -> dict:
    out = os.path.join(root, spec["name"])
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        os.remove(os.path.join(out, name))
    style = spec["style"]
    save_tokenizer(tok, style, out)
    tok = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
    hf = hf_common.load_hf_tokenizer(out, STYLES[style]["template"])
    vocab = tok.get_vocab_size()
    config = spec["config"](vocab)
    # The in-memory copy below must run the reference's eager attention: the default (SDPA) has no
    # attention soft-cap (Gemma 2), so the round-trip check would compare two different computations.
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = spec["cls"](config)
    randomise(model, seed, config.tie_word_embeddings, spec.get("gemmaNorms", False), spec.get("embedStd"))
    in_memory = copy.deepcopy(model).eval()  # the stored weights, in float32 (buffers such as
    for p in in_memory.parameters():         # inv_freq stay float32, as in a reloaded model)
        p.data = p.data.to(spec["dtype"]).float()
    n_params = sum(p.numel() for p in model.parameters())
    save_model(model, spec, style, tok, out)
    ref_model = hf_common.load_float32(spec["cls"], out)
    log(f"{spec['name']}: {n_params / 1e6:.2f} M params, vocab {vocab}, {spec['dtype']}, "
        f"config {json.dumps({k: v for k, v in json.load(open(os.path.join(out, 'config.json'))).items() if 'rope' in k})}")

    prompts, greedy, blocks = [], [], []
    for p in spec.get("prompts", PROMPTS):
        fitted = None if "messages" in p else fit_prompt(hf, p["text"], p.get("lo", 5), p.get("hi", 40))
        text, ids = hf_common.encode_prompt(tok, hf, p, fitted)
        if "messages" in p:
            assert 5 <= len(ids) <= 40, f"chat prompt has {len(ids)} tokens"
        logits, gen, margins = run_prompt(ref_model, ids)
        with torch.no_grad():  # the reloaded model must equal the in-memory one (config round trip)
            a = ref_model(input_ids=torch.tensor([ids])).logits[0, -1]
            b = in_memory(input_ids=torch.tensor([ids])).logits[0, -1]
            diff = (a - b).abs().max().item()
            assert diff < 1e-4, f"reloaded model differs from in-memory model by {diff}"
        if spec.get("epsMatters"):
            check_eps_matters(ref_model, spec, out, ids)
        blocks.append(logits)
        prompts.append({"name": p["name"], **({"messages": p["messages"]} if "messages" in p else {}),
                        "text": text, "addSpecialTokens": "messages" not in p, "ids": ids})
        eos_ids = set(config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id])
        greedy.append({"ids": gen, "margins": margins, "distinct": len(set(gen)),
                       "text": tok.decode(gen, skip_special_tokens=False),
                       "textSkipSpecial": tok.decode(gen, skip_special_tokens=True),
                       "firstEosIndex": next((i for i, t in enumerate(gen) if t in eos_ids), None)})
        log(f"  {p['name']}: {len(ids)} tokens, last-position argmax {int(logits[0].argmax())} "
            f"(margin {margins[0]:.3f}, logit std {logits[0].std():.2f}), greedy {len(set(gen))} distinct of {GREEDY}, "
            f"min margin {min(margins):.4f}")

    arr = torch.stack(blocks).contiguous()  # [prompts, LOGIT_STEPS, vocab]
    prompt_count = len(blocks)
    with open(os.path.join(out, "logits.bin"), "wb") as f:
        f.write(struct.pack(f"<{arr.numel()}f", *arr.flatten().tolist()))
    fixture = {
        "name": spec["name"],
        "architecture": type(ref_model).__name__,
        "storageDtype": str(spec["dtype"]).replace("torch.", ""),
        "referenceDtype": "float32",
        "referenceDevice": "cpu",
        "attnImplementation": "eager",
        "seed": seed,
        "parameters": n_params,
        "vocabSize": vocab,
        "versions": hf_common.versions(),
        "weightsSha256": hf_common.sha256(os.path.join(out, "model.safetensors")),
        "prompts": prompts,
        "greedyTokens": GREEDY,
        "greedy": greedy,
        "greedyNote": "exactly greedyTokens argmax steps (full recompute, not stopping at eos); margins[i] = top1 - top2 logit",
        "logits": {"file": "logits.bin", "dtype": "float32", "endian": "little",
                   "shape": [prompt_count, LOGIT_STEPS, vocab],
                   "layout": "[prompt][step][vocab]; step 0 = last prompt position, step k = after appending greedy token k-1"},
        "tokenizerCases": tokenizer_cases(tok, style),
    }
    with open(os.path.join(out, "fixture.json"), "w") as f:
        json.dump(fixture, f, indent=1, ensure_ascii=False)
    size = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    log(f"  wrote {out}: {sorted(os.listdir(out))}, {size / 1e6:.2f} MB")
    return {"name": spec["name"], "bytes": size, "params": n_params}


def main() -> None:
    args = parse_args()
    log("  ".join(f"{k} {v}" for k, v in hf_common.versions().items()))
    hf_common.seed_everything(args.seed)
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    texts = corpus_sample(args.corpus)
    log(f"tokenizer training text: {len(texts)} corpus entries, {sum(map(len, texts))} chars")
    toks = {style: build_tokenizer(style, texts) for style in STYLES}
    ids = {style: {s: t.token_to_id(s) for s in STYLES[style]["specials"]} for style, t in toks.items()}
    results = []
    failed = []
    for i, spec in enumerate(fixture_specs(ids, hf_common.read_corpus(args.corpus))):
        if args.only and spec["name"] not in args.only:
            continue
        try:  # one fixture failing its checks does not stop the others
            results.append(build_fixture(spec, toks[spec["style"]], args.out, args.seed + i))
        except Exception as e:  # noqa: BLE001
            log(f"FAILED {spec['name']}: {type(e).__name__}: {e}")
            failed.append(spec["name"])
    total = sum(r["bytes"] for r in results)
    print("SUMMARY fixtures: " + ", ".join(f"{r['name']} {r['params'] / 1e6:.2f} M params {r['bytes'] / 1e6:.2f} MB"
                                         for r in results)
          + f"; total {total / 1e6:.1f} MB in {time.time() - T0:.0f}s -> {args.out}"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""), flush=True)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
