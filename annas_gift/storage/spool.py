"""Append-only JSONL spool for events the database could not take yet, with a replay checkpoint."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from annas_gift.core.events import Event, decode_event, encode_event

log = logging.getLogger(__name__)


class Spool:
    """A JSONL file of events plus a sidecar file holding how far replay has got (in bytes).

    Blocking file I/O, safe to call from several threads at once.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.marker = path.with_name(path.name + ".offset")
        # Appends (worker thread, or the loop as a last resort) must never interleave with a
        # read or the final delete, or a half-written line could be skipped or deleted.
        self._lock = threading.Lock()

    def exists(self) -> bool:
        """True when there is something to replay."""
        return self.path.exists()

    def append(self, events: Sequence[Event]) -> int:
        """Append events; returns how many could not be encoded (and were skipped)."""
        lines, bad = [], 0
        for event in events:
            try:
                lines.append(encode_event(event) + "\n")
            except (TypeError, ValueError):
                bad += 1
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as spool:
                if spool.tell() and not self._ends_with_newline():
                    spool.write(b"\n")  # seal a line cut short by a crash, so it can't swallow ours
                spool.write("".join(lines).encode("utf-8"))
        return bad

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as spool:
            spool.seek(-1, 2)
            return spool.read(1) == b"\n"

    def read(self, offset: int, limit: int) -> tuple[list[tuple[Event, int]], int, int]:
        """Up to `limit` events from byte `offset`: ([(event, its end offset)], end, bad lines)."""
        events: list[tuple[Event, int]] = []
        bad = 0
        with self._lock, self.path.open("rb") as spool:
            spool.seek(offset)
            while len(events) < limit:
                line = spool.readline()
                if not line:
                    break
                offset += len(line)
                try:
                    events.append((decode_event(line), offset))
                except (ValueError, KeyError, TypeError):
                    bad += 1  # e.g. a line cut short by a crash mid-write
        return events, offset, bad

    def checkpoint(self) -> int:
        """The byte offset replay has committed up to (0 when none)."""
        try:
            return int(self.marker.read_text(encoding="ascii").strip() or 0)
        except (OSError, ValueError):
            return 0

    def commit(self, offset: int) -> None:
        """Record that everything before `offset` is in the database."""
        tmp = self.marker.with_name(self.marker.name + ".tmp")
        tmp.write_text(str(offset), encoding="ascii")
        tmp.replace(self.marker)  # atomic: a crash leaves the old or the new offset, never half

    def clear(self, offset: int | None = None) -> bool:
        """Delete spool and checkpoint if replay reached `offset` = the end (None: always)."""
        with self._lock:
            if offset is not None and self.path.exists() and self.path.stat().st_size > offset:
                return False  # more was appended meanwhile
            self.marker.unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)
            return True


async def replay(
    spool: Spool, write: Callable[[list[Event]], Awaitable[int]], batch_size: int
) -> tuple[bool, int]:
    """Feed the spool to `write` (returns how many it took) by batch: (all done, damaged lines)."""
    if not await asyncio.to_thread(spool.exists):
        return True, 0
    offset = await asyncio.to_thread(spool.checkpoint)
    damaged = 0
    while True:
        chunk, end, bad = await asyncio.to_thread(spool.read, offset, batch_size)
        damaged += bad
        if not chunk:
            offset = end  # past any damaged lines
            # Deleted only if nothing was appended since that read; otherwise keep going.
            if await asyncio.to_thread(spool.clear, offset):
                log.info("replayed the usage spool into the database")
                return True, damaged
            continue
        done = await write([event for event, _ in chunk])
        if done == 0:
            return False, damaged
        # Remember progress so a later failure (or a crash) does not write these twice.
        offset = end if done == len(chunk) else chunk[done - 1][1]
        await asyncio.to_thread(spool.commit, offset)
        if done < len(chunk):
            return False, damaged
