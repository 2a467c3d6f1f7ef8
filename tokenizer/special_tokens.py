"""Special tokens of the trivium tokenizer and their fixed ids.

The vocabulary is ``bpe_size`` byte-level BPE entries (ids ``0 .. bpe_size-1``) followed by
256 special/reserved ids. For the reference size 128,256 the BPE part is 128,000 entries and
the special ids are 128,000 .. 128,255: first the named tokens below, then
``<|reserved_special_token_K|>`` filling the rest. Every one is an added token marked
``special`` so that plain-text encoding can refuse to produce it.
"""

from __future__ import annotations

import re

VOCAB_SIZE = 128_256
NUM_SPECIAL_IDS = 256
BPE_VOCAB_SIZE = VOCAB_SIZE - NUM_SPECIAL_IDS  # 128,000

BOS = "<|begin_of_text|>"
EOS = "<|end_of_text|>"
USER = "<|User|>"
ASSISTANT = "<|Assistant|>"
THINK = "<think>"
THINK_END = "</think>"
TOOL_CALL = "<tool_call>"
TOOL_CALL_END = "</tool_call>"
TOOL_RESPONSE = "<tool_response>"
TOOL_RESPONSE_END = "</tool_response>"

NAMED_SPECIAL_TOKENS: tuple[str, ...] = (
    BOS,
    EOS,
    USER,
    ASSISTANT,
    THINK,
    THINK_END,
    TOOL_CALL,
    TOOL_CALL_END,
    TOOL_RESPONSE,
    TOOL_RESPONSE_END,
)

RESERVED_FORMAT = "<|reserved_special_token_{}|>"


def bpe_size_for(vocab_size: int) -> int:
    """Number of BPE entries (bytes + merges) in a vocabulary of ``vocab_size`` ids."""
    bpe = vocab_size - NUM_SPECIAL_IDS
    if bpe < 256:
        raise ValueError(
            f"vocab_size {vocab_size} too small: it must hold 256 byte tokens plus "
            f"{NUM_SPECIAL_IDS} special ids (>= {256 + NUM_SPECIAL_IDS})"
        )
    return bpe


def special_tokens(vocab_size: int = VOCAB_SIZE) -> list[tuple[str, int]]:
    """(token, id) for all 256 special ids, named first, then reserved ones."""
    first = bpe_size_for(vocab_size)
    out = [(tok, first + i) for i, tok in enumerate(NAMED_SPECIAL_TOKENS)]
    for k in range(NUM_SPECIAL_IDS - len(NAMED_SPECIAL_TOKENS)):
        out.append((RESERVED_FORMAT.format(k), first + len(NAMED_SPECIAL_TOKENS) + k))
    return out


_SPECIAL_SPLIT_RE = re.compile(
    "|".join(re.escape(t) for t in sorted(NAMED_SPECIAL_TOKENS, key=len, reverse=True))
    + r"|<\|reserved_special_token_\d+\|>"
)


def split_on_special(text: str) -> list[str]:
    """The non-empty pieces of ``text`` between special-token strings.

    Training never sees special-token strings as text: they are added tokens with fixed
    ids, and a merge learned across their boundary could never be used.
    """
    return [p for p in _SPECIAL_SPLIT_RE.split(text) if p]
