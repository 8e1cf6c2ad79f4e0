"""What reaches Portkey: path, headers, CustomLog shape, trace ids, privacy, key hygiene."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from annas_gift.settings import PortkeySettings
from annas_gift.upstream.portkey_client import PortkeyTracer, TraceEvent
from tests.portkey.conftest import API_KEY, FakePortkey, eventually

MakeTracer = Callable[..., PortkeyTracer]
MakeEvent = Callable[..., TraceEvent]


async def test_entry_has_the_documented_shape_headers_and_trace_id(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=1)
    await tracer.start()
    tracer.record(make_event("req-abc"))

    [entry] = await portkey.wait_for(1)
    [got] = portkey.received
    assert got.headers["x-portkey-api-key"] == API_KEY
    assert got.headers["content-type"].startswith("application/json")
    assert isinstance(orjson.loads(got.raw), dict)  # a batch of one goes as a bare CustomLog
    request, response, meta = entry["request"], entry["response"], entry["metadata"]
    assert request == {
        "url": "/v1/chat/completions",
        "provider": "groq",
        "headers": {"content-type": "application/json"},
        "body": {"model": "groq/llama-3.1-8b-instant", "stream": False},
    }
    assert response["status"] == 200
    assert response["response_time"] == 123
    assert response["streamingMode"] is False
    assert response["body"]["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
    }
    assert meta["trace_id"] == tracer.trace_id_for("req-abc") == "req-abc"
    assert meta["span_id"] == meta["request_id"] == "req-abc"
    assert meta["_user"] == "alice"
    assert meta["model"] == "llama-fast"
    assert meta["upstream_model"] == "groq/llama-3.1-8b-instant"
    assert (meta["tier"], meta["category"], meta["status"]) == ("fast", "code", "200")
    assert (meta["attempts"], meta["fallbacks"]) == ("1", "llama-fast:200")
    assert meta["experiment"] == "ablation-3"
    assert meta["created_at"] == "2025-03-01T12:30:00+00:00"
    await eventually(lambda: tracer.sent == 1)  # the fake logs the entry before we read its 200
    assert (tracer.failed, tracer.dropped, tracer.pending) == (0, 0, 0)


async def test_batches_go_as_documented_arrays(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=3, flush_interval_s=60)
    await tracer.start()
    for i in range(7):
        tracer.record(make_event(f"req-{i}"))

    entries = await portkey.wait_for(7)
    assert [m["metadata"]["request_id"] for m in entries] == [f"req-{i}" for i in range(7)]
    bodies = [orjson.loads(r.raw) for r in portkey.received]
    assert [len(b) if isinstance(b, list) else 1 for b in bodies] == [3, 3, 1]
    await eventually(lambda: tracer.sent == 7)


def test_trace_id_is_the_request_id_when_safe_else_a_stable_hash() -> None:
    assert PortkeyTracer.trace_id_for("0f9c2b7e-req") == "0f9c2b7e-req"
    odd = "has spaces and\nnewlines " + "x" * 200
    derived = PortkeyTracer.trace_id_for(odd)
    assert derived == PortkeyTracer.trace_id_for(odd)
    assert derived.startswith("ag-") and len(derived) == 35
    assert derived != PortkeyTracer.trace_id_for(odd + "!")


async def test_metadata_is_short_strings_and_gateway_facts_cannot_be_spoofed(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=1, metadata={"_environment": "prod", "_user": "config"})
    await tracer.start()
    spoof = {"_user": "mallory", "trace_id": "spoofed", "note": "n" * 500}
    tracer.record(make_event("req-1", metadata=spoof))

    [entry] = await portkey.wait_for(1)
    meta = entry["metadata"]
    assert all(isinstance(v, str) and len(v) <= 128 for v in meta.values())
    assert meta["_user"] == "alice"
    assert meta["trace_id"] == "req-1"
    assert meta["_environment"] == "prod"
    assert meta["note"] == "n" * 128


async def test_a_failed_request_is_logged_with_its_error_and_attempts(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=1)
    await tracer.start()
    attempts = [
        {"model": "llama-fast", "provider": "groq", "status": 429},
        {"model": "gpt-small", "provider": "openai", "status": 502},
    ]
    failed = make_event(status=502, error_type="upstream_error", attempts=attempts, stream=True)
    tracer.record(failed)

    [entry] = await portkey.wait_for(1)
    assert entry["response"]["status"] == 502
    assert entry["response"]["streamingMode"] is True
    assert entry["response"]["headers"] == {"content-type": "text/event-stream"}
    assert entry["response"]["body"]["error"] == {"type": "upstream_error", "code": 502}
    assert entry["metadata"]["fallbacks"] == "llama-fast:429>gpt-small:502"
    assert entry["metadata"]["error_type"] == "upstream_error"


async def test_prompts_and_completions_stay_home_by_default(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=1)
    assert tracer.options.send_prompts is False
    await tracer.start()
    tracer.record(make_event())

    [entry] = await portkey.wait_for(1)
    raw = portkey.received[0].raw
    assert b"SECRET-PROMPT" not in raw
    assert b"SECRET-ANSWER" not in raw
    assert entry["request"]["body"] == {"model": "groq/llama-3.1-8b-instant", "stream": False}
    assert set(entry["response"]["body"]) == {"object", "model", "usage"}


async def test_prompts_and_completions_are_sent_when_switched_on(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(batch_size=1, send_prompts=True)
    await tracer.start()
    tracer.record(make_event())

    [entry] = await portkey.wait_for(1)
    body = entry["request"]["body"]
    assert body["messages"][0]["content"] == "SECRET-PROMPT thesis draft"
    assert body["model"] == "groq/llama-3.1-8b-instant"  # what ran, not what was asked for
    answer = entry["response"]["body"]
    assert answer["choices"][0]["message"]["content"] == "SECRET-ANSWER"
    assert answer["usage"]["total_tokens"] == 18


async def test_the_api_key_never_reaches_a_log_record_or_an_entry(
    portkey: FakePortkey,
    make_tracer: MakeTracer,
    make_event: MakeEvent,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tracer = make_tracer(batch_size=1, max_retries=1, timeout_s=0.5)
    await tracer.start()
    portkey.fail_next(1, 500)
    portkey.fail_next(1, 401)
    tracer.record(make_event("req-rejected"))  # 500, retried, then 401: given up
    await eventually(lambda: tracer.failed == 1)
    portkey.stall_next(1, 5.0)
    tracer.record(make_event("req-slow"))  # times out once, then goes through
    await eventually(lambda: tracer.sent == 1)
    await portkey.refuse()
    tracer.record(make_event("req-refused"))
    await eventually(lambda: tracer.failed == 2)  # refused twice: given up
    await portkey.accept()
    tracer.record(make_event("req-ok"))
    await eventually(lambda: tracer.sent == 2)
    await tracer.stop()

    assert caplog.records, "the failures above should have been logged"
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
        assert API_KEY not in (record.exc_text or "")
    assert API_KEY not in caplog.text
    assert all(API_KEY.encode() not in r.raw for r in portkey.received)
    assert API_KEY not in f"{tracer!r} {tracer.options!r} {tracer.last_error}"


async def test_disabled_tracer_does_nothing_and_sends_nothing(
    portkey: FakePortkey, make_tracer: MakeTracer, make_event: MakeEvent
) -> None:
    tracer = make_tracer(enabled=False, batch_size=1)
    await tracer.start()
    for i in range(5):
        tracer.record(make_event(f"req-{i}"))
    assert await tracer.flush() is True
    await tracer.stop()

    assert not tracer.enabled
    assert (tracer.pending, tracer.sent, tracer.failed, tracer.dropped) == (0, 0, 0, 0)
    assert portkey.received == []


async def test_enabled_without_a_key_is_off_and_says_so(
    portkey: FakePortkey,
    make_tracer: MakeTracer,
    make_event: MakeEvent,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracer = make_tracer(enabled=True, api_key=None, batch_size=1)
    await tracer.start()
    tracer.record(make_event())
    await tracer.stop()

    assert not tracer.enabled
    assert "api_key is empty" in caplog.text
    assert portkey.received == []


def test_options_come_from_settings_fields_when_they_exist() -> None:
    class Extended(PortkeySettings):
        send_prompts: bool = True
        batch_size: int = 7
        metadata: dict[str, Any] = {"_environment": "staging"}

    settings = Extended(enabled=True, api_key="k")
    tracer = PortkeyTracer(settings)
    assert tracer.options.send_prompts is True
    assert tracer.options.batch_size == 7
    assert tracer.options.metadata == {"_environment": "staging"}
    assert tracer.options.flush_interval_s == 1.0  # not in settings: the default
