"""Seed labels from sources: each document takes its source's `bucket` (sources.json), then the
document-level corrections a person would make.

`sources.json` maps a source name to {bucket, language, format, files, ...}; the files of source
`s` lie in the folder `s/` beside sources.json. Domain seed labels are `bucket/subdomain`
(`noise/spam`, `stem/prose`, ...); quality seed labels are `hq` for the positive buckets and
`lq` for `noise`. A raw-HTML noise source (`format: raw_html`, an index JSONL naming the pages)
gives noise from each page's visible text, navigation included; other formats (WARC) are
skipped and said so in the report. Sampling is deterministic: the same seed picks the same documents.

Corrections (decontamination, STEM prose and Chinese negatives are optional), reported per source:
- **decontamination**: documents the decontamination index (`trivium.filters.decontam`) flags
  for a configured benchmark test set never become seeds — a test set that trained the
  classifier would be favoured by every mixture it filters;
- **STEM prose** (domain): science, medicine, engineering and mathematics prose inside
  commonsense sources is relabelled `stem/prose` (`trivium.mixtures.stem_prose`), documents of
  uncertain subject are left out;
- **word problems without markup** (domain): GSM8K's `<<48/2=24>>` calculator annotations and
  `#### 72` answer line are removed (`plain_math`), so the model learns word problems and not
  one data set's markup;
- **boilerplate as extractors give it** (domain): each raw-HTML page is a seed twice, as flat
  visible lines and as Markdown (`* ` menus indented by nesting, `#` headings), else an html2text
  page with an indented menu reads as code;
- **short views** (domain, training seeds only): each GSM8K-style word problem also as its bare
  question (problem sets print no worked solution), and seeded 1-4-line fragments of each
  boilerplate page (short noise: ads, promo lines, menu scraps), so that short documents of
  unseen sources are not judged by length and digits alone (`short_views`; off in the shipped
  recipe: held out it fixed short word problems and web fragments but did not beat the spread
  of training runs overall, see `benchmarks/classify.py --train-seeds`);
- **windows of small sources** (domain, training seeds only): a source with fewer than 300
  documents also gives windows of its long documents, past the prefix the model reads
  (`windows`): balancing would otherwise repeat its few prefixes hundreds of times (15 chat
  sessions, 99 scholarly samples), and the model learns those documents rather than their kind;
- **exam views** (domain, training seeds only): each English STEM document also as a
  multiple-choice item cut from its own sentences and words (`trivium.mixtures.exam_views`): the
  exam format was Chinese only (GAOKAO), and English exam items of unseen sources (MMLU-STEM)
  read as commonsense;
- **Chinese negatives** (quality): the noise sources are English, so derived Chinese noise
  (shuffled, menu-shaped and repeated text cut from the Chinese positives) is added, else every
  Chinese document would look like high quality.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser

from trivium.filters.fasttext_text import Example, as_json_str, read_records
from trivium.filters.quality_model import mostly_han
from trivium.mixtures.domain import BUCKETS, NOISE, subdomain_of

QUALITY_POSITIVE, QUALITY_NEGATIVE = "hq", "lq"


@dataclass
class SeedData:
    train: list[Example] = field(default_factory=list)
    heldout: list[Example] = field(default_factory=list)
    report: dict = field(default_factory=dict)  # source -> {label, used, available, split, ...} or {skipped: why}


def load_sources(sources_json: str) -> dict:
    with open(sources_json, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        msg = f"{sources_json}: expected a JSON object mapping source names to their description"
        raise ValueError(msg)  # noqa: TRY004 - a bad file, reported like the other file errors
    return data


def _label(task: str, name: str, entry: dict, meta: dict, subdomains: bool, positive: set[str]) -> str | None:
    bucket = entry.get("bucket")
    if task == "quality":
        if bucket == NOISE:
            return QUALITY_NEGATIVE
        return QUALITY_POSITIVE if bucket in positive else None
    if bucket not in BUCKETS:
        return None
    return f"{bucket}/{subdomain_of(name, meta, entry)}" if subdomains else bucket


def corpus_benchmarks(sources_json: str, benchmarks: dict[str, dict]):
    """A decontamination config whose test sets are sources of the corpus.

    `benchmarks` maps a name to {source, where?, field?, split_on?}; each file of the source
    becomes one `BenchmarkSpec` (`name`, `name.1`, ...).
    """
    from trivium.filters.decontam import BenchmarkSpec, DecontamConfig

    base = os.path.dirname(os.path.abspath(sources_json))
    sources = load_sources(sources_json)
    specs = {}
    for name, b in sorted(benchmarks.items()):
        entry = sources.get(b["source"])
        if entry is None:
            raise ValueError(f"benchmark {name!r}: no source {b['source']!r} in {sources_json}")
        files = [f for f in entry.get("files", []) if os.path.exists(os.path.join(base, b["source"], f))]
        for i, f in enumerate(files):
            specs[name if i == 0 else f"{name}.{i}"] = BenchmarkSpec(
                path=os.path.join(base, b["source"], f), field=b.get("field"), where=b.get("where", {}),
                split_on=b.get("split_on"))
    return DecontamConfig(benchmarks=specs)


def seed_examples(
    sources_json: str,
    task: str = "domain",
    *,
    max_per_source: int = 3000,
    seed: int = 0,
    holdout: set[str] | frozenset[str] = frozenset(),
    subdomains: bool = True,
    positive_buckets: set[str] | frozenset[str] = frozenset({"commonsense", "stem", "code"}),
    min_chars: int = 200,
    noise_min_chars: int = 40,
    only: set[str] | None = None,
    decontam=None,
    stem_prose=None,
    zh_negatives: float = 0.0,
    views: bool = False,
    exam: bool = False,
    windows: bool = False,
    progress=None,
) -> SeedData:
    """Labelled examples from the sources of `sources_json`, `max_per_source` (random, seeded) per source.

    Sources named in `holdout` go to `heldout` instead of `train`; `only` restricts the sources read.
    Noise sources keep documents from `noise_min_chars` (spam and chat lines are short).
    `decontam` (a `DecontamConfig`) removes benchmark test items; `stem_prose` (a
    `StemProseRule`) relabels STEM prose (domain); `zh_negatives` adds that many derived Chinese
    negatives per Chinese positive (quality); `views` adds the derived short views of training
    documents (`short_views`, domain); `exam` adds a multiple-choice view of each English STEM
    training document (`trivium.mixtures.exam_views`, domain); `windows` adds windows of the long
    documents of small training sources (`source_windows`, domain). `progress(name)` is
    called before each source is read.
    """
    if task not in ("domain", "quality"):
        raise ValueError(f"task must be 'domain' or 'quality', not {task!r}")
    base = os.path.dirname(os.path.abspath(sources_json))
    sources = load_sources(sources_json)
    unknown = set(holdout) - set(sources)
    if unknown:
        raise ValueError(f"holdout names unknown sources: {sorted(unknown)}")
    judge = _contamination_judge(decontam)
    out = SeedData()
    for name in sorted(sources):
        entry = sources[name]
        if only is not None and name not in only:
            continue
        fmt = entry.get("format", "text")
        if fmt not in ("text", "messages", "raw_html") or fmt == "raw_html" and entry.get("bucket") != NOISE:
            out.report[name] = {"skipped": f"format {fmt!r} is not text or messages"}
            continue
        if _label(task, name, entry, {}, False, set(positive_buckets)) is None:
            out.report[name] = {"skipped": f"bucket {entry.get('bucket')!r} has no {task} label"}
            continue
        if progress:
            progress(name)
        shortest = noise_min_chars if entry.get("bucket") == NOISE else min_chars
        rows = [r for r in _source_rows(base, name, entry, markdown=task == "domain")
                if r.get("text") is None or len(r["text"].strip()) >= shortest]
        _add(out, rows, name, entry, task, seed, max_per_source, holdout, subdomains, positive_buckets, judge,
             stem_prose if task == "domain" and entry.get("bucket") == "commonsense" else None)
    if stem_prose is not None and task == "domain":
        from trivium.mixtures.stem_prose import relabel

        if progress:
            progress("STEM prose")
        relabel(out, stem_prose, seed)
    if views and task == "domain":
        short_views(out, seed)
    if exam and task == "domain":
        from trivium.mixtures.exam_views import exam_views

        exam_views(out, seed)
    if windows and task == "domain":  # after the exam views: a window is not cut into an exam item
        source_windows(out, seed)
    if zh_negatives > 0 and task == "quality":
        for split in ("train", "heldout"):
            derived = chinese_negatives(getattr(out, split), zh_negatives, seed)
            getattr(out, split).extend(derived)
            for source, n in sorted(Counter(e.source for e in derived).items()):
                out.report[source] = {"split": split, "used": n, "derived": "Chinese noise", "labels": {QUALITY_NEGATIVE: n}}
    return out


_ROWS: dict[tuple, list[dict]] = {}


def _source_rows(base: str, name: str, entry: dict, markdown: bool = False) -> list[dict]:
    """Every document of a source, read once per process (a build reads the corpus for a twin and the final model).

    `markdown`: a raw-HTML page also gives its Markdown rendering (domain seeds).
    """
    raw = entry.get("format") == "raw_html"
    key = (base, name, json.dumps(entry, sort_keys=True), markdown and raw)
    if key not in _ROWS:
        _ROWS[key] = _html_rows(base, entry, markdown) if raw else _text_rows(base, name, entry)
    return _ROWS[key]


def _text_rows(base: str, name: str, entry: dict) -> list[dict]:
    rows = []
    for fname in entry.get("files", []):
        path = os.path.join(base, name, fname)
        if any(ch in fname for ch in "*?[") or not os.path.exists(path):
            continue
        rows += [r for r in read_records(path) if r.get("text") is not None or r.get("messages")]
    return rows


def _contamination_judge(decontam):
    """`flagged(example) -> benchmark name or None`, from a `DecontamConfig` (None: nothing is flagged)."""
    if decontam is None or not decontam.benchmarks:
        return None
    from trivium.filters.decontam import Decontaminator, document_text

    key = decontam.model_dump_json()
    if key not in _JUDGES:  # one index and one verdict per document per process: builds seed twice
        index, verdicts = Decontaminator(decontam), {}

        def flagged(e: Example) -> str | None:
            doc = (e.source, e.id)
            if doc not in verdicts:
                verdicts[doc] = index.judge_one(document_text(e.text, e.messages))[0]
            return verdicts[doc]

        _JUDGES[key] = flagged
    return _JUDGES[key]


_JUDGES: dict[str, object] = {}


def _add(out: SeedData, rows: list[dict], name: str, entry: dict, task: str, seed: int, max_per_source: int,
         holdout, subdomains: bool, positive_buckets, judge, stem_prose=None) -> None:
    """Sample `max_per_source` rows of one source (seeded by source name) into train or held-out.

    With `stem_prose`, a training source also gives every unsampled document that the STEM-prose
    lexicon rule calls STEM (up to `max_per_source` more): STEM prose is a few percent of an
    encyclopedia, too few in a sample to teach what it looks like.
    """
    rng = random.Random(f"{seed}:{name}")
    picked = sorted(rng.sample(range(len(rows)), min(max_per_source, len(rows))))
    labels: Counter = Counter()
    flagged: Counter = Counter()
    split = "heldout" if name in holdout else "train"
    for i in picked:
        r = rows[i]
        meta = r.get("meta") if isinstance(r.get("meta"), dict) else {}
        label = _label(task, name, entry, meta, subdomains, set(positive_buckets))
        text = plain_math(r.get("text")) if task == "domain" and entry.get("bucket") == "stem" else r.get("text")
        ex = Example(label=label, text=text, messages=as_json_str(r.get("messages")),
                     tools=as_json_str(r.get("tools")), source=name, id=str(r.get("id", "")))
        hit = judge(ex) if judge and split == "train" else None  # held-out rows only measure: test items may stay
        if hit:
            flagged[hit.split(":", 1)[1].split(".")[0]] += 1
            continue
        labels[label] += 1
        (out.heldout if split == "heldout" else out.train).append(ex)
    if stem_prose is not None and split == "train":
        from trivium.mixtures.stem_prose import LABEL, STEM, judge_cached

        chosen, extra = set(picked), 0
        for i, r in enumerate(rows):
            if extra >= max_per_source:
                break
            if i in chosen or judge_cached(f"{name}/{r.get('id', i)}", r.get("text"), stem_prose) != STEM:
                continue
            ex = Example(label=LABEL, text=r["text"], source=name, id=str(r.get("id", "")))
            if not (judge and judge(ex)):
                out.train.append(ex)
                labels[LABEL] += 1
                extra += 1
    out.report[name] = {"split": split, "used": sum(labels.values()), "available": len(rows), "labels": dict(labels)}
    if flagged:
        out.report[name]["decontaminated"] = dict(sorted(flagged.items()))


_CALC = re.compile(r"<<[^<>\n]{0,200}>>")
_FINAL = re.compile(r"^#### *(.+)$", re.MULTILINE)


def plain_math(text: str | None) -> str | None:
    """A worked solution without GSM8K's machine-readable markup: `<<48/2=24>>` calculator annotations
    dropped, the `#### 72` answer line written as a sentence. The domain model should learn what a
    word problem is about, not one data set's markup (other sources' problems have none).
    """
    if not text:
        return text
    return _FINAL.sub(r"The answer is \1.", _CALC.sub("", text))


# ---- short views of training documents (domain) ------------------------------------------------

WORD_PROBLEMS = "stem/word_problems"
FRAGMENT_LABELS = ("noise/boilerplate",)


def short_views(data: SeedData, seed: int, fragments_per_page: int = 6) -> None:
    """Add short views of training documents to `data.train`, in place, counted in each source's report (`views`).

    Documents of unseen sources are often much shorter than the seeds of the same class:
    - **word problems without their solution** (`stem/word_problems`): the question before the
      first blank line, as problem sets print it (a seed with a worked solution teaches that a
      bare question is something else);
    - **fragments of boilerplate pages** (`noise/boilerplate`): 1-4 consecutive lines,
      40-250 characters, cut at seeded places of each page: what short noise (an ad, a promo
      line, a menu scrap) looks like, rather than only whole pages.
    Held-out documents get no views (they only measure).
    """
    rng = random.Random(f"{seed}:short-views")
    added: list[Example] = []
    for e in data.train:
        if e.label == WORD_PROBLEMS and e.text and "\n\n" in e.text:
            question = e.text.split("\n\n", 1)[0].strip()
            if len(question) >= 40:
                added.append(Example(label=e.label, text=question, source=e.source, id=f"{e.id}~question"))
        elif e.label in FRAGMENT_LABELS and e.text:
            added += [Example(label=e.label, text=f, source=e.source, id=f"{e.id}~fragment{j}")
                      for j, f in enumerate(fragments(e.text, fragments_per_page, rng))]
    data.train.extend(added)
    for source, n in sorted(Counter(e.source for e in added).items()):
        data.report.setdefault(source, {})["views"] = n


def fragments(text: str, n: int, rng: random.Random, min_chars: int = 40, max_chars: int = 250,
              max_lines: int = 4) -> list[str]:
    """Up to `n` runs of 1..`max_lines` consecutive non-empty lines of a page (>= 400 characters, >= 3 lines)."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if len(text) < 400 or len(lines) < 3:
        return []
    out = []
    for _ in range(n):
        for _attempt in range(10):
            start = rng.randrange(len(lines))
            piece = "\n".join(lines[start:start + rng.randint(1, max_lines)])[:max_chars]
            if len(piece) >= min_chars:
                out.append(piece)
                break
    return out


