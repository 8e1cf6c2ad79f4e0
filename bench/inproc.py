"""The gateway's own CPU cost per request, measured in-process, for A/B runs on a busy machine.

Wall-clock benchmarks on a shared machine measure the other tenants. This drives the ASGI app
directly (no HTTP server: uvicorn's share is the same before and after a change to the app),
with the settings of bench/serve.sh and the nginx upstream of peers.sh, CONCURRENCY requests in
flight, and reports the process CPU time per request (the minimum over REPS rounds: noise only
ever adds) and the longest event-loop stall seen (a ticker's lateness: GC, flushes, any
synchronous burst).

    python bench/inproc.py [--model mock-model] [--requests 2000] [--reps 5] [--concurrency 32]

For instruction counts (repeatable on a busy machine), run it under callgrind with --callgrind:
the measured rounds are counted, nothing else; bench/callgrind.sh does this and divides.

nginx must be listening on 127.0.0.1:9000 (bench/peers.sh's config; bench/cost.sh starts it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
if not os.environ.get("PYTHONPATH"):  # PYTHONPATH=/other/tree measures that tree
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _settings_env(db_dir: str) -> None:
    os.environ.update(
        ANNAS_GIFT_API_KEY="sk-bench",
        ANNAS_GIFT_LITELLM__CONFIG_PATH=os.environ.get("BENCH_CATALOG", "bench/catalog.yaml"),
        ANNAS_GIFT_SERVER__ACCESS_LOG="false",
        ANNAS_GIFT_SERVER__LOG_LEVEL="warning",
        DATABASE_URL=f"sqlite+aiosqlite:///{db_dir}/bench.db",
    )


_TTFB: list[float] = []  # seconds from a call's start to its first body bytes


async def _call(app: Any, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    status = 0
    sent = False
    tail = b""
    began = time.perf_counter()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, tail
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message.get("body"):
            if not tail:
                _TTFB.append(time.perf_counter() - began)
            tail = message["body"][-14:]

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
        "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    await app(scope, receive, send)
    if b'"stream":true' in body and tail != b"data: [DONE]\n\n":
        return 0  # a stream that did not finish
    return status


def _count_instructions(switch: str) -> None:
    """Turn callgrind's counting on or off for this process (outside the measured rounds)."""
    command = ["callgrind_control", "-i", switch, str(os.getpid())]
    subprocess.run(command, check=True)  # noqa: S603 - a fixed command on PATH


async def _lag_monitor(worst: list[float], period: float = 0.005) -> None:
    """Longest wall-clock lateness of a ticker, and most loop-thread CPU between two ticks."""
    loop = asyncio.get_running_loop()
    while True:
        t, c = loop.time(), time.thread_time()
        await asyncio.sleep(period)
        worst[0] = max(worst[0], loop.time() - t - period)
        worst[1] = max(worst[1], time.thread_time() - c)


async def _round(
    app: Any, body: bytes, headers: Any, n: int, concurrency: int
) -> tuple[float, int]:
    todo = iter(range(n))
    bad = 0

    async def worker() -> None:
        nonlocal bad
        for _ in todo:
            if await _call(app, body, headers) != 200:
                bad += 1

    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - cpu) / n, bad


def _gateway_app(freeze: bool) -> tuple[Any, Any]:
    _settings_env(tempfile.mkdtemp())
    import inspect

    from annas_gift.api.app import create_app
    from annas_gift.settings import load_settings

    kw = {"freeze_gc": freeze} if "freeze_gc" in inspect.signature(create_app).parameters else {}
    app = create_app(load_settings(), **kw)
    return app, app.router.lifespan_context(app)


@contextlib.asynccontextmanager
async def _asgi_lifespan(app: Any) -> AsyncIterator[None]:
    """Run a raw ASGI app's lifespan protocol around the rounds (the probe has no router)."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan"}, inbox.get, send))
    await started.wait()
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await task


def _probe_app() -> tuple[Any, Any]:
    """bench/probe.py's pass-through, the in-process floor the gateway's counts compare to."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from probe import build  # type: ignore[import-not-found]

    app = build("http://127.0.0.1:9000", "sk-bench")
    return app, _asgi_lifespan(app)


async def _flush_usage(app: Any) -> None:
    """Write every usage event recorded so far (the gateway's; the probe records none)."""
    gateway = getattr(getattr(app, "state", None), "gateway", None)
    if gateway is not None:
        await gateway.tracker.flush()


async def main() -> None:
    """Run the rounds and print one line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mock-model")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--label", default="")
    ap.add_argument(
        "--stream",
        action="store_true",
        help='ask for "stream": true (BENCH_CATALOG must name a streaming upstream)',
    )
    ap.add_argument("--no-freeze", dest="freeze", action="store_false", help="keep the GC as is")
    ap.add_argument(
        "--callgrind",
        action="store_true",
        help="under `valgrind --tool=callgrind --instr-atstart=no`: count only the measured rounds",
    )
    ap.add_argument(
        "--probe",
        action="store_true",
        help="drive bench/probe.py (the limit) instead of the gateway",
    )
    args = ap.parse_args()
    app, lifespan = _probe_app() if args.probe else _gateway_app(args.freeze)
    gc_worst = [0.0, 0.0]  # longest pause, when it started

    def on_gc(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            gc_worst[1] = time.perf_counter()
        else:
            gc_worst[0] = max(gc_worst[0], time.perf_counter() - gc_worst[1])

    gc.callbacks.append(on_gc)
    body = (
        b'{"model":"%s","messages":[{"role":"user","content":"Say hello in one sentence."}],'
        b'"max_tokens":32%s}' % (args.model.encode(), b',"stream":true' if args.stream else b"")
    )
    headers = [
        (b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
        (b"authorization", b"Bearer sk-bench"), (b"content-length", str(len(body)).encode()),
    ]  # fmt: skip
    async with lifespan:
        await _round(app, body, headers, 200, args.concurrency)  # warm-up
        worst = [0.0, 0.0]
        # Under callgrind the ticker's own instructions would be counted, and they grow with the
        # wall time a slowed-down run takes (noise of 10 % and more): no stall measured there.
        monitor = asyncio.create_task(_lag_monitor(worst)) if not args.callgrind else None
        gc_worst[0] = 0.0
        _TTFB.clear()
        costs, bad = [], 0
        if args.callgrind:  # instruction counts are repeatable where CPU time is not
            # The count covers the rounds' requests and the writing of their usage, nothing
            # else: the warm-up's events are written before it, the rounds' ones inside it
            # (otherwise a faster writer would count more, a lagging one less).
            await _flush_usage(app)
            _count_instructions("on")
        for _ in range(args.reps):
            cost, b = await _round(app, body, headers, args.requests, args.concurrency)
            costs.append(cost)
            bad += b
        if monitor is not None:
            monitor.cancel()
        if args.callgrind:
            await _flush_usage(app)
            _count_instructions("off")
    print(
        f"{args.label:<6} {args.model:<12} cpu min {min(costs) * 1e6:6.0f} us/request "
        f"median {sorted(costs)[len(costs) // 2] * 1e6:6.0f}  worst loop stall "
        f"{worst[0] * 1000:6.1f} ms (cpu {worst[1] * 1000:5.1f} ms)  "
        f"longest gc {gc_worst[0] * 1000:6.1f} ms  gc frozen {gc.get_freeze_count()}  non-200 {bad}"
        + (f"  first bytes p50 {sorted(_TTFB)[len(_TTFB) // 2] * 1e6:6.0f} us" if _TTFB else "")
    )


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
