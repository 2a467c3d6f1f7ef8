"""Agentic rows (`messages` + `tools`, OpenAI chat format) rendered to training text with loss spans.

The text is the tokenizer's chat template (`trivium.tokenizer.chat_template`), so it is what
`transformers`' `apply_chat_template` gives; `loss_spans` are the template's `{% generation %}`
blocks (the assistant turns), the same characters `return_assistant_tokens_mask` marks.
With `loss: all` every character counts and `loss_spans` is null (the Document contract: null
means the whole document counts).

Two reasoning styles get explicit tags before rendering:
- the five-phase agentic chain of thought: an assistant message with any of `analysis`, `plan`,
  `action`, `reflection`, `summary` (or a `phases` mapping of them) reasons inside
  `<think>` as `<analysis>...</analysis>`, `<plan>...</plan>`, ... in that order;
- ReAct text traces: content of the form `Thought: ...` followed by `Action: ...` moves the
  thought into `<think>` and keeps the action as the content.
"""

from __future__ import annotations

import json
import re
from typing import Any

from trivium.tokenizer.chat_template import render_conversation_spans

PHASES = ("analysis", "plan", "action", "reflection", "summary")
_REACT_RE = re.compile(r"\s*Thought(?:\s*\d+)?\s*:\s*(?P<thought>.*?)\s*\n\s*(?P<rest>Action(?:\s*\d+)?\s*:.*)", re.S)


def _reasoning_of(message: dict) -> str | None:
    existing = message.get("reasoning_content") or message.get("thinking")
    if existing:
        return None
    phases = message.get("phases") if isinstance(message.get("phases"), dict) else message
    parts = [f"<{p}>\n{phases[p]}\n</{p}>" for p in PHASES if isinstance(phases.get(p), str) and phases[p]]
    return "\n".join(parts) or None


def normalize_message(message: dict[str, Any]) -> dict[str, Any]:
    """An assistant message with its reasoning made explicit (see the module docstring)."""
    if message.get("role") != "assistant":
        return message
    reasoning = _reasoning_of(message)
    if reasoning:
        rest = {k: v for k, v in message.items() if k not in PHASES and k != "phases"}
        return rest | {"reasoning_content": reasoning}
    content = message.get("content")
    if isinstance(content, str) and not (message.get("reasoning_content") or message.get("thinking")):
        m = _REACT_RE.fullmatch(content)
        if m:
            return message | {"reasoning_content": m.group("thought"), "content": m.group("rest")}
    return message


def render_messages(messages, tools=None, loss: str = "assistant") -> tuple[str, list[tuple[int, int]] | None]:
    """(text, loss_spans) of one conversation; `messages`/`tools` may be JSON strings (as ingest stores them)."""
    if isinstance(messages, str):
        messages = json.loads(messages)
    if isinstance(tools, str):
        tools = json.loads(tools) if tools.strip() else None
    text, spans = render_conversation_spans([normalize_message(dict(m)) for m in messages], tools)
    return text, (None if loss == "all" else spans)
