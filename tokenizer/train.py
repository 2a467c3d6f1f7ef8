"""Training the byte-level BPE: sample -> pre-token counts -> merges -> Tokenizer.

Two engines learn the merges:

* ``trivium`` (default): counts pre-tokens (in worker processes, or with Spark in
  ``counting.py``), segments them with the base vocabulary's merges when one is given,
  and runs ``trivium.kernels.bpe`` over the counts. Training from counts and training
  from the text are therefore the same computation, and ``--base`` works.
* ``tokenizers``: Hugging Face's ``BpeTrainer`` on the sampled text (from scratch only);
  the kernel follows its selection rule, so both give the same merges on the same text.

Either way the result is ``bpe_size = vocab_size - 256`` byte-level BPE entries (ids
``0 .. bpe_size-1``: the 256 byte symbols in code-point order, base tokens in rank order,
learned tokens in merge order) followed by the 256 special ids. If the sample runs out of
pairs before ``bpe_size`` entries, the gap is filled with unreachable placeholder entries
(``<|bpe_unused_K|>``, never produced by encoding) so the special ids stay fixed.
"""

from __future__ import annotations

import os
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import regex
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from trivium.kernels.bpe import BPEKernel, apply_merges

from .base_vocab import SelectedBase, limit_by_rank, load_base, prune_by_usage, select_base
from .pretokenize import PretokenCounter, build_pre_tokenizer, bytes_to_symbols, bytes_to_unicode, symbols_to_bytes
from .sample import (
    Document,
    InputFile,
    ReadStats,
    SampleSpec,
    discover_files,
    holdout_folds,
    is_heldout,
    iter_file_documents,
    measure_sources,
    plan_rates,
    select,
    source_groups,
)
from .special_tokens import VOCAB_SIZE, bpe_size_for, special_tokens, split_on_special

PAD_FORMAT = "<|bpe_unused_{}|>"


class Progress(Protocol):
    """What training reports while it runs (the CLI draws it with rich)."""

    def start(self, stage: str, total: float | None = None, unit: str = "") -> None: ...

    def advance(self, stage: str, n: float = 1) -> None: ...

    def finish(self, stage: str) -> None: ...


class NullProgress:
    def start(self, stage: str, total: float | None = None, unit: str = "") -> None:
        pass

    def advance(self, stage: str, n: float = 1) -> None:
        pass

    def finish(self, stage: str) -> None:
        pass


@dataclass
class TrainConfig:
    vocab_size: int = VOCAB_SIZE
    min_frequency: int = 0
    engine: str = "trivium"  # "trivium" | "tokenizers"
    base: str | None = None
    base_keep: str = "ascii"
    base_drop: str | None = None
    base_max: int | None = None
    base_select: str = "rank"  # "rank": lowest ranks (the base's own merge order); "usage": most used on the counts;
    # "used": lowest ranks among the tokens the counts use at all
    base_pin: str | None = None  # rule: base tokens kept whatever base_max (code symbols, identifiers)
    # base_max measured: each candidate trained on the sample less one source per group,
    # scored on the sources left out; the best is then trained on the whole sample
    base_max_candidates: tuple[int, ...] = ()
    digits: int = 1  # the pre-tokenizer's digit rule: 1 (published, single digits) or 3
    workers: int = 0  # 0: os.cpu_count()

    @property
    def bpe_size(self) -> int:
        return bpe_size_for(self.vocab_size)


@dataclass
class TrainedBPE:
    """Byte-level BPE entries (symbol strings, index = id) and merges in rank order."""

    vocab: list[str]
    merges: list[tuple[str, str]]
    n_learned: int
    n_base: int
    n_padding: int
    stats: dict[str, Any] = field(default_factory=dict)


# --- counting ------------------------------------------------------------------------


def document_pieces(doc: Document) -> list[str]:
    """The text pieces of a document that training sees (special tokens cut out)."""
    return split_on_special(doc.text)


