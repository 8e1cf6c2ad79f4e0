"""Keeps prompts out of logs: third-party debug loggers that print request bodies are silenced.

At DEBUG the OpenAI SDK logs every request's options (the messages included), httpx/httpcore
log what they send, LiteLLM logs the whole call, and the database drivers log statement
parameters (a stored prompt excerpt among them). Unless `logging.log_prompts` is on, records
below INFO from those loggers (and their children) are dropped, by three means so that none is
enough to undo it: their level is raised to INFO, a filter on each of them, and a filter on the
root logger's handlers (which also catches children and a library that lowers its level later).
"""

from __future__ import annotations

import logging

# Loggers that carry request or response bodies at DEBUG; children (httpcore.http11) included.
# aiosqlite and SQLAlchemy's engine log statement parameters there, which hold the prompt
# excerpt of a usage row when `logging.store_prompts` is on.
BODY_LOGGERS = (
    "openai", "httpx", "httpcore", "litellm", "LiteLLM", "LiteLLM Router",
    "aiosqlite", "sqlalchemy.engine",
)  # fmt: skip


def carries_bodies(name: str) -> bool:
    """True for the loggers in BODY_LOGGERS and their children."""
    return any(name == root or name.startswith(root + ".") for root in BODY_LOGGERS)


class PromptFilter(logging.Filter):
    """Drops records below INFO from the body-carrying loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False (drop) for a debug record of a logger that may hold a prompt."""
        return record.levelno >= logging.INFO or not carries_bodies(record.name)


PROMPT_FILTER = PromptFilter("prompt-safety")
_raised: set[str] = set()  # loggers whose level install() raised, to restore on log_prompts


def install(*, log_prompts: bool = False) -> None:
    """Apply the `logging.log_prompts` setting to the logging set up so far (idempotent)."""
    handlers = logging.getLogger().handlers
    if log_prompts:  # the operator asked for bodies in the logs: undo an earlier install
        for target in (*handlers, *(logging.getLogger(n) for n in BODY_LOGGERS)):
            target.removeFilter(PROMPT_FILTER)
        for name in _raised:
            logging.getLogger(name).setLevel(logging.NOTSET)
        _raised.clear()
        return
    for name in BODY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)
            _raised.add(name)
        logger.addFilter(PROMPT_FILTER)  # addFilter ignores a filter already present
    for handler in handlers:
        handler.addFilter(PROMPT_FILTER)
