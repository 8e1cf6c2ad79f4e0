"""What the sandbox answers a chat request: echo text, a JSON instance, or a scripted tool call.

    reply=<text> (behaviour)       that text, whatever else the request asks
    tools (tool_choice not none)   a call of one tool, arguments valid against its parameters;
                                   after a tool result (last message role "tool") under "auto",
                                   a text reply quoting the result instead, so agent loops end
    response_format json_schema    a small instance of the schema (see schema_instance)
    response_format json_object    {"reply": <the echo text>}
    otherwise                      the echo text (payloads.default_reply)

The tool is the one tool_choice names, else the one whose name and description share the most
words with the last user message (the first tool on a tie).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from annas_gift.sandbox.behavior import Behavior
from annas_gift.sandbox.payloads import default_reply, last_text, split_reply
from annas_gift.sandbox.schema_instance import schema_instance

MAX_CHOICES = 128
MAX_TOP_LOGPROBS = 20
ARGUMENT_TEXT_CHARS = 60
_WORD = re.compile(r"[a-z0-9]+")


class OptionsError(ValueError):
    """A chat request option the sandbox (like OpenAI) rejects; the message says which."""


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """The request fields that shape the reply beyond the messages."""

    n: int = 1
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None
    logprobs: bool = False
    top_logprobs: int = 0


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call in an assistant message."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Reply:
    """What every choice says: content pieces, or a tool call whose arguments come in pieces."""

    pieces: list[str]
    finish: str
    tool_call: ToolCall | None = None


def _positive_int(body: dict[str, Any], key: str, default: int, high: int) -> int:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise OptionsError(f"'{key}' must be an integer between 0 and {high}")
    return value


def _tools(body: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    tools = body.get("tools")
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise OptionsError("'tools' must be an array")
    functions = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
        ):
            raise OptionsError(
                f"tools[{i}] must be {{'type': 'function', 'function': {{'name'...}}}}"
            )
        functions.append(function)
    return tuple(functions)


def _response_format(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
        if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), dict):
            raise OptionsError("response_format.json_schema.schema must be an object")
        return {"type": "json_schema", "schema": spec.get("schema", {})}
    raise OptionsError("response_format.type must be text, json_object or json_schema")


def parse_options(body: dict[str, Any]) -> ChatOptions:
    """The reply-shaping options of a chat request; raise OptionsError if one is invalid."""
    n = _positive_int(body, "n", 1, MAX_CHOICES)
    if n < 1:
        raise OptionsError(f"'n' must be an integer between 1 and {MAX_CHOICES}")
    logprobs = body.get("logprobs")
    if logprobs is not None and not isinstance(logprobs, bool):
        raise OptionsError("'logprobs' must be a boolean")
    top = _positive_int(body, "top_logprobs", 0, MAX_TOP_LOGPROBS)
    if top and not logprobs:
        raise OptionsError("'top_logprobs' needs 'logprobs': true")
    tools = _tools(body)
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name not in {t["name"] for t in tools}:
            raise OptionsError(f"tool_choice names {name!r}, which is not in 'tools'")
    elif choice not in (None, "auto", "none", "required"):
        raise OptionsError("tool_choice must be none, auto, required or a named function")
    return ChatOptions(
        n=n,
        tools=tools,
        tool_choice=choice,
        response_format=_response_format(body),
        logprobs=bool(logprobs),
        top_logprobs=top,
    )


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def choose_tool(tools: tuple[dict[str, Any], ...], choice: Any, prompt: str) -> dict[str, Any]:
    """The tool tool_choice names, else the best word overlap with the prompt (first on a tie)."""
    if isinstance(choice, dict):
        name = choice["function"]["name"]
        return next(t for t in tools if t["name"] == name)
    asked = _words(prompt)

    def overlap(tool: dict[str, Any]) -> int:
        described = f"{tool['name'].replace('_', ' ')} {tool.get('description') or ''}"
        return len(asked & _words(described))

    return max(tools, key=overlap)  # max keeps the first of equal scores


def _after_tool_result(messages: list[Any]) -> bool:
    return bool(messages) and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool"


def _calls_tool(options: ChatOptions, messages: list[Any]) -> bool:
    if not options.tools or options.tool_choice == "none":
        return False
    if options.tool_choice in (None, "auto"):
        return not _after_tool_result(messages)
    return True


def _short(text: str) -> str:
    return text if len(text) <= ARGUMENT_TEXT_CHARS else text[:ARGUMENT_TEXT_CHARS]


def plan_reply(
    model: str,
    messages: list[Any],
    behavior: Behavior,
    options: ChatOptions,
    max_tokens: int | None,
) -> Reply:
    """The reply every choice gives (see the module docstring for the precedence)."""
    prompt = last_text(messages, "user")
    if behavior.reply is None and _calls_tool(options, messages):
        tool = choose_tool(options.tools, options.tool_choice, prompt)
        arguments = json.dumps(schema_instance(tool.get("parameters") or {}, _short(prompt)))
        if not isinstance(json.loads(arguments), dict):
            arguments = "{}"  # a parameters schema that is not an object: call with no arguments
        call = ToolCall(f"call_{uuid.uuid4().hex[:24]}", tool["name"], arguments)
        pieces, _ = split_reply(arguments, None)
        return Reply(pieces, "tool_calls", call)
    if behavior.reply is not None:
        text = behavior.reply
    elif options.tools and _after_tool_result(messages):
        text = f"[sandbox {model}] tool result: {_short(last_text(messages, 'tool'))}"
    elif options.response_format and options.response_format["type"] == "json_schema":
        text = json.dumps(schema_instance(options.response_format["schema"], _short(prompt)))
    elif options.response_format:
        text = json.dumps({"reply": default_reply(model, messages)})
    else:
        text = default_reply(model, messages)
    pieces, finish = split_reply(text, max_tokens)
    return Reply(pieces, finish)
