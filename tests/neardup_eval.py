"""A labelled near-duplicate set that looks like the web, and the one scorer for it.

Built at run time from `../shared/corpus` (nothing is copied into the repository):

* **extractor variants**: every HTML page of `raw_html/` and every HTML response of `raw_warc/`
  goes through several extractors (trafilatura, resiliparse main content and full page,
  html2text, jusText, readability-lxml, BeautifulSoup text). The variants of one page form one
  group: the same article with different boilerplate, headers, footers and link lists around it.
  Extractions under `MIN_CHARS` (the extractor failed on that page) and exact copies of another
  variant of the same page (exact dedup removes those before near-dedup) are left out.
* **edited copies**: of a page's main-content variant and of background articles, one copy per
  kind: `delete` (10-30% of the sentences removed), `insert` (10-30% more sentences from an
  unrelated document), `reorder` (blocks of paragraphs moved), `wrap` (a page header and footer of
  another site's navigation around it).
* **background**: unrelated documents (English and Chinese Wikipedia, news, other sites' full-page
  extractions from `web_boilerplate/`, Python files), cleared of documents that are already near
  duplicates of one another; each is its own group.

Groups are split by site (the page's host) into a `dev` half, on which the verification measure
and threshold are chosen, and a `held_out` half that reports the figures. `score()` is used by the
test (`tests/test_near_dedup_web.py`) and by the benchmarks (`benchmarks/neardup_eval.py`,
`benchmarks/dedup_e2e.py`) alike.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

MIN_CHARS = 500  # shorter extractions are failures ("JavaScript is disabled", a photo credit), not the article
EDIT_KINDS = ("delete", "insert", "reorder", "wrap")
VARIANT = "extractor_variant"


# ---- extractors --------------------------------------------------------------------------------


def _trafilatura(html: str) -> str | None:
    import trafilatura

    return trafilatura.extract(html, include_comments=False, include_tables=True)


def _resiliparse_main(html: str) -> str | None:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=True)


def _resiliparse_full(html: str) -> str | None:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=False)


def _html2text(html: str) -> str | None:
    import html2text

    h = html2text.HTML2Text()
    h.ignore_images = True
    h.body_width = 0
    return h.handle(html)


def _justext(html: str) -> str | None:
    import justext

    paragraphs = justext.justext(html.encode("utf-8", "replace"), justext.get_stoplist("English"))
    return "\n\n".join(p.text for p in paragraphs if not p.is_boilerplate)


def _readability(html: str) -> str | None:
    from bs4 import BeautifulSoup
    from readability import Document

    summary = Document(html).summary(html_partial=True)
    return BeautifulSoup(summary, "html.parser").get_text("\n")


def _bs4(html: str) -> str | None:
    import warnings

    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():  # an XHTML page parsed as HTML is what a crawler does too
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(html, "lxml")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    return soup.get_text("\n")


EXTRACTORS: dict[str, Callable[[str], str | None]] = {
    "trafilatura": _trafilatura,
    "resiliparse_main": _resiliparse_main,
    "resiliparse_full": _resiliparse_full,
    "html2text": _html2text,
    "justext": _justext,
    "readability": _readability,
    "bs4": _bs4,
}
MAIN_CONTENT = ("trafilatura", "readability", "resiliparse_main", "justext")  # first present is the edited one


def _clean(text: str | None) -> str:
    """Blank-line runs collapsed, as every extractor's output ends up in a corpus."""
    if not text:
        return ""
    lines = [ln.rstrip() for ln in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# ---- pages -------------------------------------------------------------------------------------


@dataclass
class Page:
    id: str
    site: str
    html: str


def _host(url: str | None, fallback: str) -> str:
    m = re.match(r"https?://(?:www\.)?([^/:]+)", url or "")
    return m.group(1).lower() if m else fallback


def load_pages(corpus_dir: Path) -> list[Page]:
    pages = []
    index = corpus_dir / "raw_html" / "index.jsonl.gz"
    with gzip.open(index, "rt") as f:
        for line in f:
            rec = json.loads(line)
            path = corpus_dir / rec["path"]
            if not path.exists():
                continue
            name = path.name
            site = _host(rec.get("url"), name.split("-")[0].split(".html")[0])
            pages.append(Page(rec["id"], site, path.read_bytes().decode("utf-8", "replace")))
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    for warc in sorted((corpus_dir / "raw_warc").glob("*.warc.gz")):
        with open(warc, "rb") as f:
            for k, rec in enumerate(ArchiveIterator(f, record_types=WarcRecordType.response)):
                if "html" not in (rec.http_headers.get("Content-Type") or ""):
                    continue
                url = (rec.headers.get("WARC-Target-URI") or "").strip("<>")
                html = rec.reader.read().decode("utf-8", "replace")
                pages.append(Page(f"warc/{warc.name}/{k}", _host(url, f"warc-{k}"), html))
    return pages


def extract_variants(page: Page) -> dict[str, str]:
    """Extractor name -> text, without failures, short outputs and exact copies of another variant."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for name, fn in EXTRACTORS.items():
        try:
            text = _clean(fn(page.html))
        except Exception:  # an extractor failing on a page is a missing variant, as on the web
            continue
        key = " ".join(text.split())
        if len(text) < MIN_CHARS or key in seen:
            continue
        seen.add(key)
        out[name] = text
    return out


# ---- edits -------------------------------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text) if s.strip()]


def delete_sentences(text: str, rng: random.Random) -> str:
    sents = sentences(text)
    n = max(1, round(len(sents) * rng.uniform(0.1, 0.3)))
    gone = set(rng.sample(range(len(sents)), min(n, len(sents) - 1))) if len(sents) > 1 else set()
    return "\n".join(s for k, s in enumerate(sents) if k not in gone)


def insert_sentences(text: str, donor: str, rng: random.Random) -> str:
    sents, extra = sentences(text), sentences(donor)
    n = max(1, round(len(sents) * rng.uniform(0.1, 0.3)))
    for s in rng.sample(extra, min(n, len(extra))):
        sents.insert(rng.randrange(len(sents) + 1), s)
    return "\n".join(sents)


def reorder_paragraphs(text: str, rng: random.Random) -> str:
    paras = [p for p in re.split(r"\n\s*\n|\n", text) if p.strip()]
    if len(paras) < 3:
        paras = sentences(text)
    if len(paras) < 3:
        return text + "\n" + text[: len(text) // 10]
    for _ in range(2):
        size = rng.randint(1, max(1, len(paras) // 4))
        start = rng.randrange(len(paras) - size + 1)
        moved, rest = paras[start : start + size], paras[:start] + paras[start + size :]
        at = rng.randrange(len(rest) + 1)
        paras = rest[:at] + moved + rest[at:]
    return "\n\n".join(paras)


def wrap(text: str, chrome: str, rng: random.Random) -> str:
    """`text` inside a header and footer cut from another site's full page (its first and last lines)."""
    lines = [ln for ln in chrome.splitlines() if ln.strip()]
    k = rng.randint(5, 25)
    return "\n".join(lines[:k]) + "\n\n" + text + "\n\n" + "\n".join(lines[-k:])


def edit(kind: str, text: str, donor: str, chrome: str, rng: random.Random) -> str:
    if kind == "delete":
        return delete_sentences(text, rng)
    if kind == "insert":
        return insert_sentences(text, donor, rng)
    if kind == "reorder":
        return reorder_paragraphs(text, rng)
    return wrap(text, chrome, rng)


# ---- background --------------------------------------------------------------------------------

BACKGROUND = (("enwiki", 1500), ("zhwiki", 600), ("nltk_news", 600), ("web_boilerplate", 181), ("code_python", 400))


def load_background(corpus_dir: Path, per_source=BACKGROUND) -> list[dict]:
    docs = []
    for source, n in per_source:
        got = 0
        for part in sorted((corpus_dir / source).glob("part-*.jsonl.gz")):
            with gzip.open(part, "rt") as f:
                for line in f:
                    d = json.loads(line)
                    text = d.get("text")
                    if isinstance(text, str) and MIN_CHARS <= len(text) < 100_000:
                        docs.append({"id": f"bg/{d['id']}", "text": text, "source": source})
                        got += 1
                        if got >= n:
                            break
            if got >= n:
                break
    return docs


def drop_near_duplicates(docs: list[dict], limit: float = 0.5) -> list[dict]:
    """Keep the first of every set of documents whose 5-gram containment reaches `limit` (a stub inside its
    article counts): the background starts free of duplicates, so every merge among it is a false one."""
    from trivium.filters import near_dedup as nd
    from trivium.kernels import minhash as mh

    params = mh.MinHashParams(num_perm=112, ngram=5)
    hashes, offsets = mh.shingle_hashes([d["text"] for d in docs], params)
    keys = mh.band_keys(mh.signatures_from_hashes(hashes, offsets, params), 56, 2)  # candidates down to J ~ 0.1
    src, dst = nd.bucket_star_edges(np.arange(len(docs)), keys)
    sim = nd.indexed_pair_similarity(hashes, offsets, src, dst, "containment")
    nodes, roots = nd.components_local(src[sim >= limit], dst[sim >= limit])
    gone = set(nodes[nodes != roots].tolist())
    return [d for k, d in enumerate(docs) if k not in gone]


# ---- the set -----------------------------------------------------------------------------------


@dataclass
class LabelledSet:
    """`docs`: dicts with id, text, source, group, kind, split. Same group = near-duplicates."""

    docs: list[dict]
    truth_pairs: dict[tuple[str, str], str] = field(default_factory=dict)  # (a, b) sorted -> kind

    def group_of(self) -> dict[str, str]:
        return {d["id"]: d["group"] for d in self.docs}

    def split(self, name: str) -> LabelledSet:
        docs = [d for d in self.docs if d["split"] == name]
        ids = {d["id"] for d in docs}
        pairs = {p: k for p, k in self.truth_pairs.items() if p[0] in ids and p[1] in ids}
        return LabelledSet(docs, pairs)


def cached_build(corpus_dir: Path, cache_dir: Path | None = None) -> LabelledSet:
    """`build()`, kept in a cache folder outside the repository (the extractors take ~30 s): keyed by this
    module's code, the extractors' versions and the corpus files' sizes and times."""
    import pickle
    from importlib.metadata import version

    key = hashlib.sha256(Path(__file__).read_bytes())
    for dist in ("trafilatura", "resiliparse", "html2text", "justext", "readability-lxml", "beautifulsoup4"):
        key.update(version(dist).encode())
    for sub in ("raw_html", "raw_warc", *(s for s, _ in BACKGROUND)):
        for f in sorted((corpus_dir / sub).glob("*")):
            st = f.stat()
            key.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "trivium"
    path = (cache_dir or default) / f"neardup-eval-{key.hexdigest()[:16]}.pkl"
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError):
        pass
    labelled = build(corpus_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            pickle.dump(labelled, f)
        os.replace(tmp, path)
    except OSError:  # a read-only home: no cache, same set
        pass
    return labelled


def _split_of(site: str) -> str:
    return "dev" if int(hashlib.sha256(site.encode()).hexdigest(), 16) % 2 == 0 else "held_out"


def build(corpus_dir: Path, seed: int = 14, background=BACKGROUND) -> LabelledSet:
    rng = random.Random(seed)
    loaded = drop_near_duplicates(load_background(corpus_dir, background))
    # the pools edits draw from (other sites' page chrome, sentences to insert) are not background
    # documents themselves: a copy that takes all of a donor's text would be a true duplicate of it
    pools: dict[str, list[str]] = {"web_boilerplate": [], "nltk_news": []}
    background_docs = []
    for k, d in enumerate(loaded):
        (pools[d["source"]] if d["source"] in pools and k % 2 else background_docs).append(d)
    chrome, donors = [t["text"] for t in pools["web_boilerplate"]], [t["text"] for t in pools["nltk_news"]]
    docs: list[dict] = []
    pairs: dict[tuple[str, str], str] = {}

    def add_edits(base_id: str, text: str, group: str, split: str, source: str, k: int) -> None:
        kind = EDIT_KINDS[k % len(EDIT_KINDS)]
        copy = edit(kind, text, rng.choice(donors), rng.choice(chrome), rng)
        copy_id = f"{base_id}/edit-{kind}"
        docs.append({"id": copy_id, "text": copy, "source": source, "group": group, "kind": kind, "split": split})
        pairs[tuple(sorted((base_id, copy_id)))] = kind

    seen_pages: set[str] = set()
    for k, page in enumerate(load_pages(corpus_dir)):
        variants = extract_variants(page)
        digest = hashlib.sha256("\0".join(variants.values()).encode()).hexdigest()
        if len(variants) < 2 or digest in seen_pages:  # a crawl holds some pages twice: one group each
            continue
        seen_pages.add(digest)
        group, split = f"page/{page.id}", _split_of(page.site)
        ids = []
        for name, text in variants.items():
            doc_id = f"{page.id}/{name}"
            ids.append(doc_id)
            docs.append(
                {"id": doc_id, "text": text, "source": page.site, "group": group, "kind": VARIANT, "split": split}
            )
        pairs.update({tuple(sorted(p)): VARIANT for p in combinations(ids, 2)})
        main = next((n for n in MAIN_CONTENT if n in variants), None)
        if main:
            add_edits(f"{page.id}/{main}", variants[main], group, split, page.site, k)
    for k, d in enumerate(background_docs):
        split = _split_of(d["id"])
        docs.append(d | {"group": d["id"], "kind": "background", "split": split})
        if k % 5 == 0:
            add_edits(d["id"], d["text"], d["id"], split, d["source"], k // 5)
    return LabelledSet(docs, pairs)


# ---- the scorer --------------------------------------------------------------------------------


def score(clusters: dict[str, str], labelled: LabelledSet) -> dict:
    """Pair-level precision, recall per kind and background false drops.

    `clusters` maps every document id to its cluster (a kept document to itself, a dropped one to
    the document kept for it). A predicted pair is correct when both documents are in one group.
    A background false drop is a background document (no planted copy) put in any cluster with
    another document.
    """
    group = labelled.group_of()
    missing = set(group) - set(clusters)
    if missing:
        raise ValueError(f"{len(missing)} labelled documents have no cluster, e.g. {sorted(missing)[:3]}")
    members = defaultdict(list)
    for doc in group:
        members[clusters[doc]].append(doc)
    predicted = {tuple(sorted(p)) for m in members.values() if len(m) > 1 for p in combinations(m, 2)}
    correct = sum(group[a] == group[b] for a, b in predicted)
    per_kind, found = Counter(), Counter()
    for pair, kind in labelled.truth_pairs.items():
        per_kind[kind] += 1
        found[kind] += pair in predicted
    edited = {d["group"] for d in labelled.docs if d["kind"] in EDIT_KINDS}
    lonely = [d["id"] for d in labelled.docs if d["kind"] == "background" and d["group"] not in edited]
    falsely = [i for i in lonely if len(members[clusters[i]]) > 1]
    edits_total = sum(per_kind[k] for k in EDIT_KINDS)
    return {
        "documents": len(group),
        "predicted_pairs": len(predicted),
        "precision": correct / len(predicted) if predicted else 1.0,
        "recall": {k: found[k] / per_kind[k] for k in sorted(per_kind)},
        "pairs": {k: per_kind[k] for k in sorted(per_kind)},
        "variant_recall": found[VARIANT] / per_kind[VARIANT] if per_kind[VARIANT] else 1.0,
        "edit_recall": sum(found[k] for k in EDIT_KINDS) / edits_total if edits_total else 1.0,
        "background": len(lonely),
        "background_false_drops": len(falsely) / len(lonely) if lonely else 0.0,
        "false_pairs": sorted(p for p in predicted if group[p[0]] != group[p[1]])[:10],
    }


# ---- the pipeline without Spark, for curves ----------------------------------------------------


def clusters_in_memory(docs: list[dict], params, thresholds: list[float]) -> dict[float, dict[str, str]]:
    """{threshold: {id: cluster}}: the stage's algorithm (LSH star edges, `params.verify` measure,
    components) in memory, with the similarity of every candidate computed once for all thresholds."""
    import pyarrow as pa
    from trivium.filters import near_dedup as nd
    from trivium.kernels import minhash as mh

    ids = [d["id"] for d in docs]
    texts = nd.dedup_texts(pa.array([d["text"] for d in docs], pa.string()), None, params)
    kp = params.minhash_params()
    hashes, offsets = mh.shingle_hashes(texts, kp)
    bands, rows = params.bands_rows()
    keys = mh.band_keys(mh.signatures_from_hashes(hashes, offsets, kp), bands, rows)
    has = np.diff(offsets) > 0
    src, dst = nd.bucket_star_edges(np.flatnonzero(has), keys[has])
    if params.verify in ("jaccard", "containment"):
        sim = nd.indexed_pair_similarity(hashes, offsets, src, dst, params.verify)
    else:  # unverified: every candidate is an edge
        sim = np.ones(len(src))
    out = {}
    for t in thresholds:
        keep = sim >= t
        nodes, roots = nd.components_local(src[keep], dst[keep])
        clusters = dict(zip(ids, ids))
        clusters.update({ids[n]: ids[r] for n, r in zip(nodes.tolist(), roots.tolist())})
        out[t] = clusters
    return out
