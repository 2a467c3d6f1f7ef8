"""Packing efficiency on real documents: every text source of ../shared/corpus (a slice of each),
tokenized with a 128K reference tokenizer (ids above 65,535, so the uint32 store is exercised)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

pytestmark = pytest.mark.corpus

BYTES_PER_SOURCE = 1_000_000


@pytest.fixture(scope="module")
def store(corpus_dir, tokenizers_dir, tmp_path_factory):
    from trivium.tokenizer.token_store import encode_batch, read_tokenizer_dir, store_arrays

    tok_dir = tmp_path_factory.mktemp("deepseek")
    (tok_dir / "tokenizer.json").write_bytes((tokenizers_dir / "deepseek_v3.tokenizer.json").read_bytes())
    (tok_dir / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<｜end▁of▁sentence｜>"}))
    spec = read_tokenizer_dir(str(tok_dir))
    docs = []
    for source in sorted(p for p in Path(corpus_dir).iterdir() if p.is_dir()):
        taken = 0
        for part in sorted(source.glob("*.jsonl.gz")):
            with gzip.open(part, "rt", encoding="utf-8") as fh:
                for line in fh:
                    d = json.loads(line)
                    if taken < BYTES_PER_SOURCE and isinstance(d.get("text"), str):
                        docs.append({"id": d["id"], "text": d["text"], "source": d.get("source")})
                        taken += len(d["text"].encode("utf-8", "surrogatepass"))
    rows = []
    for batch in pa.Table.from_pylist(docs).to_batches(max_chunksize=2000):
        kept, reasons = encode_batch(spec, batch)
        assert not any(reasons)
        rows.append(kept)
    arrays = store_arrays(pa.Table.from_batches(rows))
    assert arrays.tokens.dtype == np.uint32 and int(arrays.tokens.max()) > 65_535
    return spec, arrays


@pytest.mark.parametrize("seq_len", [8192, 32768])
def test_best_fit_fills_99_percent_and_cuts_only_long_documents(store, seq_len):
    from trivium.kernels.pack import gather_samples, pack_documents

    spec, arrays = store
    packing, n_cut = pack_documents(arrays.lengths, seq_len)
    assert packing.n_bins > 100  # enough samples for the fraction to mean something
    assert 1 - packing.padding / (packing.n_bins * seq_len) >= 0.99
    assert n_cut == int((arrays.lengths > seq_len).sum())
    short = np.flatnonzero(arrays.lengths <= seq_len)
    assert np.array_equal(np.bincount(packing.pieces.doc, minlength=len(arrays.lengths))[short], np.ones(len(short)))
    rows, _, _ = gather_samples(packing, arrays.tokens, arrays.offsets, spec.eos_id, np.arange(packing.n_bins))
    assert np.array_equal(np.sort(rows[rows != spec.eos_id]), np.sort(arrays.tokens[arrays.tokens != spec.eos_id]))
