"""The synthetic long-stem knowledge source: the vendored file is what its generator writes, and
validation holds out whole templates of it."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from annas_gift.routing.corpus import load_corpus
from tests.scripts import assert_writes_the_vendored_file, load_script


def _generator() -> ModuleType:
    return load_script("make_knowledge_vignettes.py")


def test_vendored_file_is_what_the_generator_writes(tmp_path: Path) -> None:
    generator = _generator()
    assert_writes_the_vendored_file(generator, generator.rows(), tmp_path)


def test_rows_are_knowledge_questions_without_answers() -> None:
    rows = _generator().rows()
    assert len(rows) == 6 * 5 * 45
    assert {r["category"] for r in rows} == {"knowledge"}
    assert len({r["prompt"] for r in rows}) == len(rows)
    for r in rows:
        assert r["tier"] is None and r["licence"] == "CC0-1.0"
        # Long stems: what the source exists for (the rest of the corpus's knowledge is short).
        assert len(str(r["prompt"]).split()) >= 12


def test_validation_holds_out_whole_templates() -> None:
    corpus = [r for r in load_corpus() if r.source == "knowledge_vignette_synth"]
    by_template: dict[str, set[bool]] = {}
    for r in corpus:
        by_template.setdefault(r.split_key, set()).add(r.validation)
    assert all(len(splits) == 1 for splits in by_template.values())
    held = [key for key, splits in by_template.items() if True in splits]
    assert 0 < len(held) < len(by_template)