WHOLE_PAGE_LABELS = ("noise/boilerplate",)  # a page's middle is its article, not the page's kind


def source_windows(data: SeedData, seed: int, min_docs: int = 300, size: int = 1500, skip: int = 1200) -> None:
    """Windows of long training texts for sources with fewer than `min_docs` training documents, in place.

    A window is whole lines, about `size` characters, past the first `skip` characters (the model
    reads a document's prefix, so the rest of a long document is never seen). Sources are topped
    up to `min_docs` documents with seeded windows, counted in the report (`windows`). Boilerplate
    pages give none: past their menus they are the page's article. Held-out documents get none.
    """
    rng = random.Random(f"{seed}:windows")
    by_source: dict[str, list[Example]] = {}
    for e in data.train:
        if "~" not in e.id:  # documents, not views
            by_source.setdefault(e.source, []).append(e)
    for source, docs in sorted(by_source.items()):
        if len(docs) >= min_docs:
            continue
        pool = [(e, w) for e in docs if e.text and e.label not in WHOLE_PAGE_LABELS for w in windows(e.text, size, skip)]
        rng.shuffle(pool)
        added = [Example(label=e.label, text=w, source=source, id=f"{e.id}~window{j}")
                 for j, (e, w) in enumerate(pool[: min_docs - len(docs)])]
        if added:
            data.train.extend(added)
            data.report.setdefault(source, {})["windows"] = len(added)


