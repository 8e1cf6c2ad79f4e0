"""Lock-free counter and histogram families for one process, exposed at scrape time.

prometheus-client's own classes take a lock per increment (they may be called from any
thread) and cost about a microsecond each; a request updates a dozen series. The gateway
updates its metrics from the event loop's thread only, so plain attributes suffice: these
families cost a dict-free attribute add per update and build the exposition when scraped.
Multi-process mode (`PROMETHEUS_MULTIPROC_DIR`) keeps prometheus-client's classes, whose values
live in files every worker can read.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString


class CounterCell:
    """One counter series."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        """Add amount (callers pass non-negative amounts)."""
        self.value += amount


class HistogramCell:
    """One histogram series: a count per bucket (not cumulative) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        """Count one observation in the first bucket whose bound is >= amount."""
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.sum += amount


class CounterFamily(Collector):
    """A labelled counter; `labels(*values)` returns the series to `inc()`."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name.removesuffix("_total")
        self.documentation = documentation
        self.labelnames = list(labelnames)
        self._cells: dict[tuple[str, ...], CounterCell] = {}

    def labels(self, *values: str) -> CounterCell:
        """The series for these label values (created at zero)."""
        cell = self._cells.get(values)
        if cell is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
            cell = self._cells[values] = CounterCell()
        return cell

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, cell in list(self._cells.items()):
            family.add_metric(list(values), cell.value)
        yield family


class HistogramFamily(Collector):
    """A labelled histogram with fixed buckets; `labels(*values)` returns the series."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = list(labelnames)
        self.bounds = tuple(sorted(float(b) for b in buckets))
        go_floats = [floatToGoString(b) for b in self.bounds]  # type: ignore[no-untyped-call,unused-ignore]
        self._les = [*go_floats, "+Inf"]
        self._cells: dict[tuple[str, ...], HistogramCell] = {}

    def labels(self, *values: str) -> HistogramCell:
        """The series for these label values (created empty)."""
        cell = self._cells.get(values)
        if cell is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
            cell = self._cells[values] = HistogramCell(self.bounds)
        return cell

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, cell in list(self._cells.items()):
            running, buckets = 0, []
            for le, count in zip(self._les, list(cell.counts), strict=True):
                running += count
                buckets.append((le, float(running)))
            family.add_metric(list(values), buckets, cell.sum)
        yield family