def _count_worker(inq, outq, digits: int) -> None:
    """Worker process: count every batch it receives, send the total once at the end."""
    counter = PretokenCounter(digits)
    try:
        while True:
            batch = inq.get()
            if batch is None:
                break
            for text, m in batch:
                counter.add(text, m)
        outq.put(("ok", counter.result()))
    except BaseException as exc:  # reported to the parent, which raises
        outq.put(("error", f"{type(exc).__name__}: {exc}"))


def _dedup_batches(pieces: Iterable[tuple[str, int]], batch_bytes: int) -> Iterator[list[tuple[str, int]]]:
    """Batches of about ``batch_bytes`` characters; identical texts within a batch merged
    (their multiplicities added), so repeated documents are pre-tokenized once."""
    batch: dict[str, int] = {}
    size = 0
    for text, m in pieces:
        if text in batch:
            batch[text] += m
            continue
        batch[text] = m
        size += len(text)
        if size >= batch_bytes:
            yield list(batch.items())
            batch, size = {}, 0
    if batch:
        yield list(batch.items())


def count_pieces(
    pieces: Iterable[tuple[str, int]],
    *,
    workers: int = 0,
    batch_bytes: int = 1_000_000,
    progress: Progress | None = None,
    digits: int = 1,
) -> Counter:
    """Count byte-level pre-tokens of ``(text, multiplicity)`` pieces in worker processes.

    Each worker keeps its own counts and sends them once, so the parent (which reads
    and renders the documents) merges ``workers`` tables, not one per batch. Small inputs
    are counted in this process. Identical texts inside a batch are pre-tokenized once.
    """
    import multiprocessing as mp
    import queue as queue_mod

    workers = workers or os.cpu_count() or 1
    it = _dedup_batches(pieces, batch_bytes)  # identical pieces (repeated documents) counted once
    first = next(it, [])
    second = next(it, None)
    if second is None or workers <= 1:  # small inputs: no processes
        counter = PretokenCounter(digits)
        for batch in ([first] if second is None else [first, second]):
            for text, m in batch:
                counter.add(text, m)
        for batch in it:
            for text, m in batch:
                counter.add(text, m)
        return counter.result()
    # fork where available: workers only run the pre-tokenizer (no Rust thread pool), and
    # unlike spawn it does not re-import the caller's __main__
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    inq = ctx.Queue(maxsize=2 * workers)
    outq = ctx.Queue()
    procs = [ctx.Process(target=_count_worker, args=(inq, outq, digits), daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
    results: list[Counter] = []

    def put(item) -> None:
        while True:
            try:
                inq.put(item, timeout=1.0)
                return
            except queue_mod.Full:
                if any(p.exitcode not in (None, 0) for p in procs):
                    raise RuntimeError("a pre-token counting worker died")

    try:
        put(first)
        put(second)
        for batch in it:
            put(batch)
        for _ in procs:
            put(None)
        while len(results) < len(procs):
            try:
                status, payload = outq.get(timeout=1.0)
            except queue_mod.Empty:
                if any(p.exitcode not in (None, 0) for p in procs):
                    raise RuntimeError("a pre-token counting worker died") from None
                continue
            if status != "ok":
                raise RuntimeError(f"pre-token counting failed: {payload}")
            results.append(payload)
    finally:
        for p in procs:
            if p.is_alive() and len(results) < len(procs):
                p.terminate()
            p.join(timeout=10)
    results.sort(key=len, reverse=True)
    total = results[0]
    for r in results[1:]:
        total.update(r)
    return total


def iter_training_pieces(
    files: list[InputFile],
    spec: SampleSpec,
    rates: Mapping[str, float],
    stats: ReadStats,
    progress: Progress | None = None,
) -> Iterator[tuple[str, int]]:
    progress = progress or NullProgress()
    for f in files:
        for doc in iter_file_documents(f, stats):
            progress.advance("read", len(doc.text.encode("utf-8", "surrogatepass")))
            m = select(doc, spec, rates, "train")
            if m <= 0:
                continue
            for piece in document_pieces(doc):
                yield piece, m


def plan_sample(files: list[InputFile], spec: SampleSpec, progress: Progress | None = None) -> tuple[dict[str, float], int]:
    """Per-source rates and the total input bytes (one read pass when sampling by bytes)."""
    progress = progress or NullProgress()
    if spec.sample_bytes is None:
        return {}, 0
    progress.start("measure", None, "B")
    total = 0

    def on_bytes(n: int) -> None:
        nonlocal total
        total += n
        progress.advance("measure", n)

    sizes = measure_sources(files, spec, on_bytes=on_bytes)
    progress.finish("measure")
    return plan_rates(sizes, spec), total


def count_inputs(
    inputs: Iterable[str] | list[InputFile],
    spec: SampleSpec,
    *,
    workers: int = 0,
    progress: Progress | None = None,
    rates: Mapping[str, float] | None = None,
    digits: int = 1,
    divert: Callable[[Document, int], bool] | None = None,
) -> tuple[Counter, dict[str, Any]]:
    """Pre-token counts of the training sample drawn from ``inputs`` (the direct path).
    ``divert(doc, multiplicity)`` sees every document first; those it takes (returns True)
    are left out of these counts."""
    progress = progress or NullProgress()
    files = inputs if (isinstance(inputs, list) and inputs and isinstance(inputs[0], InputFile)) else discover_files(inputs)  # type: ignore[arg-type]
    total_bytes = 0
    if rates is None:
        rates, total_bytes = plan_sample(files, spec, progress)
    stats = ReadStats()
    selected = {"docs": 0, "bytes": 0}

    def pieces() -> Iterator[tuple[str, int]]:
        for f in files:
            for doc in iter_file_documents(f, stats):
                n = len(doc.text.encode("utf-8", "surrogatepass"))
                progress.advance("read", n)
                m = select(doc, spec, rates, "train")
                if divert is not None and divert(doc, m):
                    continue
                if m <= 0:
                    continue
                selected["docs"] += 1
                selected["bytes"] += n * m
                for piece in document_pieces(doc):
                    yield piece, m

    progress.start("read", total_bytes or None, "B")
    counts = count_pieces(pieces(), workers=workers, progress=progress, digits=digits)
    progress.finish("read")
    info = {
        "read": stats.as_dict(),
        "rates": dict(sorted(rates.items())),
        "sample_docs": selected["docs"],
        "sample_bytes": selected["bytes"],
        "distinct_pretokens": len(counts),
    }
    return counts, info


# --- merges --------------------------------------------------------------------------


def byte_symbols() -> list[str]:
    """The 256 byte-level symbols in code-point order (ids 0..255, as BpeTrainer assigns)."""
    return sorted(bytes_to_unicode().values())


def _segment_bytes(words: list[str], chunk: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Byte ids (0..255, code-point order of the byte symbols) of every word, flattened."""
    symbols = byte_symbols()
    lut = np.full(0x200, -1, dtype=np.int32)
    for i, s in enumerate(symbols):
        lut[ord(s)] = i
    lens = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
    offs = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(lens, out=offs[1:])
    syms = np.empty(int(offs[-1]), dtype=np.int32)
    for start in range(0, len(words), chunk):  # bounded temporaries
        part = words[start : start + chunk]
        cps = np.frombuffer("".join(part).encode("utf-32-le"), dtype=np.uint32)
        if cps.size and cps.max() >= lut.shape[0]:
            raise ValueError("pre-token outside the byte-level alphabet")
        ids = lut[cps]
        if ids.size and ids.min() < 0:
            raise ValueError("pre-token outside the byte-level alphabet")
        syms[offs[start] : offs[start] + ids.size] = ids
    return offs, syms


def _segment_with_base(words: list[str], vocab: list[str], merges: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Segment words with the base merges (rank-priority BPE, as encoding will)."""
    offs, byte_ids = _segment_bytes(words)  # ids 0..255 are the byte symbols in vocab order
    index = {s: i for i, s in enumerate(vocab)}
    table = np.array([(index[a], index[b], index[a + b]) for a, b in merges], dtype=np.int64).reshape(-1, 3)
    return apply_merges(offs, byte_ids, table)


def _prune_base(base: SelectedBase, words: list[str], word_counts: np.ndarray, limit: int, select: str) -> SelectedBase:
    """Segment the counts with every candidate base token, keep ``limit`` of the used ones: the most used
    (``select="usage"``) or the lowest ranks (``"used"``)."""
    vocab = byte_symbols() + [bytes_to_symbols(t) for t in base.tokens]
    merges = [(bytes_to_symbols(a), bytes_to_symbols(b)) for a, b in base.merges]
    offs, syms = _segment_with_base(words, vocab, merges)
    word_of = np.repeat(np.arange(len(words)), np.diff(offs))
    usage = np.bincount(syms, weights=word_counts[word_of].astype(np.float64), minlength=len(vocab))
    by_token = {t: float(u) for t, u in zip(base.tokens, usage[256:].tolist()) if u > 0}
    return prune_by_usage(base, by_token, limit, select=select)


def train_from_counts(
    counts: Mapping[str, int],
    config: TrainConfig,
    *,
    base: SelectedBase | None = None,
    progress: Progress | None = None,
    chunk: int = 500,
) -> TrainedBPE:
    """Learn merges over pre-token counts (byte-level symbol strings) with the kernel."""
    progress = progress or NullProgress()
    bpe_size = config.bpe_size
    vocab = byte_symbols()
    merges: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    words = [w for w, c in counts.items() if c > 0]
    word_counts = np.fromiter((counts[w] for w in words), dtype=np.int64, count=len(words))
    base_stats: dict[str, Any] = {}
    if base is not None:
        progress.start("segment", 1, "")
        limit = base_limit(config)
        if config.base_select in ("usage", "used"):  # only tokens the training text uses
            base = _prune_base(base, words, word_counts, limit, config.base_select)
        else:
            base = limit_by_rank(base, limit)
        if len(base.tokens) > bpe_size - 256:
            raise ValueError(f"{len(base.tokens)} pinned base tokens do not fit {bpe_size - 256} BPE entries")
        base_stats = dict(base.stats)
        vocab += [bytes_to_symbols(t) for t in base.tokens]
        merges += [(bytes_to_symbols(a), bytes_to_symbols(b)) for a, b in base.merges]
    n_base = len(vocab) - 256
    if n_base:
        offs, syms = _segment_with_base(words, vocab, merges)
        progress.advance("segment", 1)
        progress.finish("segment")
    else:
        offs, syms = _segment_bytes(words)
    t_seg = time.perf_counter() - t0
    del words
    token_bytes = [symbols_to_bytes(s) for s in vocab]
    kernel = BPEKernel(offs, syms, word_counts, token_bytes, target_vocab=bpe_size, min_frequency=config.min_frequency)
    del offs, syms
    goal = bpe_size - len(vocab)
    progress.start("merges", goal, "merges")
    while not kernel.finished:
        done = kernel.run(chunk)
        progress.advance("merges", done)
        if done == 0 and not kernel.finished:
            break
    progress.finish("merges")
    t_merge = time.perf_counter() - t0 - t_seg
    first_new = len(vocab)
    new_tokens = kernel.new_tokens(first_new)
    vocab += [bytes_to_symbols(t) for t in new_tokens]
    seen = set(merges)
    n_learned = 0
    for a, b, _z in kernel.merge_list().tolist():
        pair = (vocab[a], vocab[b])
        if pair in seen:  # a pair re-formed after being merged: its first rank stands
            continue
        seen.add(pair)
        merges.append(pair)
        n_learned += 1
    n_padding = _pad(vocab, bpe_size)
    return TrainedBPE(
        vocab=vocab,
        merges=merges,
        n_learned=n_learned,
        n_base=n_base,
        n_padding=n_padding,
        stats={"segment_s": round(t_seg, 3), "merge_s": round(t_merge, 3), "distinct_pretokens": len(word_counts),
               "learned_by_script": learned_by_script(new_tokens),
               **({"base": base_stats} if base_stats else {})},
    )


_HAN = regex.compile(r"\p{Han}")
_CJK_OTHER = regex.compile(r"[\p{Hiragana}\p{Katakana}\p{Hangul}\p{Bopomofo}]")


def token_script(data: bytes) -> str:
    """A learned token's kind: han, cjk (kana, Hangul, ...), latin, <Script> of its letters,
    digits, space, symbols (no letters or digits), or partial (not whole UTF-8 characters)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "partial"
    if _HAN.search(text):
        return "han"
    if _CJK_OTHER.search(text):
        return "cjk"
    letters = [c for c in text if c.isalpha()]
    if not letters:
        if text.isspace():
            return "space"
        return "digits" if any(c.isdigit() for c in text) else "symbols"
    if all(c.isascii() or "LATIN" in unicodedata.name(c, "") for c in letters):
        return "latin"
    return unicodedata.name(letters[0], "other").split(" ")[0].capitalize()


def learned_by_script(tokens: Iterable[bytes]) -> dict[str, int]:
    """How many learned tokens of each kind (``token_script``), most first."""
    counts = Counter(token_script(t) for t in tokens)
    return dict(counts.most_common())


def _pad(vocab: list[str], bpe_size: int) -> int:
    present = set(vocab)
    n = 0
    k = 0
    while len(vocab) < bpe_size:
        s = PAD_FORMAT.format(k)
        k += 1
        if s in present:
            continue
        vocab.append(s)
        n += 1
    if len(vocab) > bpe_size:
        raise AssertionError("vocabulary overflow")
    return n


def train_with_tokenizers(
    pieces: Iterable[tuple[str, int]],
    config: TrainConfig,
    *,
    show_progress: bool = True,
) -> TrainedBPE:
    """Hugging Face ``BpeTrainer`` on the sampled text (from scratch)."""
    import json

    def texts() -> Iterator[str]:
        for text, m in pieces:
            for _ in range(m):
                yield text

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = build_pre_tokenizer(config.digits)
    trainer = trainers.BpeTrainer(
        vocab_size=config.bpe_size,
        min_frequency=config.min_frequency,
        show_progress=show_progress,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    t0 = time.perf_counter()
    tok.train_from_iterator(texts(), trainer)
    data = json.loads(tok.to_str())
    model_vocab = data["model"]["vocab"]
    vocab = [s for s, _ in sorted(model_vocab.items(), key=lambda kv: kv[1])]
    merges = [tuple(m) if not isinstance(m, str) else tuple(m.split(" ", 1)) for m in data["model"]["merges"]]
    if vocab[:256] != byte_symbols():
        raise AssertionError("unexpected alphabet order from BpeTrainer")
    n_learned = len(merges)
    n_padding = _pad(vocab, config.bpe_size)
    return TrainedBPE(vocab=vocab, merges=merges, n_learned=n_learned, n_base=0, n_padding=n_padding,  # type: ignore[arg-type]
                      stats={"train_s": round(time.perf_counter() - t0, 3)})


# --- the Tokenizer -------------------------------------------------------------------


def build_tokenizer(trained: TrainedBPE, vocab_size: int = VOCAB_SIZE, digits: int = 1) -> Tokenizer:
    """The full tokenizer: Youtu pre-tokenizer, byte-level BPE, 256 special ids."""
    bpe_size = bpe_size_for(vocab_size)
    if len(trained.vocab) != bpe_size:
        raise ValueError(f"BPE part has {len(trained.vocab)} entries, expected {bpe_size}")
    model = models.BPE(vocab={s: i for i, s in enumerate(trained.vocab)}, merges=list(trained.merges))
    tok = Tokenizer(model)
    tok.pre_tokenizer = build_pre_tokenizer(digits)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    specials = special_tokens(vocab_size)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, _ in specials])
    for t, i in specials:
        got = tok.token_to_id(t)
        if got != i:
            raise AssertionError(f"special token {t} got id {got}, expected {i}")
    if tok.get_vocab_size(with_added_tokens=True) != vocab_size:
        raise AssertionError("vocabulary size mismatch")
    return tok


def base_limit(config: TrainConfig) -> int:
    room = config.bpe_size - 256
    return room if config.base_max is None else min(room, config.base_max)


def prepare_base(config: TrainConfig) -> SelectedBase | None:
    """Every base token the rules keep; ``train_from_counts`` cuts them to ``base_max``
    (pinned tokens, then by rank or by usage on the counts)."""
    if not config.base:
        return None
    if config.base_select not in ("usage", "rank", "used"):
        raise ValueError(f"unknown base selection {config.base_select!r}: rank, used or usage")
    base = load_base(config.base)
    return select_base(base, keep=config.base_keep, drop=config.base_drop, pin=config.base_pin, digits=config.digits)


def segmented_tokens(counts: Mapping[str, int], trained: TrainedBPE) -> int:
    """Tokens the trained BPE gives the counted pre-tokens (BPE works within a pre-token,
    so this is the token count of the text they were counted on)."""
    words = [w for w, c in counts.items() if c > 0]
    if not words:
        return 0
    weights = np.fromiter((counts[w] for w in words), dtype=np.int64, count=len(words))
    n_real = len(trained.vocab) - trained.n_padding
    offs, _ = _segment_with_base(words, trained.vocab[:n_real], trained.merges)
    return int((np.diff(offs) * weights).sum())


def choose_base_max(
    fit_counts: Mapping[str, int],
    held_out: Mapping[str, Mapping[str, int]],
    config: TrainConfig,
    base: SelectedBase,
    progress: Progress | None = None,
) -> tuple[int, dict[str, Any]]:
    """The ``base_max`` candidate whose tokenizer, trained on ``fit_counts``, gives the fewest
    tokens on the held-out sources: geometric mean over the groups of tokens relative to the
    first candidate (each group weighs the same, whatever its size); ties go to fewer base tokens."""
    tokens: dict[int, dict[str, int]] = {}
    for n in config.base_max_candidates:
        trained = train_from_counts(fit_counts, replace(config, base_max=n, base_max_candidates=()), base=base, progress=progress)
        tokens[n] = {g: segmented_tokens(c, trained) for g, c in sorted(held_out.items())}
    first = tokens[config.base_max_candidates[0]]
    groups = [g for g in first if first[g] > 0]

    def score(n: int) -> float:
        return float(np.exp(np.mean([np.log(tokens[n][g] / first[g]) for g in groups]))) if groups else 1.0

    best = min(sorted(tokens), key=lambda n: (round(score(n), 6), n))
    return best, {"chosen": best, "held_out_groups": groups,
                  "candidates": {str(n): {"score": round(score(n), 5), "tokens": tokens[n]} for n in sorted(tokens)}}


def _count_base_max_split(files: list[InputFile], spec: SampleSpec, config: TrainConfig, progress: Progress):
    """Counts for ``base_max`` measurement: the sample less one source per (bucket, language)
    group (fit), the left-out sources once per document per group (held out), and the same
    sources with their sample multiplicity (added to fit, the whole sample's counts)."""
    langs: dict[tuple[str, str], dict[str, int]] = {}
    sizes = measure_sources(files, spec, langs=langs)
    rates = plan_rates(sizes, spec) if spec.sample_bytes is not None else {}
    groups = {g: [s for s in ss if s not in spec.holdout_sources] for g, ss in source_groups(langs).items()}
    val = holdout_folds({g: ss for g, ss in groups.items() if ss}, 1, seed=spec.seed + 1)[0]
    group_of = {s: g for g, ss in groups.items() for s in ss}
    by_group_m: dict[tuple[str, int], PretokenCounter] = {}  # each left-out document pre-tokenized once

    def divert(doc: Document, m: int) -> bool:
        if doc.source not in val or is_heldout(doc, spec):
            return False
        counter = by_group_m.setdefault((group_of[doc.source], m), PretokenCounter(config.digits))
        for piece in document_pieces(doc):
            counter.add(piece)
        return True

    fit, info = count_inputs(files, spec, workers=config.workers, progress=progress, rates=rates,
                             digits=config.digits, divert=divert)
    held: dict[str, Counter] = {}
    sampled: Counter = Counter()
    for (g, m), counter in sorted(by_group_m.items()):
        c = counter.result()
        held.setdefault(g, Counter()).update(c)
        if m > 0:
            sampled.update({w: n * m for w, n in c.items()})
    info = {**info, "rates": dict(sorted(rates.items())), "base_max_held_out_sources": list(val)}
    return fit, held, sampled, info


def train_tokenizer(
    inputs: Iterable[str] | list[InputFile],
    spec: SampleSpec,
    config: TrainConfig,
    *,
    progress: Progress | None = None,
    counts: Mapping[str, int] | None = None,
    show_hf_progress: bool = False,
) -> tuple[Tokenizer, dict[str, Any]]:
    """Sample, count, learn merges, build the tokenizer; returns it and a report."""
    progress = progress or NullProgress()
    t0 = time.perf_counter()
    report: dict[str, Any] = {
        "vocab_size": config.vocab_size,
        "bpe_size": config.bpe_size,
        "engine": config.engine,
        "seed": spec.seed,
        "weights": dict(spec.weights),
        "sample_bytes_target": spec.sample_bytes,
        "holdout": spec.holdout,
        "holdout_sources": list(spec.holdout_sources),
        "digits": config.digits,
    }
    if config.engine == "tokenizers":
        if config.base:
            raise ValueError("--base needs the trivium engine (tokenizers' trainer cannot start from merges)")
        if counts is not None:
            raise ValueError("training from counts needs the trivium engine")
        files = inputs if (isinstance(inputs, list) and inputs and isinstance(inputs[0], InputFile)) else discover_files(inputs)  # type: ignore[arg-type]
        rates, total = plan_sample(files, spec, progress)
        stats = ReadStats()
        progress.start("read", total or None, "B")
        trained = train_with_tokenizers(iter_training_pieces(files, spec, rates, stats, progress), config,
                                        show_progress=show_hf_progress)
        progress.finish("read")
        report["read"] = stats.as_dict()
        report["rates"] = dict(sorted(rates.items()))
    elif config.engine == "trivium":
        measure = bool(config.base_max_candidates)
        if measure and (counts is not None or not config.base):
            raise ValueError("--base-max auto needs --base and counts it makes itself (not --spark)")
        if measure:
            files = inputs if (isinstance(inputs, list) and inputs and isinstance(inputs[0], InputFile)) else discover_files(inputs)  # type: ignore[arg-type]
            fit, held, sampled, info = _count_base_max_split(files, spec, config, progress)
            counts = Counter(fit)
            counts.update(sampled)
            report.update({**info, "distinct_pretokens": len(counts)})
        elif counts is None:
            counts, info = count_inputs(inputs, spec, workers=config.workers, progress=progress, digits=config.digits)
            report.update(info)
        report["count_s"] = round(time.perf_counter() - t0, 3)
        t1 = time.perf_counter()
        base = prepare_base(config)  # after counting: forked counting workers stay small
        if base is not None:
            report["base"] = base.stats
            report["base_s"] = round(time.perf_counter() - t1, 3)
        if measure:
            chosen, report["base_max_measured"] = choose_base_max(fit, held, config, base, progress)  # type: ignore[arg-type]
            config = replace(config, base_max=chosen, base_max_candidates=())
            del fit, held
        trained = train_from_counts(counts, config, base=base, progress=progress)
        report.update(trained.stats)
    else:
        raise ValueError(f"unknown engine {config.engine!r}")
    tok = build_tokenizer(trained, config.vocab_size, config.digits)
    report.update(
        {
            "base_max": config.base_max,
            "base_tokens": trained.n_base,
            "learned_merges": trained.n_learned,
            "padding_entries": trained.n_padding,
            "wall_s": round(time.perf_counter() - t0, 3),
        }
    )
    return tok, report