def windows(text: str, size: int = 1500, skip: int = 1200, min_chars: int = 400) -> list[str]:
    """Consecutive non-overlapping runs of whole lines of `text`, each about `size` characters (the last
    one kept when at least `min_chars`), of the lines that start after the first `skip` characters."""
    out: list[str] = []
    run: list[str] = []
    pos = length = 0
    for line in text.split("\n"):
        start, pos = pos, pos + len(line) + 1
        if start < skip:  # the model has read this line already
            continue
        run.append(line)
        length += len(line) + 1
        if length >= size:
            out.append("\n".join(run))
            run, length = [], 0
    if length >= min_chars:
        out.append("\n".join(run))
    return out


# ---- derived Chinese noise (quality negatives) -------------------------------------------------

_ZH_PUNCT = re.compile(r"[，。！？；：、「」『』（）《》“”\s]+")
# Words of Chinese site chrome (navigation, footers, share bars): what menu-shaped noise is made of.
ZH_CHROME = ("首页", "关于我们", "联系我们", "登录", "注册", "版权所有", "隐私政策", "返回顶部", "上一页", "下一页",
             "更多", "分享到", "微信", "微博", "客服热线", "免责声明", "网站地图", "热门推荐", "点击查看", "广告服务",
             "首頁", "關於我們", "聯繫我們", "登入", "註冊", "隱私權政策", "網站地圖", "熱門", "更多內容", "下載")


