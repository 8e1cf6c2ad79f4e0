"""Keeping proxy credentials out of logs: scrub text, and a filter owned by one VPN manager.

The filter is installed on the libraries' loggers when a manager loads its endpoints and
removed when it stops, so two managers (tests, the CLI beside a server) never share one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from annas_gift.storage.repositories.vpn import MASK

# Libraries that, at DEBUG, log what would reveal a proxy's credentials: SQL parameters,
# SOCKS handshakes (httpcore traces its `auth` argument), client settings.
LEAKY_LOGGERS = (
    "aiosqlite", "asyncpg", "sqlalchemy.engine", "sqlalchemy.engine.Engine", "httpcore.socks",
    "httpcore.proxy", "httpcore.connection", "httpcore.http11", "httpx", "openai",
    "openai._base_client", "LiteLLM", "annas_gift",
)  # fmt: skip


def scrub(text: str, urls: Iterable[str]) -> str:
    """`text` with every credential (and whole URL) of `urls` replaced by ***."""
    for url in urls:
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        secrets = [url]
        if parts.password:
            secrets += [parts.password, unquote(parts.password)]
        if parts.username:
            secrets += [parts.username, unquote(parts.username)]
        for secret in sorted(secrets, key=len, reverse=True):
            # Very short secrets would blot out ordinary words; URLs mask them anyway.
            if len(secret) >= 4:
                text = text.replace(secret, MASK)
    return text


class SecretFilter(logging.Filter):
    """Rewrites log records that mention a registered proxy URL or credential."""

    def __init__(self) -> None:
        super().__init__("vpn-secrets")
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the message (and any traceback) of every registered URL; never drops a record."""
        if not self.urls:
            return True
        message = record.getMessage()
        clean = scrub(message, self.urls)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = scrub(text, self.urls), None
        return True


class LogGuard:
    """One manager's secret filter: `watch` URLs, `install` on the leaky loggers, `uninstall`."""

    def __init__(self, loggers: Iterable[str] = LEAKY_LOGGERS) -> None:
        self.filter = SecretFilter()
        self._loggers = tuple(loggers)

    def watch(self, urls: Iterable[str]) -> None:
        """Keep these proxy URLs (and their credentials) out of every guarded log line."""
        self.filter.urls.update(urls)

    def install(self) -> None:
        """Attach the filter to every guarded logger (idempotent)."""
        for name in self._loggers:
            logger = logging.getLogger(name)
            if self.filter not in logger.filters:
                logger.addFilter(self.filter)

    def uninstall(self) -> None:
        """Detach the filter again."""
        for name in self._loggers:
            logging.getLogger(name).removeFilter(self.filter)
