"""Streaming latency through one target: time to first byte, total time and per-chunk cost.

Sends the same `"stream": true` chat request again and again (one connection, kept alive) for
--seconds, reads each SSE response to its end, and prints one row:
    name, TTFB p50/p99 (ms), total p50/p99 (ms), per-chunk (us), chunks per response, streams/s
Per-chunk is (total p50 - TTFB p50) / (chunks - 1): the upstream sends every chunk at once, so
this is what the target (plus this client) spends on each chunk after the first.

    python stream_client.py --name gateway --url http://127.0.0.1:8000/v1/chat/completions \
        --model mock-stream --key sk-bench --seconds 8
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp
import orjson


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(url: str, model: str, key: str, seconds: float, warmup: float) -> dict[str, float]:
    body = orjson.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": "Say hello in one sentence."}],
            "max_tokens": 256,
            "stream": True,
        }
    )
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    ttfb: list[float] = []
    total: list[float] = []
    chunks: list[int] = []
    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        measuring_from = start + warmup
        while (now := time.perf_counter()) < measuring_from + seconds:
            sent = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as resp:
                if resp.status != 200:
                    raise SystemExit(f"{url}: HTTP {resp.status}: {(await resp.read())[:200]!r}")
                first: float | None = None
                data = b""
                async for piece in resp.content.iter_any():
                    if first is None:
                        first = time.perf_counter()
                    data += piece
            done = time.perf_counter()
            if now < measuring_from:
                continue
            events = [e for e in data.split(b"\n\n") if e.startswith(b"data: ")]
            if events[-1] != b"data: [DONE]":
                raise SystemExit(f"{url}: the stream did not end with [DONE]")
            assert first is not None
            ttfb.append((first - sent) * 1000)
            total.append((done - sent) * 1000)
            chunks.append(len(events))
    n = statistics.median(chunks)
    return {
        "ttfb_p50": _pct(ttfb, 0.5),
        "ttfb_p99": _pct(ttfb, 0.99),
        "total_p50": _pct(total, 0.5),
        "total_p99": _pct(total, 0.99),
        "per_chunk_us": (_pct(total, 0.5) - _pct(ttfb, 0.5)) * 1000 / max(1, n - 1),
        "chunks": n,
        "rate": len(total) / seconds,
    }


def main() -> None:
    """Measure one target and print its row."""
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--model", default="mock-stream")
    p.add_argument("--key", default="sk-bench")
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--warmup", type=float, default=1)
    a = p.parse_args()
    r = asyncio.run(run(a.url, a.model, a.key, a.seconds, a.warmup))
    print(
        f"{a.name:<28} ttfb p50 {r['ttfb_p50']:7.2f} ms  p99 {r['ttfb_p99']:7.2f} ms | "
        f"total p50 {r['total_p50']:7.2f} ms  p99 {r['total_p99']:7.2f} ms | "
        f"per-chunk {r['per_chunk_us']:6.1f} us  ({r['chunks']:.0f} events) | "
        f"{r['rate']:6.0f} streams/s"
    )


if __name__ == "__main__":
    main()
