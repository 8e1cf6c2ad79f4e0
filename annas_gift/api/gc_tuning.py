"""Garbage-collector tuning for the serving process.

After start-up the heap holds ~400,000 long-lived objects (LiteLLM, pydantic schemas, the
catalog, the classifier). CPython's full collection walks all of them: 100 ms to over a second
on a loaded 2-core machine, with the event loop stopped, and load triggers one every few
thousand requests, which is where the c32 p99 stalls came from. Freezing the start-up heap
leaves the collector only the objects requests create.

A request allocates a few thousand container objects, so CPython's default young-generation
threshold (700 allocations) ran several collections per request: 4.6 % of a `mock-model`
request's instructions were in gc_collect_main (bench/callgrind.sh, 2026-12-02). At 10,000 the
collector's share is 1.4 %, each young collection still walks at most 10,000 objects (well
under a millisecond), and the cyclic garbage waiting for it is bounded the same way.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def freeze_startup_heap() -> int:
    """Collect once, move every survivor to the permanent generation, collect young less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    return gc.get_freeze_count()
