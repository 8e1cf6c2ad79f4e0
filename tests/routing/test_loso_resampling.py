"""The leave-one-source-out script's row choice: the first rows, or seeded resamples of them."""

from __future__ import annotations

from collections import Counter

from annas_gift.routing.corpus import CorpusRow
from tests.scripts import load_script


def _rows(family: str, n: int) -> list[CorpusRow]:
    return [
        CorpusRow(f"{family} {i}", family, "chat", None, None, None, False, f"{family}{i}")
        for i in range(n)
    ]


def test_sample_zero_keeps_the_first_rows_and_resamples_vary_only_large_families() -> None:
    loso = load_script("loso_classifier.py")
    rows = _rows("big", 10) + _rows("small", 3)
    first = loso._kept(rows, 4, 0)
    assert [r.prompt for r in first] == [f"big {i}" for i in range(4)] + [
        f"small {i}" for i in range(3)
    ]
    one, two = loso._kept(rows, 4, 1), loso._kept(rows, 4, 2)
    for kept in (one, two):
        assert Counter(r.source for r in kept) == {"big": 4, "small": 3}
        assert kept == sorted(kept, key=rows.index)  # file order kept
    assert one == loso._kept(rows, 4, 1)  # seeded: the same rows again
    assert {r.prompt for r in one} != {r.prompt for r in two}  # another sample, other rows
    assert [r for r in one if r.source == "small"] == rows[10:]
