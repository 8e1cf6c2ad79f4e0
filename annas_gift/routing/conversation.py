"""Flatten a chat request (messages, dict or object) to what the task classifier reads.

Nothing it is given raises: unknown shapes are read as empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple


class Conversation(NamedTuple):
    """A chat request flattened to what the classifier reads."""

    task: str  # the last user turn
    context: str  # earlier user turns
    reply: str  # the last assistant turn
    system: str
    user_turns: int
    assistant_turns: int
    tool_messages: int
    images: int
    max_tokens: int
    tools: int = 0  # tool definitions offered with the request


def _get(obj: Any, key: str) -> Any:
    """Read a field from a dict or an object (Pydantic model, dataclass) alike."""
    if type(obj) is dict:  # the common case, without the slower ABC check below
        return obj.get(key)
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _content_text(content: Any) -> tuple[str, int]:
    """Text of a message's content (str, list of parts or None) and its number of images."""
    if isinstance(content, str):
        return content, 0
    if content is None:
        return "", 0
    if not isinstance(content, Sequence) or isinstance(content, bytes | bytearray):
        return "", 0
    texts: list[str] = []
    images = 0
    for part in content:
        if isinstance(part, str):
            texts.append(part)
            continue
        kind = _get(part, "type")
        if kind in ("image_url", "image", "input_image"):
            images += 1
        text = _get(part, "text")
        if isinstance(text, str):
            texts.append(text)
    return "\n".join(texts), images


def _request_options(request: Any) -> tuple[Any, int, int]:
    """(messages, max_tokens, number of tools offered) of a request object or dict."""
    max_tokens = tools = 0
    offered = _get(request, "tools") or _get(request, "functions")
    if isinstance(offered, Sequence) and not isinstance(offered, str | bytes | bytearray):
        tools = len(offered)
    for key in ("max_tokens", "max_completion_tokens"):
        value = _get(request, key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            max_tokens = value
            break
    return _get(request, "messages"), max_tokens, tools


def flatten_request(request: Any) -> Conversation:
    """Flatten a message list, or an object/dict with messages and max_tokens, to a Conversation."""
    if isinstance(request, str):
        return Conversation(request, "", "", "", 1, 0, 0, 0, 0)
    messages: Any = request
    max_tokens = tools = 0
    if type(request) is not list and not isinstance(request, Sequence):
        messages, max_tokens, tools = _request_options(request)
    if type(messages) is not list and (
        not isinstance(messages, Sequence) or isinstance(messages, str | bytes | bytearray)
    ):
        messages = ()
    users: list[str] = []
    systems: list[str] = []
    reply = ""
    assistant_turns = tool_messages = images = 0
    for message in messages:
        role = _get(message, "role")
        text, n_images = _content_text(_get(message, "content"))
        images += n_images
        if role in ("system", "developer"):
            systems.append(text)
        elif role == "assistant":
            assistant_turns += 1
            reply = text
            # Tool calls the model made earlier mean an agent loop, whatever the text says.
            if _get(message, "tool_calls"):
                tool_messages += 1
        elif role in ("tool", "function"):
            tool_messages += 1
        else:
            users.append(text)
    if users:
        task, context = users[-1], "\n".join(users[:-1])
    else:
        # No user turn: classify what there is rather than nothing.
        task, context = "\n".join(systems), ""
    system = "\n".join(systems) if users else ""
    return Conversation(
        task,
        context,
        reply if users else "",
        system,
        len(users),
        assistant_turns,
        tool_messages,
        images,
        max_tokens,
        tools,
    )
