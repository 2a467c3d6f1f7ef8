"""The text-statistics kernel on hand-made texts, each value computed by hand from datatrove's definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trivium.kernels.textstats import STATS, StatParams, route_stats, text_stats, words


def stats_of(text: str, **params) -> dict:
    st = text_stats([text], StatParams(**params))
    out = {name: float(v) for name, v in zip(STATS, st.values[0])}
    out |= {f"top_{n}": float(st.top_share(n)[0]) for n in st.params.top_n}
    out |= {f"dup_{n}": float(st.dup_share(n)[0]) for n in st.params.dup_n}
    return out | {"c4_drop": int(st.c4_drop[0])}


def test_empty_text_has_no_ratios():
    s = stats_of("")
    assert s["chars"] == 0 and s["words"] == 0
    assert all(math.isnan(s[k]) for k in ("alpha_ratio", "mean_word_length", "dup_line_frac", "line_punct_ratio"))


def test_one_word():
    s = stats_of("hello")
    assert (s["chars"], s["words"], s["non_symbol_words"], s["mean_word_length"], s["alpha_ratio"]) == (5, 1, 1, 5, 1)
    assert (s["stop_words"], s["hash_ratio"], s["dup_line_frac"], s["dup_para_frac"]) == (0, 0, 0, 0)
    # one line of one word: C4 keeps no line (fewer than 3 words), FineWeb sees one short line without a stop
    assert (s["c4_sentences"], s["line_punct_ratio"], s["short_line_ratio"], s["lines"], s["newline_ratio"]) == (0, 0, 1, 1, 0)
    assert s["top_2"] == 0 and s["dup_5"] == 0  # no 2-gram at all


def test_only_punctuation():
    # spaCy: prefixes "!" "!" "!", the dot run "...", then "?" "?" "?": 7 words, none with a letter
    assert words("!!! ... ???") == ["!", "!", "!", "...", "?", "?", "?"]
    s = stats_of("!!! ... ???")
    assert (s["words"], s["non_symbol_words"], s["alpha_ratio"]) == (7, 0, 0)
    assert math.isnan(s["mean_word_length"])  # mean over no non-symbol word (datatrove: nan, no rule fires)
    assert s["ellipsis_ratio"] == pytest.approx(1 / 7)
    # 2-grams "! !" and "? ?" both twice; the first one seen wins the tie: 3 chars x 2 / 11
    assert s["top_2"] == pytest.approx(6 / 11)
    assert (s["c4_sentences"], s["line_punct_ratio"]) == (1, 1)


def test_cjk_without_spaces():
    # spaCy's rule tokenizer (what datatrove 0.10 uses for zh) splits only the final "。"
    text = "北京是首都。上海是城市。"
    assert words(text, "xx") == ["北京是首都。上海是城市", "。"]
    s = stats_of(text, word_tokenizer="xx")
    assert (s["chars"], s["words"], s["non_symbol_words"], s["mean_word_length"], s["alpha_ratio"]) == (12, 2, 1, 11, 0.5)
    assert (s["line_punct_ratio"], s["short_line_ratio"]) == (1, 1)  # "。" is terminal punctuation


def test_replacement_character_from_upstream():
    # ingest replaces what it cannot decode with U+FFFD: a symbol token of its own, not a letter
    assert words("a\ufffdb c") == ["a", "\ufffd", "b", "c"]
    s = stats_of("a\ufffdb c")
    assert (s["chars"], s["words"], s["non_symbol_words"], s["alpha_ratio"]) == (5, 4, 4, 0.75)


def test_a_megabyte_of_one_repeated_line():
    line = "the cat sat on the mat.\n"  # 24 chars, 7 words
    n = 1_000_000 // len(line)
    s = stats_of(line * n)
    assert s["chars"] == 24 * n and s["words"] == 7 * n
    # re.split("\n+") gives n lines plus a trailing "": n - 1 duplicates of 23 chars
    assert s["dup_line_frac"] == pytest.approx((n - 1) / (n + 1))
    assert s["dup_line_char_frac"] == pytest.approx((n - 1) * 23 / (24 * n))
    assert s["dup_para_frac"] == 0  # no blank line: one paragraph
    # top 2-gram: "the cat" ties with "cat sat", "the mat", ... (n each) and comes first: 7 chars x n
    assert s["top_2"] == pytest.approx(7 * n / (24 * n))
    assert s["top_3"] == pytest.approx(11 * n / (24 * n))
    assert s["stop_words"] == 1  # "the" ("on" is not in Gopher's list)
    assert (s["c4_sentences"], s["line_punct_ratio"], s["short_line_ratio"], s["lines"]) == (n, 1, 1, n)
    assert s["char_dup_ratio"] == pytest.approx((n - 1) * 23 / (23 * n))
    assert s["newline_ratio"] == pytest.approx(1 / 7)
    # duplicated 5-grams are joined without spaces: all but the first line's 18 word characters, of 24 per line
    assert 18 * (n - 2) / (24 * n) <= s["dup_5"] <= 18 / 24


def test_paragraphs_ellipsis_hashes_bullets():
    text = "# A\n\n- one two three...\n- one two three...\n\n# A"
    s = stats_of(text)
    # paragraphs "# A", "- one ...\n- one ...", "# A": one duplicate of 3 chars
    assert s["dup_para_frac"] == pytest.approx(1 / 3) and s["dup_para_char_frac"] == pytest.approx(3 / len(text))
    # splitlines: "# A", "", "- ...", "- ...", "", "# A" -> 2 bullets, 2 ending in "..."
    assert s["bullet_lines_ratio"] == pytest.approx(2 / 6) and s["ellipsis_lines_ratio"] == pytest.approx(2 / 6)
    assert s["hash_ratio"] == pytest.approx(2 / s["words"]) and s["ellipsis_ratio"] == pytest.approx(2 / s["words"])


def test_c4_line_rules():
    assert stats_of("Lorem ipsum dolor sit amet.")["c4_drop"] == 1
    assert stats_of("We use a { here today.")["c4_drop"] == 2
    assert stats_of("We use a { here today", c4=(("filter_no_terminal_punct", 1),))["c4_drop"] == 0  # line skipped
    two = "It rained. Then it stopped! Was it over? Yes. [1]\nJavascript is needed to see this page."
    # the javascript line is dropped; removing the citation leaves "Yes. " that no longer ends in a stop,
    # so with the terminal-punctuation rule (C4's default) datatrove keeps no line at all
    assert stats_of(two, c4=(("filter_no_terminal_punct", 0),))["c4_sentences"] == 4
    assert stats_of(two)["c4_sentences"] == 0


def test_fineweb_after_c4_reads_the_lines_c4_kept():
    text = "Short\nA full sentence here.\nAnother full sentence."
    alone, after = stats_of(text), stats_of(text, fineweb_after_c4=True)
    assert alone["lines"] == 3 and alone["line_punct_ratio"] == pytest.approx(2 / 3)
    assert after["lines"] == 2 and after["line_punct_ratio"] == 1  # "Short" has fewer than 3 words


def test_route_signals():
    code = "import os\n\ndef f(x):\n    return x + 1\n"
    prose = "The cat sat on the mat. It was a sunny day."
    exam = "Which is larger?\nA. 1\nB. 2\nC. 3\n"
    r = route_stats([code, prose, exam, ""])
    assert r[0, 2] == 3 and r[0, 1] == 1  # three keyword lines, every line code-shaped
    assert r[1, 2] == 0 and r[1, 1] == 0
    assert r[2, 7] == 3  # option lines
    assert np.isnan(r[3, 0])


def test_batches_are_independent_of_their_neighbours():
    texts = ["one two three. " * 40, "", "北京是首都。", None, "a\nb\n\nc"]
    together = text_stats(texts).values
    alone = np.vstack([text_stats([t]).values for t in texts])
    assert np.array_equal(np.nan_to_num(together, nan=-1), np.nan_to_num(alone, nan=-1))