def chinese_negatives(examples: list[Example], per_positive: float, seed: int) -> list[Example]:
    """Derived Chinese noise, `per_positive` per Chinese `hq` example, cut from those examples.

    Three shapes of what a Chinese crawl drops: word salad (the characters of each line shuffled,
    as spam generators do), navigation menus (short unpunctuated fragments and site-chrome
    words, one per line or between separators) and repeated phrases (keyword stuffing).
    """
    zh = [e for e in examples if e.label == QUALITY_POSITIVE and mostly_han(e.text)]
    rng = random.Random(f"{seed}:zh-negatives")
    out = []
    for i in range(int(len(zh) * per_positive)):
        base = zh[rng.randrange(len(zh))]
        kind = ("shuffled", "menu", "repeated")[i % 3]
        out.append(Example(label=QUALITY_NEGATIVE, text=_derive(base.text, kind, rng),
                           source=f"{base.source}~{kind}", id=f"{base.id}~{kind}{i}"))
    return out


def _derive(text: str, kind: str, rng: random.Random) -> str:
    if kind == "shuffled":
        lines = []
        for line in text[:3000].splitlines():
            chars = list(line)
            rng.shuffle(chars)
            lines.append("".join(chars))
        return "\n".join(lines)
    fragments = [f for f in _ZH_PUNCT.split(text[:4000]) if 2 <= len(f) <= 12] or [text[:8]]
    if kind == "menu":
        lines = []
        for _ in range(rng.randint(12, 40)):
            words = [rng.choice(ZH_CHROME) if rng.random() < 0.4 else rng.choice(fragments)[:8]
                     for _ in range(rng.choice((1, 1, 3, 5)))]
            lines.append(rng.choice((" | ", "  ", " > ", " ")).join(words))
        return "\n".join(lines)
    phrase = "".join(rng.sample(fragments, min(3, len(fragments))))
    filler = [phrase] * rng.randint(6, 20) + [rng.choice(fragments) for _ in range(rng.randint(2, 6))]
    return " ".join(filler) + " " + rng.choice(ZH_CHROME)


