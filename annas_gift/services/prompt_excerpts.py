"""`logging.store_prompts`: the start of a request's last user message, kept with its usage rows.

Off by default, and then nothing is taken from the prompt at all. On, the excerpt is stored in
`usage_records.prompt_excerpt` and shown on the dashboard's Recent requests page; it is never
logged (the event hides it from repr(), and no log line formats a usage row).
"""

from __future__ import annotations

from annas_gift.core.types import ChatInput
from annas_gift.routing.conversation import flatten_request

EXCERPT_CHARS = 500  # at most this many characters are stored, the ellipsis included
ELLIPSIS = "…"


def no_prompt_excerpt(inp: ChatInput) -> str | None:
    """`logging.store_prompts` off: nothing."""
    return None


def prompt_excerpt(inp: ChatInput) -> str | None:
    """The last user message's text (content parts joined), cut to EXCERPT_CHARS; None if empty."""
    text = flatten_request(inp.messages).task.strip()
    if not text:
        return None
    if len(text) > EXCERPT_CHARS:
        text = text[: EXCERPT_CHARS - len(ELLIPSIS)].rstrip() + ELLIPSIS
    return text
