"""Is this text code (or LaTeX/markup)? A cheap shape test that language ID and the quality model share,
so code is neither dropped as an unknown language nor scored as poor prose."""

from __future__ import annotations

import re

# Characters that are common in code/LaTeX and rare in prose.
_CODE_SYMBOLS = re.compile(r"[{}\[\]();=<>\\_$^|&*#/+]")
# A line that only code or markup would have: indented, ending in a block/statement mark, or a keyword.
_CODE_LINE = re.compile(
    r"^(?:[ \t]{2,}\S|.*[{};:)]\s*$|\s*(?:def |class |import |from \S+ import|#include|function |return\b|\\begin|"
    r"\\end|\\item|@))"
)
_LATEX_COMMAND = re.compile(r"\\[a-zA-Z]+")


def looks_like_code(text: str, symbol_ratio: float) -> bool:
    """Source code or LaTeX/markup: dense in code symbols and mostly code-shaped lines, or LaTeX commands."""
    sample = text[:8000]
    lines = [ln for ln in sample.splitlines() if ln.strip()]
    if not lines:
        return False
    if len(_LATEX_COMMAND.findall(sample)) >= 0.03 * max(1, len(sample.split())):
        return True
    symbols = len(_CODE_SYMBOLS.findall(sample)) / len(sample)
    code_lines = sum(1 for ln in lines if _CODE_LINE.match(ln)) / len(lines)
    return symbols >= symbol_ratio and code_lines >= 0.4
