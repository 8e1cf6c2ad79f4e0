"""The chat service on its own: built directly, with a small in-test upstream as collaborator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from annas_gift.catalog.registry import Catalog, CatalogModel
from annas_gift.core import errors
from annas_gift.core.events import ClassificationEvent, SelectionEvent, UsageEvent
from annas_gift.core.types import ChatInput, RequestContext
from annas_gift.services.chat import ChatService
from annas_gift.services.collaborators import ChatCollaborators, NoPlanner
from annas_gift.services.streaming import open_stream
from annas_gift.services.types import ChatConfig
from annas_gift.upstream.base import Completion, UpstreamCall, Usage
from annas_gift.upstream.sse import SSEFilter, chunk_events

FIRST, SECOND = "p/first", "p/second"


def model(name: str) -> CatalogModel:
    return CatalogModel(
        name=name,
        provider="p",
        litellm_model=f"openai/{name}",
        params={},
        input_cost_per_token=0.001,
        output_cost_per_token=0.002,
    )


class ScriptedUpstream:
    """Answers per model name: an exception to raise, or text to return (whole or streamed)."""

    def __init__(self, script: dict[str, Exception | str], *, cut_stream: bool = False) -> None:
        self.script = script
        self.cut_stream = cut_stream
        self.calls: list[str] = []

    def _answer(self, call: UpstreamCall) -> str:
        self.calls.append(call.model.name)
        outcome = self.script[call.model.name]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def complete(self, call: UpstreamCall) -> Completion:
        text = self._answer(call)
        body = {"choices": [{"message": {"role": "assistant", "content": text}}]}
        return Completion(body=body, usage=Usage(10, 5))

    async def stream(self, call: UpstreamCall) -> AsyncIterator[dict[str, Any]]:
        text = self._answer(call)
        for word in text.split():
            yield {"choices": [{"delta": {"content": word}}]}
        if self.cut_stream:
            raise errors.UpstreamServerError("the provider cut the stream", provider="p")
        yield {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}

    def relay(self, call: UpstreamCall, view: SSEFilter) -> AsyncIterator[bytes]:
        return chunk_events(self.stream(call), view)

    async def aclose(self) -> None:
        pass


class ListRecorder:
    """Keeps what the service records, in order."""

    def __init__(self) -> None:
        self.usage: list[UsageEvent] = []
        self.decisions: list[tuple[ClassificationEvent | None, SelectionEvent | None]] = []

    def record_request(
        self, event: UsageEvent, decision: tuple[ClassificationEvent, SelectionEvent] | None = None
    ) -> None:
        if decision is not None:
            self.decisions.append(decision)
        self.usage.append(event)

    def record_decision(
        self, classification: ClassificationEvent | None, selection: SelectionEvent | None
    ) -> None:
        self.decisions.append((classification, selection))


async def sse_events(frames: AsyncIterator[bytes]) -> list[Any]:
    """The events a client reads from the stream's bytes ([DONE] as the string)."""
    text = b"".join([piece async for piece in frames])
    data = [line[6:] for line in text.split(b"\n") if line.startswith(b"data: ")]
    return ["[DONE]" if d == b"[DONE]" else orjson.loads(d) for d in data]


def service(upstream: ScriptedUpstream, recorder: ListRecorder, **config: Any) -> ChatService:
    catalog = Catalog([model(FIRST), model(SECOND)])
    parts = ChatCollaborators(recorder=recorder, planner=NoPlanner())
    return ChatService(catalog, upstream, parts, ChatConfig(**config))


def request(**fields: Any) -> tuple[ChatInput, RequestContext]:
    inp = ChatInput(model=FIRST, messages=[{"role": "user", "content": "hi"}], **fields)
    return inp, RequestContext(request_id="req_1", key_id="alice", route="openai")


