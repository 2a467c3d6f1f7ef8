"""Write a trained tokenizer as a directory both ``tokenizers`` and ``transformers`` load.

Files: ``tokenizer.json`` (the complete ``tokenizers`` pipeline), ``tokenizer_config.json``
(class, special tokens, the chat template), ``special_tokens_map.json``,
``chat_template.jinja`` (the same template, the newer ``transformers`` layout) and
``trivium_tokenizer.json`` (how it was trained: sample, weights, base, timings).
``transformers`` is not needed to write them.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tokenizers import Tokenizer

from .chat_template import CHAT_TEMPLATE
from .special_tokens import ASSISTANT, BOS, EOS, NAMED_SPECIAL_TOKENS, VOCAB_SIZE, special_tokens

MODEL_MAX_LENGTH = 131_072


def tokenizer_config(vocab_size: int = VOCAB_SIZE) -> dict[str, Any]:
    specials = special_tokens(vocab_size)
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": EOS,
        "unk_token": None,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": MODEL_MAX_LENGTH,
        "model_input_names": ["input_ids", "attention_mask"],
        "additional_special_tokens": [t for t in NAMED_SPECIAL_TOKENS if t not in (BOS, EOS)],
        "added_tokens_decoder": {
            str(i): {
                "content": t,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for t, i in specials
        },
        "chat_template": CHAT_TEMPLATE,
        "generation_prompt": ASSISTANT,
    }


def special_tokens_map() -> dict[str, Any]:
    return {
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": EOS,
        "additional_special_tokens": [t for t in NAMED_SPECIAL_TOKENS if t not in (BOS, EOS)],
    }


def export_tokenizer(tok: Tokenizer, out_dir: str, *, vocab_size: int = VOCAB_SIZE, report: dict[str, Any] | None = None) -> list[str]:
    """Write the tokenizer directory; returns the written paths."""
    os.makedirs(out_dir, exist_ok=True)
    written = []

    def dump(name: str, obj: Any) -> None:
        path = os.path.join(out_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            if isinstance(obj, str):
                fh.write(obj)
            else:
                json.dump(obj, fh, ensure_ascii=False, indent=2)
                fh.write("\n")
        os.replace(tmp, path)
        written.append(path)

    path = os.path.join(out_dir, "tokenizer.json")
    tok.save(path + ".tmp", pretty=False)
    os.replace(path + ".tmp", path)
    written.append(path)
    dump("tokenizer_config.json", tokenizer_config(vocab_size))
    dump("special_tokens_map.json", special_tokens_map())
    dump("chat_template.jinja", CHAT_TEMPLATE)
    if report is not None:
        dump("trivium_tokenizer.json", report)
    return written


def load_tokenizer(path: str) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` from an exported directory or a tokenizer.json file."""
    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.json")
    return Tokenizer.from_file(path)


def encode_batch(tok: Tokenizer, texts: list[str], *, allow_special: bool = False) -> list[list[int]]:
    """Token ids of many texts, encoded in parallel on all cores (``tokenizers``' Rayon pool;
    ``RAYON_NUM_THREADS`` caps it). Special-token strings in the text stay plain text unless
    ``allow_special``."""
    previous = tok.encode_special_tokens
    tok.encode_special_tokens = not allow_special
    try:
        return [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]
    finally:
        tok.encode_special_tokens = previous
