"""The chat template (messages + tools + thinking) and its renderer.

One Jinja template serves three users: it is exported in ``tokenizer_config.json`` (so
``transformers``' ``apply_chat_template`` renders conversations), trivium renders
conversation rows with it to text for tokenizer training, and mixtures/ renders agentic
rows with it for pretraining. ``render_conversation`` uses a Jinja environment configured
like ``transformers``' (sandboxed, ``trim_blocks``/``lstrip_blocks``, the same ``tojson``),
so both renderings are identical.

Layout (special tokens in angle brackets)::

    <|begin_of_text|>{system}\n\n# Tools ... <tools>\n{tool json per line}\n</tools> ...
    <|User|>{user}
    <|Assistant|><think>\n{reasoning}\n</think>\n\n{content}
        <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call><|end_of_text|>
    <|User|><tool_response>\n{tool output}\n</tool_response>   (one User turn per run of tool messages)
    <|Assistant|>                                              (generation prompt)

Each assistant turn after its ``<|Assistant|>`` header (reasoning, content, tool calls and the
closing ``<|end_of_text|>``) sits in a ``{% generation %}`` block: ``transformers``'
``return_assistant_tokens_mask=True`` masks exactly those characters, and
``render_conversation_spans`` returns the same character spans for the loss mask of
pretraining rows.

OpenAI-format rows are accepted as they are: ``content`` may be null or a list of
``{"type": "text", "text": ...}`` parts, ``tool_calls[].function.arguments`` may be a JSON
string (emitted verbatim) or an object (emitted with ``tojson``); reasoning is read from
``reasoning_content`` (or ``thinking``).
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import Any

import jinja2.ext
import jinja2.nodes

from .special_tokens import BOS

CHAT_TEMPLATE = r"""{%- macro render_content(content) -%}
{%- if content is none -%}
{%- elif content is string -%}{{ content }}
{%- elif content is mapping -%}{{ content | tojson }}
{%- elif content is iterable -%}
{%- for part in content -%}
{%- if part is string -%}{{ part }}
{%- elif part.type == 'text' -%}{{ part.text }}
{%- else -%}{{ part | tojson }}
{%- endif -%}
{%- endfor -%}
{%- else -%}{{ content | string }}
{%- endif -%}
{%- endmacro -%}
{%- macro render_tool_call(tool_call) -%}
{%- if tool_call.function is defined -%}{%- set fn = tool_call.function -%}{%- else -%}{%- set fn = tool_call -%}{%- endif -%}
{{- '<tool_call>\n{"name": "' + fn.name + '", "arguments": ' -}}
{%- if fn.arguments is string -%}{{ fn.arguments }}{%- else -%}{{ (fn.arguments if fn.arguments is defined and fn.arguments is not none else {}) | tojson }}{%- endif -%}
{{- '}\n</tool_call>' -}}
{%- endmacro -%}
{{- bos_token -}}
{%- set ns = namespace(start=0) -%}
{%- if messages and messages[0].role == 'system' -%}
{{- render_content(messages[0].content) -}}
{%- set ns.start = 1 -%}
{%- endif -%}
{%- if tools -%}
{%- if ns.start == 1 -%}{{- '\n\n' -}}{%- endif -%}
{{- '# Tools\n\nYou may call one or more functions to assist with the user query. The available functions are given as JSON schemas inside <tools></tools>:\n<tools>' -}}
{%- for tool in tools -%}{{- '\n' + (tool | tojson) -}}{%- endfor -%}
{{- '\n</tools>\n\nTo call a function, reply with its name and arguments as a JSON object inside tool-call tags:\n<tool_call>\n{"name": <function-name>, "arguments": <arguments-json-object>}\n</tool_call>' -}}
{%- endif -%}
{%- for message in messages[ns.start:] -%}
{%- if message.role == 'user' or message.role == 'system' -%}
{{- '<|User|>' + render_content(message.content) -}}
{%- elif message.role == 'assistant' -%}
{{- '<|Assistant|>' -}}
{%- generation -%}
{%- set reasoning = message.reasoning_content if message.reasoning_content is defined and message.reasoning_content else (message.thinking if message.thinking is defined and message.thinking else '') -%}
{%- if reasoning -%}{{- '<think>\n' + reasoning + '\n</think>\n\n' -}}{%- endif -%}
{{- render_content(message.content) -}}
{%- if message.tool_calls is defined and message.tool_calls -%}
{%- for tool_call in message.tool_calls -%}
{%- if not loop.first or (message.content is not none and message.content) -%}{{- '\n' -}}{%- endif -%}
{{- render_tool_call(tool_call) -}}
{%- endfor -%}
{%- endif -%}
{{- '<|end_of_text|>' -}}
{%- endgeneration -%}
{%- elif message.role == 'tool' or message.role == 'function' or message.role == 'ipython' -%}
{%- if loop.first or loop.previtem.role not in ['tool', 'function', 'ipython'] -%}{{- '<|User|>' -}}{%- else -%}{{- '\n' -}}{%- endif -%}
{{- '<tool_response>\n' + render_content(message.content) + '\n</tool_response>' -}}
{%- else -%}
{{- raise_exception('unknown message role: ' + message.role) -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|Assistant|>' -}}
{%- if enable_thinking is defined and not enable_thinking -%}{{- '<think>\n\n</think>\n\n' -}}{%- endif -%}
{%- endif -%}
"""


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # the same filter transformers installs (Jinja's default escapes HTML characters)
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message):
    from jinja2.exceptions import TemplateError

    raise TemplateError(message)


class GenerationTracker(jinja2.ext.Extension):
    """``{% generation %}`` ... ``{% endgeneration %}``, as ``transformers``' AssistantTracker: while a render
    is tracked, each block's [start, end) character offsets in the output are recorded."""

    tags = {"generation"}

    def __init__(self, environment):
        super().__init__(environment)
        self.state = threading.local()

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_track"), [], [], body).set_lineno(lineno)

    def _track(self, caller):
        text = caller()
        blocks = getattr(self.state, "blocks", None)
        if blocks is not None:  # the template's top level has yielded everything before this block
            start = sum(len(b) for b in blocks)
            self.state.spans.append((start, start + len(text)))
        return text


@lru_cache(maxsize=4)
def _compiled(template: str):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTracker, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    return env.from_string(template)


def _template_args(messages, tools, add_generation_prompt: bool, bos_token: str, kwargs: dict) -> dict:
    if isinstance(tools, str):  # some datasets store tools as a JSON string
        tools = json.loads(tools) if tools.strip() else None
    if isinstance(messages, str):
        messages = json.loads(messages)
    msgs = [m if isinstance(m, dict) else dict(m) for m in messages]  # pyarrow/pandas rows
    return dict(messages=msgs, tools=tools or None, add_generation_prompt=add_generation_prompt,
                bos_token=bos_token, **kwargs)


def render_conversation(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    *,
    add_generation_prompt: bool = False,
    bos_token: str = BOS,
    template: str = CHAT_TEMPLATE,
    **kwargs: Any,
) -> str:
    """Render an OpenAI-format conversation to text with the chat template."""
    return _compiled(template).render(**_template_args(messages, tools, add_generation_prompt, bos_token, kwargs))


def render_conversation_spans(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    *,
    add_generation_prompt: bool = False,
    bos_token: str = BOS,
    template: str = CHAT_TEMPLATE,
    **kwargs: Any,
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the half-open character spans of its ``{% generation %}`` blocks
    (the assistant turns), as ``transformers`` computes them for ``return_assistant_tokens_mask``."""
    compiled = _compiled(template)
    tracker = next(e for e in compiled.environment.extensions.values() if isinstance(e, GenerationTracker))
    blocks: list[str] = []
    tracker.state.blocks, tracker.state.spans = blocks, []
    try:
        for block in compiled.generate(**_template_args(messages, tools, add_generation_prompt, bos_token, kwargs)):
            blocks.append(block)
        return "".join(blocks), [s for s in tracker.state.spans if s[1] > s[0]]
    finally:
        tracker.state.blocks = tracker.state.spans = None
