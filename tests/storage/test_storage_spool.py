"""The JSONL spool: append, chunked reads with offsets, checkpoints, damaged lines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from annas_gift.core.events import ClassificationEvent, SelectionEvent, UsageEvent
from annas_gift.storage.spool import Spool

WHEN = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _usage(i: int) -> UsageEvent:
    return UsageEvent(
        f"r{i}", WHEN, None, "native", "p", "m", None, i, i, 0.1, 1.0, 200, None, True
    )


def test_append_and_read_back_in_chunks(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "deep" / "spool.jsonl")
    assert not spool.exists()
    events = [_usage(i) for i in range(5)]
    assert spool.append(events) == 0
    assert spool.exists()

    first, end, bad = spool.read(0, 3)
    assert ([e for e, _ in first], bad) == (events[:3], 0)
    assert first[-1][1] == end
    rest, end2, _ = spool.read(end, 3)
    assert [e for e, _ in rest] == events[3:]
    assert spool.read(end2, 3) == ([], end2, 0)


def test_checkpoint_survives_and_clear_removes_everything(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append([_usage(1)])
    assert spool.checkpoint() == 0
    spool.commit(17)
    assert Spool(tmp_path / "spool.jsonl").checkpoint() == 17
    spool.clear()
    assert list(tmp_path.iterdir()) == []


def test_unencodable_and_damaged_lines_are_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    bad = ClassificationEvent("x", WHEN, "fast", "chat", 1.0, 0.0, {"obj": object()})
    good = SelectionEvent("y", WHEN, "fast", "chat", "p", "m", "why", None, None, None, ["a"])
    assert spool.append([bad, good]) == 1
    with spool.path.open("a") as f:
        f.write('{"kind": "usage", "request_id": "cut sho')  # a crash mid-write
    events, _, damaged = spool.read(0, 10)
    assert [e for e, _ in events] == [good]
    assert damaged == 1


def test_a_line_cut_by_a_crash_does_not_swallow_the_next_append(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append([_usage(1)])
    with spool.path.open("a") as f:
        f.write('{"kind": "usage", "requ')  # the previous process died mid-line
    spool.append([_usage(2), _usage(3)])
    events, end, damaged = spool.read(0, 10)
    assert [e for e, _ in events] == [_usage(1), _usage(2), _usage(3)]
    assert damaged == 1
    assert spool.clear(end) is True
    assert not spool.exists()


def test_clear_refuses_when_more_was_appended(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append([_usage(1)])
    _, end, _ = spool.read(0, 10)
    spool.append([_usage(2)])
    assert spool.clear(end) is False
    assert [e for e, _ in spool.read(end, 10)[0]] == [_usage(2)]
