"""Evaluation metrics for tier scores and routing decisions (pure Python)."""

from __future__ import annotations

from collections.abc import Sequence


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """ROC AUC by the Mann-Whitney rank sum; tied scores share their average rank."""
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    n_pos = sum(1 for label in labels if label)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs at least one positive and one negative")
    order = sorted(range(len(scores)), key=scores.__getitem__)
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        average_rank = (i + j) / 2 + 1  # ranks are 1-based
        rank_sum += average_rank * sum(1 for k in order[i : j + 1] if labels[k])
        i = j + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def balanced_accuracy(predicted: Sequence[bool], labels: Sequence[bool]) -> float:
    """Mean of the true-positive and true-negative rates."""
    if len(predicted) != len(labels):
        raise ValueError("predictions and labels differ in length")
    pos = [p for p, y in zip(predicted, labels, strict=True) if y]
    neg = [p for p, y in zip(predicted, labels, strict=True) if not y]
    if not pos or not neg:
        raise ValueError("balanced accuracy needs both classes")
    return (sum(pos) / len(pos) + sum(not p for p in neg) / len(neg)) / 2


def performance_gap_recovered(
    scores: Sequence[float],
    weak_correct: Sequence[bool],
    strong_correct: Sequence[bool],
    strong_share: float,
) -> float:
    """PGR when the highest-scoring `strong_share` of prompts go to the strong model.

    (accuracy of the routed mix - weak accuracy) / (strong accuracy - weak accuracy); random
    routing recovers `strong_share` in expectation. Ties in score are broken by position, so
    a constant score routes the first prompts (the same as an arbitrary fixed choice).
    """
    n = len(scores)
    if not n or n != len(weak_correct) or n != len(strong_correct):
        raise ValueError("scores and labels must be non-empty and of one length")
    weak = sum(weak_correct) / n
    strong = sum(strong_correct) / n
    if strong == weak:
        raise ValueError("the strong and weak models are equally accurate")
    k = round(strong_share * n)
    order = sorted(range(n), key=lambda i: (-scores[i], i))
    routed = set(order[:k])
    mix = sum(strong_correct[i] if i in routed else weak_correct[i] for i in range(n)) / n
    return (mix - weak) / (strong - weak)
