"""The gateway's own responses: JSON rendered by orjson, and relayed Server-Sent Events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from typing import Any, Protocol

import orjson
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class JSONResponse(Response):
    """Renders dicts (e.g. provider bodies passed through) with orjson: fast, no re-validation."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class EventStream(Protocol):
    """What `SSEResponse` relays (services.streaming.OpenStream)."""

    @property
    def ended(self) -> bool:
        """The piece `frames()` handed out last is the stream's last."""

    def frames(self) -> AsyncGenerator[bytes, None]:
        """The client's SSE bytes."""


class SSEResponse(Response):
    """A stream relayed as Server-Sent Events, each piece written as it comes.

    Cheaper than Starlette's StreamingResponse, which runs a task group around every stream to
    notice a client leaving: here one task waits for the disconnect and stops the stream at
    once (the stream records it as 499). The body ends with the stream's last piece, so the
    client has its whole answer before the stream's bookkeeping runs.
    """

    media_type = "text/event-stream"

    def __init__(self, stream: EventStream, headers: Mapping[str, str]) -> None:
        self.stream = stream
        self.status_code = 200
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self.stream
        frames = stream.frames()
        over = False  # the body is complete: a disconnect now is just the exchange ending
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(None) as cut:

                def client_left(_: asyncio.Task[None]) -> None:
                    if not over:
                        cut.reschedule(loop.time())  # cancels the stream where it waits

                watch = loop.create_task(_disconnect(receive))
                watch.add_done_callback(client_left)
                try:
                    await send(
                        {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                    )
                    async for piece in frames:
                        over = stream.ended
                        await send(
                            {"type": "http.response.body", "body": piece, "more_body": not over}
                        )
                    if not over:
                        over = True
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                finally:
                    watch.cancel()
                    await frames.aclose()  # a cut mid-send: the stream records it now, not at GC
        except TimeoutError:
            if not cut.expired():
                raise
        except OSError:  # servers of ASGI spec 2.4 raise on a send to a closed connection
            raise ClientDisconnect() from None


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
