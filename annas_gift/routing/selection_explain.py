"""Words for a selection: the decision reason and the student-facing explanation of the winner.

The explanation compares the winner with the runner-up, the best-ranked entry that serves a
different model (the same weights on another provider are a fallback, not an alternative):
the deciding benchmark is the category benchmark with the largest share of the winner's lead,
each benchmark's share being its weight times its value (points) for the winner minus the same
for the runner-up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from annas_gift.routing.benchmarks import BENCHMARK_LABELS
from annas_gift.routing.types import (
    ELO_BENCHMARKS,
    ELO_PER_POINT,
    ELO_ZERO,
    Benchmark,
    Category,
    SelectionExplanation,
    Tier,
)

if TYPE_CHECKING:
    from annas_gift.routing.selection_types import RankedCandidate

_EPS = 1e-9
_LIVE_PHRASES = {
    "headroom": "it has more of its free-tier budget left",
    "cost": "it is cheaper",
    "latency": "it has been answering faster",
    "health": "it has had fewer recent errors",
}


def _value_text(benchmark: Benchmark, value: float, imputed: bool) -> str:
    if benchmark in ELO_BENCHMARKS:
        shown = f"{ELO_ZERO + value * ELO_PER_POINT:.0f} Elo"
    else:
        shown = f"{value:.1f}%"
    return f"about {shown} (estimated, not published)" if imputed else shown


def _deciding_benchmark(
    winner: RankedCandidate, runner: RankedCandidate
) -> tuple[Benchmark | None, float]:
    mine = {p.benchmark: p for p in winner.benchmark_parts}
    theirs = {p.benchmark: p for p in runner.benchmark_parts}
    best: Benchmark | None = None
    best_lead = _EPS
    for benchmark in sorted(set(mine) | set(theirs)):
        a, b = mine.get(benchmark), theirs.get(benchmark)
        lead = (a.weight * a.value if a else 0.0) - (b.weight * b.value if b else 0.0)
        if lead > best_lead:
            best, best_lead = benchmark, lead
    return best, best_lead


def _runner_up(ranking: Sequence[RankedCandidate]) -> RankedCandidate:
    # The same model on another provider is a fallback, not an alternative a student would
    # compare with: the runner-up is the best entry serving a different model, if any.
    win = ranking[0]
    for other in ranking[1:]:
        if win.benchmark_id is None or other.benchmark_id != win.benchmark_id:
            return other
    return ranking[1]


def explain_choice(
    ranking: Sequence[RankedCandidate],
    category: Category,
    weights: Sequence[float],
    components: Sequence[str],
) -> SelectionExplanation | None:
    """Why ranking[0] beat ranking[1], or None when nothing qualified."""
    if not ranking:
        return None
    win = ranking[0]
    if len(ranking) == 1:
        return SelectionExplanation(
            category=category,
            decided_by="only candidate",
            summary=f"{win.name} is the only model that can take this request right now.",
        )
    run = _runner_up(ranking)
    benchmark, _ = _deciding_benchmark(win, run)
    mine = {p.benchmark: p for p in win.benchmark_parts}
    theirs = {p.benchmark: p for p in run.benchmark_parts}
    rows = zip(components, weights, win.parts, run.parts, strict=True)
    leads = {c: w * (a - b) for c, w, a, b in rows}
    bench_lead = leads["benchmark_rank"] + leads["benchmark_score"]
    live = {c: leads[c] for c in _LIVE_PHRASES}
    best_live = max(sorted(live), key=live.__getitem__)
    lead_text = ""
    if benchmark is not None:
        a, b = mine.get(benchmark), theirs.get(benchmark)
        mine_text = _value_text(benchmark, a.value, a.imputed) if a else "no score"
        their_text = _value_text(benchmark, b.value, b.imputed) if b else "no score"
        lead_text = f"{BENCHMARK_LABELS[benchmark]}: {mine_text}, against {their_text}"
    if win.tier != run.tier:
        decided_by = "tier"
        summary = (
            f"{win.name} is the only {win.tier} model that can take this request; "
            f"the next in line is {run.name}, a {run.tier} model."
        )
    elif win.in_category != run.in_category:
        decided_by = "category"
        summary = f"{win.name} is listed as good at {category}; {run.name} is not."
        if lead_text:
            summary += f" It also leads on {lead_text}."
    elif bench_lead <= _EPS and live[best_live] <= _EPS:
        decided_by = "tie-break"
        if win.benchmark_imputed and run.benchmark_imputed:
            start = (
                f"Neither {win.name} nor {run.name} publishes a {category} benchmark, "
                "so both get the same estimate"
            )
        else:
            start = f"{win.name} and {run.name} score the same"
        summary = (
            f"{start}; the tie is broken by how many benchmarks each publishes, "
            "then price, then speed, then name."
        )
    elif bench_lead >= live[best_live] and benchmark is not None:
        decided_by = "benchmark"
        summary = (
            f"{win.name} was picked for {category} mainly because of {lead_text} "
            f"for the runner-up {run.name}."
        )
    else:
        decided_by = best_live if live[best_live] > bench_lead else "benchmark"
        summary = (
            f"{win.name} and {run.name} are close on {category} benchmarks; "
            f"{win.name} goes first because {_LIVE_PHRASES.get(decided_by, 'it scores higher')}."
        )
    a = mine.get(benchmark) if benchmark else None
    b = theirs.get(benchmark) if benchmark else None
    return SelectionExplanation(
        category=category,
        decided_by=decided_by,
        summary=summary,
        benchmark=benchmark,
        benchmark_label=BENCHMARK_LABELS[benchmark] if benchmark else None,
        winner_value=a.value if a else None,
        winner_imputed=a.imputed if a else False,
        runner_up=run.name,
        runner_up_score=run.score,
        runner_up_value=b.value if b else None,
        runner_up_imputed=b.imputed if b else False,
    )


def reason_text(
    ranking: Sequence[RankedCandidate],
    excluded: Sequence[tuple[str, str]],
    tier: Tier,
    category: Category,
    offered: int,
    explanation: SelectionExplanation | None,
) -> str:
    """The one-line decision reason stored with the selection."""
    if offered == 0:
        return "no candidate models were offered"
    if not ranking:
        # First two words of the first reason: "not available", "cooling down", "context window".
        kinds = Counter(" ".join(why.split(":")[0].split()[:2]) for _, why in excluded)
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        return f"no model qualifies: all {len(excluded)} excluded ({summary})"
    best = ranking[0]
    if best.benchmark_score is None:
        bench = "unknown"
    else:
        how = "estimated" if best.benchmark_imputed else "published"
        bench = f"{best.benchmark_score:.1f} ({how})"
    in_tier = sum(1 for r in ranking if r.tier == tier)
    detail = f"score {best.score:.3f}, {category} benchmarks {bench}; {len(excluded)} excluded"
    if explanation is not None and explanation.benchmark_label:
        detail += f"; decided by {explanation.benchmark_label}"
    if not best.in_category:
        detail += f"; no qualifying model lists {category}"
    if best.tier == tier:
        return f"{best.name} ranks first of {in_tier} {tier} models for {category} ({detail})"
    return f"no {tier} model qualifies; falling back to {best.tier} model {best.name} ({detail})"