async def test_a_retryable_failure_falls_back_and_every_attempt_is_recorded() -> None:
    upstream = ScriptedUpstream(
        {FIRST: errors.UpstreamServerError("boom", provider="p"), SECOND: "hello there"}
    )
    recorder = ListRecorder()
    result = await service(upstream, recorder).complete(*request(fallbacks=[SECOND]))
    assert result.model.name == SECOND
    assert result.completion.body["choices"][0]["message"]["content"] == "hello there"
    assert [a.status for a in result.attempts] == [502, 200]
    assert [(e.model, e.status, e.error_type) for e in recorder.usage] == [
        (FIRST, 502, "upstream_server_error"),
        (SECOND, 200, None),
    ]
    assert result.cost_usd == pytest.approx(10 * 0.001 + 5 * 0.002)
    assert recorder.usage[1].cost_usd == result.cost_usd
    assert recorder.decisions == []  # an explicit model: nothing was decided


async def test_a_client_error_is_raised_at_once_without_trying_the_fallback() -> None:
    upstream = ScriptedUpstream(
        {FIRST: errors.InvalidRequest("bad temperature", param="temperature"), SECOND: "no"}
    )
    recorder = ListRecorder()
    with pytest.raises(errors.InvalidRequest, match="bad temperature"):
        await service(upstream, recorder).complete(*request(fallbacks=[SECOND]))
    assert upstream.calls == [FIRST]
    assert [e.status for e in recorder.usage] == [400]


async def test_every_model_failing_names_each_attempt() -> None:
    down = errors.UpstreamServerError("down", provider="p")
    upstream = ScriptedUpstream({FIRST: down, SECOND: down})
    with pytest.raises(errors.AllAttemptsFailed) as caught:
        await service(upstream, ListRecorder()).complete(*request(fallbacks=[SECOND]))
    assert [a["model"] for a in caught.value.body()["error"]["attempts"]] == [FIRST, SECOND]


async def test_unknown_models_and_auto_without_a_planner_are_refused_before_any_call() -> None:
    upstream = ScriptedUpstream({})
    chat = service(upstream, ListRecorder())
    inp, ctx = request()
    inp.model = "nope"
    with pytest.raises(errors.ModelNotFound, match="'nope' does not exist"):
        await chat.complete(inp, ctx)
    inp.model = "auto"
    with pytest.raises(errors.ModelNotFound, match="needs the router"):
        await chat.complete(inp, ctx)
    assert upstream.calls == []


async def test_a_spent_deadline_answers_504_without_calling() -> None:
    upstream = ScriptedUpstream({FIRST: "late"})
    chat = service(upstream, ListRecorder(), request_timeout_s=0.0)
    with pytest.raises(errors.UpstreamTimeout):
        await chat.complete(*request())
    assert upstream.calls == []


async def test_a_stream_is_recorded_once_with_its_usage_through_the_same_recorder() -> None:
    recorder = ListRecorder()
    chat = service(ScriptedUpstream({FIRST: "one two"}), recorder)
    stream = await open_stream(chat, *request(stream=True))
    events = await sse_events(stream.frames())
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == ["one", "two"]
    assert all("usage" not in c for c in chunks)  # the client did not ask for usage
    [event] = recorder.usage
    assert (event.model, event.status, event.stream) == (FIRST, 200, True)
    assert (event.prompt_tokens, event.completion_tokens) == (7, 3)
    assert stream.cost_usd == pytest.approx(7 * 0.001 + 3 * 0.002)


async def test_a_stream_cut_after_its_first_chunk_ends_with_an_error_event() -> None:
    recorder = ListRecorder()
    chat = service(ScriptedUpstream({FIRST: "partial answer"}, cut_stream=True), recorder)
    stream = await open_stream(chat, *request(stream=True, include_usage=True))
    chunks = await sse_events(stream.frames())
    assert "[DONE]" not in chunks
    assert chunks[-1]["error"]["code"] == "upstream_server_error"
    [event] = recorder.usage
    assert (event.status, event.error_type) == (502, "stream_interrupted")
