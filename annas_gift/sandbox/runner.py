"""Running the sandbox: in the current event loop, in a background thread, or in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Self

from aiohttp import web

from annas_gift.sandbox.server import build_app
from annas_gift.sandbox.state import RecordedRequest, SandboxState

log = logging.getLogger("annas_gift.sandbox")

# Held and delayed responses end as soon as shutdown starts; this only bounds stragglers.
SHUTDOWN_GRACE_SECONDS = 1.0
THREAD_START_TIMEOUT = 10.0


class SandboxServer:
    """The sandbox upstream on a loopback port, run inside the current event loop."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        defaults: Mapping[str, str] | None = None,
        api_key: str | None = None,
    ) -> None:
        self.host = host
        self.state = SandboxState(defaults)
        self._requested_port = port
        self._api_key = api_key
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    async def start(self) -> None:
        """Bind and start serving."""
        runner = web.AppRunner(
            build_app(self.state, self._api_key),
            access_log=None,  # a log line per request would dominate benchmark profiles
            handler_cancellation=True,  # a client that hangs up ends its held request
            shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._requested_port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving; held connections are dropped."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port=0)."""
        if self._port is None:
            raise RuntimeError("the sandbox is not started")
        return self._port

    @property
    def url(self) -> str:
        """The root URL, e.g. http://127.0.0.1:8001."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (the root URL plus /v1)."""
        return self.url + "/v1"

    def script(self, model: str, behaviors: Iterable[str]) -> None:
        """Queue one-shot behaviours for the next requests for `model`."""
        self.state.script(model, behaviors)

    def requests(self) -> list[RecordedRequest]:
        """The chat requests received so far, oldest first."""
        return self.state.requests()

    def clear(self) -> None:
        """Forget scripts and the request log."""
        self.state.clear()


class RunningSandbox:
    """A sandbox serving from its own event loop in a daemon thread; see start_in_thread."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="sandbox-upstream", daemon=True)

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            return
        finally:
            self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            await self.server.stop()

    def _start(self) -> None:
        self._thread.start()
        if not self._ready.wait(THREAD_START_TIMEOUT):
            raise RuntimeError("the sandbox did not start in time")
        if self._error is not None:
            raise self._error

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and wait for its thread; safe to call twice."""
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            # The loop may close between the check and the call: then it has already stopped.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)
        self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        return self.server.port

    @property
    def url(self) -> str:
        """The root URL, e.g. http://127.0.0.1:8001."""
        return self.server.url

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (the root URL plus /v1)."""
        return self.server.base_url

    def script(self, model: str, behaviors: Iterable[str]) -> None:
        """Queue one-shot behaviours for the next requests for `model` (thread-safe)."""
        self.server.script(model, behaviors)

    def requests(self) -> list[RecordedRequest]:
        """The chat requests received so far, oldest first (thread-safe)."""
        return self.server.requests()

    def clear(self) -> None:
        """Forget scripts and the request log (thread-safe)."""
        self.server.clear()


def start_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    defaults: Mapping[str, str] | None = None,
    api_key: str | None = None,
) -> RunningSandbox:
    """Start a sandbox on its own event loop in a daemon thread; returns once it is listening."""
    running = RunningSandbox(SandboxServer(host, port, defaults=defaults, api_key=api_key))
    running._start()
    return running


async def serve_until_signalled(
    host: str, port: int, defaults: Mapping[str, str] | None = None, api_key: str | None = None
) -> None:
    """Serve until SIGINT or SIGTERM arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with SandboxServer(host, port, defaults=defaults, api_key=api_key) as sandbox:
            log.info(
                "Sandbox upstream listening on %s (OpenAI base_url %s)",
                sandbox.url,
                sandbox.base_url,
            )
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("Sandbox upstream stopped")


def run(
    host: str, port: int, defaults: dict[str, str] | None = None, *, api_key: str | None = None
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM: the `annas-gift sandbox` command."""
    if not logging.getLogger().handlers:
        # Run as a bare command: make sure the URL line reaches the terminal.
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    asyncio.run(serve_until_signalled(host, port, defaults, api_key))
