"""uvicorn's httptools protocol with bounded request heads, read timeouts and a connection cap.

Everything here runs before authentication or any app code: a client that sends an oversized
head, sends it too slowly, trickles its body or opens one connection too many is answered and cut
by the protocol itself. The hot path only adds a length to a counter per chunk read; timers are
armed only when a head or body spans more than one read, so a request that arrives in one piece
costs no timer at all.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from annas_gift.core.errors import GatewayError
from annas_gift.server.config import ServerLimits

_REFUSAL_LOG_INTERVAL_S = 10.0


class _Phase(enum.Enum):
    IDLE = 0  # no request in progress: new connection or between keep-alive requests
    HEAD = 1  # request line and headers arriving
    BODY = 2  # headers done, body not yet complete


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing once the protocol has answered."""


def error_reply(
    status: int, code: str, message: str, default_headers: list[tuple[bytes, bytes]]
) -> bytes:
    """A complete `connection: close` HTTP response with an OpenAI-shaped error body."""
    error = GatewayError(message, code=code)
    error.type = "invalid_request_error" if status < 500 else "service_unavailable"
    body = orjson.dumps(error.body())
    head = [STATUS_LINE[status]]
    for name, value in default_headers:
        head += [name, b": ", value, b"\r\n"]
    head += [
        b"content-type: application/json\r\ncontent-length: ",
        str(len(body)).encode(),
        b"\r\nconnection: close\r\n",
    ]
    if status == 503:
        head.append(b"retry-after: 1\r\n")
    head.append(b"\r\n")
    return b"".join(head) + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that enforces `limits` on every connection it serves."""

    limits: ClassVar[ServerLimits] = ServerLimits()
    _last_refusal_log: ClassVar[float] = float("-inf")
    _refused_since_log: ClassVar[int] = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = _Phase.IDLE
        self._head_bytes = 0  # raw bytes read for the current head (an upper bound of its size)
        self._head_uncounted = False  # part of the current head came in an uncounted read
        self._body_window_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._closing = False  # answered with an error: discard whatever the client still sends
        self._pending_reply: bytes | None = None

    # Connection lifecycle

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Register the connection; refuse it with 503 when the cap is reached."""
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            if len(self.connections) > 2 * self.limits.max_connections:
                # A flood: do not even spend a reply and a linger on it.
                transport.abort()
                return
            self._warn_refused()
            message = (
                "The server has too many open connections "
                f"(limit {self.limits.max_connections}); retry shortly."
            )
            self._refuse(503, "too_many_connections", message, linger=min(self.limits.linger_s, 1))
            return
        # uvicorn only arms its idle timer after a response; a connection that never sends a
        # request is idle too.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        """Cancel this connection's timers, then let uvicorn clean up."""
        for timer in (self._head_timer, self._body_timer, self._linger_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = self._linger_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, counting head bytes and arming read timers as phases span reads."""
        if self._closing:
            return
        self._unset_keepalive_if_required()
        phase = self._phase
        if phase is _Phase.BODY:
            self._body_window_bytes += len(data)
        else:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._closing:  # a callback refused the request and stopped the parser
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        phase = self._phase
        if phase is _Phase.IDLE:
            self._head_uncounted = False  # the read ended with a request: the next one counts
        elif phase is _Phase.HEAD:
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse_head_too_large()
            elif self._head_timer is None:
                self._head_timer = self.loop.call_later(
                    self.limits.header_timeout_s, self._head_timed_out
                )
        elif phase is _Phase.BODY and self._body_timer is None:
            self._body_window_bytes = 0
            self._body_timer = self.loop.call_later(
                self.limits.body_timeout_s, self._body_window_ended
            )

    # Parser callbacks

    def on_message_begin(self) -> None:
        """A new request starts: its head is being read."""
        super().on_message_begin()
        self._phase = _Phase.HEAD

    def on_headers_complete(self) -> None:
        """The head is complete: check its size, stop its timer, hand it to the app."""
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        limit = self.limits.max_header_bytes
        # The raw byte count (this whole read included) bounds the head from above, so the exact
        # sum is only needed for a big head that arrived complete in one read.
        if (self._head_bytes > limit or self._head_uncounted) and self._head_size() > limit:
            self._refuse_head_too_large()
            raise _Refused
        self._phase = _Phase.BODY
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The request is fully read: stop the body timer; the next bytes start a new head."""
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._phase = _Phase.IDLE
        self._head_bytes = 0
        # The rest of this read (a pipelined request) is not in the count: check it exactly.
        self._head_uncounted = True
        super().on_message_complete()

    # Limits

    def _head_size(self) -> int:
        """URL plus header names and values of the head just parsed."""
        return len(self.url) + sum(len(name) + len(value) for name, value in self.headers)

    def _refuse_head_too_large(self) -> None:
        limit = self.limits.max_header_bytes
        self._refuse(
            431,
            "headers_too_large",
            f"The request line and headers exceed the server's limit of {limit} bytes.",
        )

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._closing or self._phase is not _Phase.HEAD:
            return
        if self.flow.read_paused:  # a pipelined request waits its turn: not the client's fault
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout_s, self._head_timed_out
            )
            return
        seconds = self.limits.header_timeout_s
        self._refuse(
            408, "request_timeout", f"The request headers were not received within {seconds:g} s."
        )

    def _body_window_ended(self) -> None:
        self._body_timer = None
        if self._closing or self._phase is not _Phase.BODY:
            return
        window = self.limits.body_timeout_s
        minimum = self.limits.body_min_rate * window
        # Paused reading means the app has not consumed what it has; the client is not slow.
        if self.flow.read_paused or self._body_window_bytes >= minimum:
            self._body_window_bytes = 0
            self._body_timer = self.loop.call_later(window, self._body_window_ended)
            return
        self._refuse(
            408,
            "request_timeout",
            f"The request body did not arrive within {window:g} s "
            f"(or at {self.limits.body_min_rate} bytes/s); send it faster.",
        )

    def _refuse(self, status: int, code: str, message: str, linger: float | None = None) -> None:
        """Answer with an error (when no other response is on the wire), then close."""
        if self._closing:
            return
        self._closing = True
        self._unset_keepalive_if_required()
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
        cycle = self.cycle
        reply = error_reply(status, code, message, self.server_state.default_headers)
        if (
            self._phase is not _Phase.BODY
            and cycle is not None
            and not cycle.response_complete
            and not self.pipeline
        ):
            # A pipelined head behind a request still being answered: reply once that is done.
            self._pending_reply = reply
            return
        if self._phase is _Phase.BODY:
            # The cycle is this request's: answer only if the app has not started a response.
            may_answer = cycle is None or not cycle.response_started
        else:
            # The cycle (if any) is the previous request's: answer only once it is finished.
            may_answer = cycle is None or cycle.response_complete
        if cycle is not None and not cycle.response_complete:
            # The app sees a disconnect and can no longer write to this connection.
            cycle.disconnected = True
            cycle.message_event.set()
        if not may_answer:
            self.transport.close()
            return
        self.logger.info("%s: %d %s", self._client_label(), status, code)
        self.transport.write(reply)
        self._linger(self.limits.linger_s if linger is None else linger)

    def on_response_complete(self) -> None:
        """After a response, send a refusal that waited for it, or carry on as usual."""
        reply, self._pending_reply = self._pending_reply, None
        if reply is None:
            super().on_response_complete()
            return
        self.server_state.total_requests += 1
        if not self.transport.is_closing():
            self.transport.write(reply)
            self._linger(self.limits.linger_s)

    def _linger(self, seconds: float) -> None:
        # Closing with unread input makes the kernel send a reset, which can destroy the reply
        # before the client reads it. So: send FIN, keep reading (and discarding) until the
        # client closes or the linger time is up.
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger_timer = self.loop.call_later(seconds, self.transport.close)

    def _warn_refused(self) -> None:
        # One line per interval, not one per refused connection: a flood must not flood the log.
        cls = type(self)
        cls._refused_since_log += 1
        now = self.loop.time()
        if now - cls._last_refusal_log >= _REFUSAL_LOG_INTERVAL_S:
            self.logger.warning(
                "refused %d connection(s): %d open, server.max_connections is %d",
                cls._refused_since_log,
                len(self.connections) - 1,
                self.limits.max_connections,
            )
            cls._last_refusal_log = now
            cls._refused_since_log = 0

    def _client_label(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "client"


def protocol_class(limits: ServerLimits) -> type[GuardedHttpToolsProtocol]:
    """A protocol class bound to `limits`, to pass as uvicorn's `http` setting."""
    namespace = {"limits": limits, "_last_refusal_log": float("-inf"), "_refused_since_log": 0}
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), namespace)
