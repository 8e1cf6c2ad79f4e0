"""One pure-ASGI middleware: request id, body size limit and a JSON access log.

Pure ASGI rather than BaseHTTPMiddleware: it adds no task per request and never buffers a
streamed response.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from annas_gift.core.errors import GatewayError, PayloadTooLarge

access_log = logging.getLogger("annas_gift.access")
error_log = logging.getLogger("annas_gift.api")
_INTERNAL = GatewayError("The gateway hit an internal error; it has been logged.").body()
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id() -> str:
    """A fresh request id: 128 random bits in hex, as uuid4().hex gave, at a fifth of its cost."""
    return f"req_{os.urandom(16).hex()}"


class GatewayMiddleware:
    """Assigns `x-request-id`, enforces the body limit, writes one access-log line per request."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, log_requests: bool = True) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.log_requests = log_requests

    async def __call__(  # noqa: C901 - one pass per request on the hot path, no helper calls
        self, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = None
        length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                # A client's id is echoed only if it is safe to put in headers and logs.
                request_id = candidate if _SAFE_ID.match(candidate) else None
            elif name == b"content-length":
                length = value
        request_id = request_id or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._too_large(send, request_id)
            self._log(scope, 413, started, request_id)
            return

        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(_too_large_message(limit))
            return message

        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        started_response = False

        async def send_tracked(message: Message) -> None:
            nonlocal started_response
            started_response = started_response or message["type"] == "http.response.start"
            await send_with_id(message)

        try:
            await self.app(scope, limited_receive, send_tracked)
        except ClientDisconnect:
            # The client went away mid-upload (or the server cut a too-slow body): nobody is
            # left to answer and it is no gateway bug, so no ERROR line. 499 as nginx logs it.
            status = 499
            error_log.info("client_disconnected before its request was read (request %s)",
                           request_id)  # fmt: skip
        except Exception:
            # Caught here, inside the server's own error middleware, so the client still gets
            # an OpenAI-shaped 500 with its request id and the traceback is logged once.
            error_log.exception("unhandled error (request %s)", request_id)
            status = 500
            if not started_response:
                await self._send_json(send, 500, _INTERNAL, request_id)
        finally:
            self._log(scope, status, started, request_id)

    async def _too_large(self, send: Send, request_id: str) -> None:
        body = PayloadTooLarge(_too_large_message(self.max_body_bytes)).body()
        await self._send_json(send, 413, body, request_id)

    @staticmethod
    async def _send_json(send: Send, status: int, payload: Any, request_id: str) -> None:
        body = orjson.dumps(payload)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _log(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        if not self.log_requests or not access_log.isEnabledFor(logging.INFO):
            return
        state: dict[str, Any] = scope.get("state", {})
        # Path only: query strings and headers may carry secrets.
        access_log.info(
            orjson.dumps(
                {
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "key_id": state.get("key_id"),
                    "model": state.get("model"),
                }
            ).decode()
        )


def _too_large_message(limit: int) -> str:
    return f"The request body is larger than this gateway's limit of {limit} bytes."