class _VisibleText(HTMLParser):
    """All text a browser would show, navigation and footers included (what a naive crawl keeps).

    `markdown` writes it as HTML-to-Markdown converters (html2text) do: list items as `* ` bullets
    indented two spaces per nesting level, headings as `#`, blank lines between blocks. The same
    page is boilerplate in either form; a model that saw only flat lines reads an indented menu
    as code.
    """

    SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    BLOCK = frozenset({"p", "div", "br", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
                       "section", "article", "header", "footer", "nav", "table", "form", "blockquote", "pre", "dd", "dt"})

    def __init__(self, markdown: bool = False):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.markdown = markdown
        self.depth = 0  # list nesting

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")
            if not self.markdown:
                return
            if tag in ("ul", "ol"):
                self.depth += 1
            elif tag == "li":
                self.parts.append("\x00" + "  " * max(0, self.depth - 1) + "* \x01")
            elif tag[0] == "h" and tag[1:].isdigit():
                self.parts.append("\x02\n\x00" + "#" * int(tag[1]) + " \x01")
            elif tag in ("p", "div", "table", "section", "article"):
                self.parts.append("\x02\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skip:
            self.skip -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n")
            if self.markdown and tag in ("ul", "ol") and self.depth:
                self.depth -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)

    def text(self) -> str:
        if not self.markdown:
            lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
            return "\n".join(line for line in lines if line)
        out: list[str] = []
        for line in "".join(self.parts).split("\n"):
            marker, body = "", line
            if "\x01" in line:  # a bullet or heading marker opens the line: \x00 marker \x01 text
                head, _, body = line.rpartition("\x01")
                marker = head.rpartition("\x00")[2]
            words = " ".join(body.replace("\x02", "").split())
            if words:
                out.append(marker + words)
            elif "\x02" in line and out and out[-1]:
                out.append("")  # one blank line between paragraphs
        return "\n".join(out).strip()


