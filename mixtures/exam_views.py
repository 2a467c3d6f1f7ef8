"""Exam-shaped views of training documents (domain seeds): multiple-choice items cut from a document.

The only multiple-choice exam items among the seeds are Chinese (GAOKAO): in English, an exam
question about biology or astronomy looked like nothing the model had seen, and short MMLU-style
items of sources never seen read as commonsense or noise. Each English training document of the
buckets named (STEM by default) also becomes one item in the shape exams print:

- **cloze**: one sentence of the document with a content word blanked, the answer and other
  content words of the same document as options;
- **statements**: "Which of the following statements is true?" with sentences of the document
  as options.

Options are lettered `A.` or `(A)`, four or five of them, sometimes followed by `Answer: X`. The
item keeps the document's label and its words are the document's own. Word
problems are skipped (they have their own exam form); documents with fewer than four sentences or
eight content words give no item. Each item is drawn from a generator seeded by
(seed, source, id): the same document gives the same item whatever else is in the seeds.
Held-out documents get no views (they only measure).

Measured held out (`benchmarks/classify.py --train-seeds 2`, 3 folds of whole sources): STEM
documents only lift macro-F1 by about two points and STEM recall above 0.90 (MMLU-STEM items
read as STEM); the same views of STEM *and* commonsense documents (the exam format saying
nothing of the bucket) did not beat the recipe without views: commonsense items made short
one-line web fragments read as commonsense.
"""

from __future__ import annotations

import random
import re
from collections import Counter

from trivium.filters.fasttext_text import Example

LETTERS = "ABCDE"
SKIP_LABELS = frozenset({"stem/word_problems"})
# Function words and reporting verbs: never the blank of a cloze or an option.
STOP = frozenset("""about above after again against along also although among another around because been before
being below between both cannot could during each either every first from further having here however into
itself just least less like made make many might more most much must neither never only other others otherwise
over perhaps quite rather same several shall should since some such than that their them then there these they
this those though through thus together under until upon very were what when where whether which while whom
whose with within without would your yours said says known called later early years year often used using
became become""".split())
STATEMENT_PROMPTS = ("Which of the following statements is true?", "Which of the following is correct?",
                     "Which statement is best supported by the passage?", "Which of the following is NOT true?")
CLOZE_PROMPTS = ("", "Which of the following best completes the sentence?\n", "Fill in the blank.\n")

_SENTENCE = re.compile(r"[A-Z][^.!?\n]{30,280}[.!?]")
_CONTENT = re.compile(r"\b[A-Za-z][a-z]{4,}\b")
_LATIN = re.compile(r"[A-Za-z]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def is_english(text: str) -> bool:
    """Latin words outnumber Han characters three to one in the first 3,000 characters."""
    head = text[:3000]
    return len(_LATIN.findall(head)) > 3 * len(_HAN.findall(head))


def exam_item(text: str, rng: random.Random, cloze: float = 0.5) -> str | None:
    """One multiple-choice item cut from `text` (English prose), or None when it has too few sentences or words."""
    body = text[:8000]
    sentences = [s.strip() for s in _SENTENCE.findall(body) if 8 <= len(s.split()) <= 50]
    words = sorted({w for w in _CONTENT.findall(body) if w.lower() not in STOP})
    if len(sentences) < 4 or len(words) < 8:
        return None
    n = min(rng.choice((4, 4, 4, 5)), len(sentences))
    if rng.random() < cloze:
        for _ in range(10):
            sentence = rng.choice(sentences)
            blanks = [w for w in _CONTENT.findall(sentence) if w.lower() not in STOP]
            if blanks:
                break
        else:
            return None
        answer = rng.choice(blanks)
        options = rng.sample([w for w in words if w != answer], n - 1) + [answer]
        rng.shuffle(options)
        question = rng.choice(CLOZE_PROMPTS) + sentence.replace(answer, "_____", 1)
    else:
        options = [s if len(s) <= 120 else s[:120].rsplit(" ", 1)[0] for s in rng.sample(sentences, n)]
        answer = options[rng.randrange(n)]
        question = rng.choice(STATEMENT_PROMPTS)
    paren = rng.random() < 0.5
    lines = [f"({LETTERS[i]}) {o}" if paren else f"{LETTERS[i]}. {o}" for i, o in enumerate(options)]
    item = question + "\n\n" + "\n".join(lines)
    if rng.random() < 0.6:
        item += f"\n\nAnswer: {LETTERS[options.index(answer)]}"
    return item


def exam_views(data, seed: int, buckets: tuple[str, ...] = ("stem",), cloze: float = 0.5) -> None:
    """Add one exam item per eligible training document of `buckets` to `data.train` (a `SeedData`), in place;
    each source's report counts them (`exam_views`)."""
    from trivium.mixtures.domain import bucket_of

    added: list[Example] = []
    for e in data.train:
        if (not e.text or e.messages or e.label in SKIP_LABELS or bucket_of(e.label) not in buckets
                or not is_english(e.text)):
            continue
        item = exam_item(e.text, random.Random(f"{seed}:exam:{e.source}:{e.id}"), cloze)
        if item:
            added.append(Example(label=e.label, text=item, source=e.source, id=f"{e.id}~exam"))
    data.train.extend(added)
    for source, n in sorted(Counter(e.source for e in added).items()):
        data.report.setdefault(source, {})["exam_views"] = n
