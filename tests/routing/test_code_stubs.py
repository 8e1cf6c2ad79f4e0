"""The synthetic code-stub source: the vendored file is what its generator writes, it wraps only
MBPP training rows, and validation holds out whole shapes of it."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

from annas_gift.routing.corpus import default_data_dir, load_corpus
from tests.scripts import assert_writes_the_vendored_file, load_script


def _generator() -> ModuleType:
    return load_script("make_code_stubs.py")


def test_vendored_file_is_what_the_generator_writes(tmp_path: Path) -> None:
    generator = _generator()
    assert_writes_the_vendored_file(generator, generator.rows(default_data_dir()), tmp_path)


def test_rows_are_code_stubs_of_mbpp_training_tasks() -> None:
    generator = _generator()
    rows = generator.rows(default_data_dir())
    assert len(rows) == len(generator.SHAPES) * generator.PER_TEMPLATE
    assert len({r["prompt"] for r in rows}) == len(rows)
    assert {r["category"] for r in rows} == {"code"}
    assert {r["derived_from"] for r in rows} == {"mbpp"}
    assert all(r["tier"] is None and r["licence"] == "CC-BY-4.0" for r in rows)
    # No instruction around the code: the stub is the whole prompt.
    assert not any(str(r["prompt"]).lower().startswith("write a") for r in rows)
    # Only MBPP's training split is wrapped: no validation row's function reaches a stub.
    corpus = [r for r in load_corpus() if r.source == "mbpp"]
    held = {_function_name(r.prompt) for r in corpus if r.validation}
    held -= {_function_name(r.prompt) for r in corpus if not r.validation}  # names in both
    held |= {generator._camel(name) for name in held}  # the JavaScript shape's spelling
    defined = {m for r in rows for m in re.findall(r"(?:def|function) (\w+)\(", str(r["prompt"]))}
    assert defined.isdisjoint(held)
    assert len(defined) > 100  # many different tasks, not a few repeated


def _function_name(mbpp_prompt: str) -> str:
    tests = mbpp_prompt.partition("\nYour code should pass these tests:\n")[2]
    return tests.removeprefix("assert ").split("(", 1)[0].strip()


def test_validation_holds_out_whole_shapes() -> None:
    corpus = [r for r in load_corpus() if r.source == "code_stub_synth"]
    by_template: dict[str, set[bool]] = {}
    for r in corpus:
        by_template.setdefault(r.split_key, set()).add(r.validation)
        assert r.derived_from == "mbpp"  # leave-one-source-out holds them out with MBPP
    assert all(len(splits) == 1 for splits in by_template.values())
    held = [key for key, splits in by_template.items() if True in splits]
    assert 0 < len(held) < len(by_template)