def html_to_text(html: str, markdown: bool = False) -> str:
    parser = _VisibleText(markdown)
    parser.feed(html)
    parser.close()
    return parser.text()


def _html_rows(base: str, entry: dict, markdown: bool = False) -> list[dict]:
    """Rows of a raw-HTML source: its index (JSONL) names the page files, relative to the corpus folder.

    Each page gives its visible text as flat lines and, with `markdown`, a second document: the
    page as Markdown (`ID~markdown`), the form HTML-to-Markdown extractors give.
    """
    rows = []
    for fname in entry.get("files", []):
        if not fname.endswith((".jsonl", ".jsonl.gz")):
            continue
        for r in read_records(os.path.join(base, fname)):
            path = os.path.join(base, str(r.get("path", "")))
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                html = f.read().decode("utf-8", errors="replace")
            doc_id = r.get("id", path)
            rows.append({"id": doc_id, "text": html_to_text(html)})
            if markdown:
                rows.append({"id": f"{doc_id}~markdown", "text": html_to_text(html, markdown=True)})
    return rows


def labelled_examples(paths: list[str], label_key: str = "label") -> list[Example]:
    """Examples from labelled JSONL(.gz)/Parquet files: a `label` column and `text` or `messages`/`tools`."""
    from trivium.filters.fasttext_text import examples_from_rows

    out: list[Example] = []
    for p in paths:
        out += list(examples_from_rows(read_records(p), label_key, source=os.path.basename(p)))
    return out


def write_labelled(examples: list[Example], path: str) -> None:
    """Write examples as labelled JSONL(.gz): what `trivium classifier eval --input` reads."""
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with opener(path, "wt", encoding="utf-8") as f:
        for e in examples:
            row = {"id": e.id, "source": e.source, "label": e.label, "text": e.text}
            if e.messages is not None:
                row["messages"] = json.loads(e.messages)
                row["tools"] = json.loads(e.tools) if e.tools else None
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
