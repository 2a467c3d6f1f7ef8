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

OpenAI-format rows are accepted as they are: ``content`` may be null or a list of
``{"type": "text", "text": ...}`` parts, ``tool_calls[].function.arguments`` may be a JSON
string (emitted verbatim) or an object (emitted with ``tojson``); reasoning is read from
``reasoning_content`` (or ``thinking``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

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


@lru_cache(maxsize=4)
def _compiled(template: str):
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    return env.from_string(template)


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
    if isinstance(tools, str):  # some datasets store tools as a JSON string
        tools = json.loads(tools) if tools.strip() else None
    msgs = []
    for m in messages:
        if isinstance(m, dict):
            msgs.append(m)
        else:  # pyarrow/pandas rows
            msgs.append(dict(m))
    return _compiled(template).render(
        messages=msgs, tools=tools or None, add_generation_prompt=add_generation_prompt, bos_token=bos_token, **kwargs
    )
