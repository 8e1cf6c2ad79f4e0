#!/usr/bin/env python
"""Write data/routing/train/code_stub_synth.jsonl.gz: bare code to complete, about any topic.

    python scripts/make_code_stubs.py [--out PATH] [--per-template N]

Why: the most common way to ask for code is to send the code itself, a signature and a
docstring to fill in, with no instruction around it (editor completions, notebooks, exercise
sheets). The corpus has code to complete only inside an instruction and a fence
(python_stdlib_synth, "Fill in the body of this function.") and its problems about numbers are
math prompts (GSM8K, MATH), so a stub whose docstring speaks of numbers, primes or digits
is read as `math`. Here the form decides: a stub is `code`, whatever its topic.

What it writes: the task of a training row of MBPP (its description; its tests give the
function's name, its parameters and doctest examples) in one of eight shapes: HumanEval-style
doctest, typed signature, imports first, comment-described, Google-style Args/Returns, a class
method, a JavaScript JSDoc stub, a stub with its pytest test. Only rows of MBPP's TRAINING split
in the corpus are read (annas_gift/routing/corpus.py): no validation prompt is wrapped into a
training row. Each row's `template` is "mbpp/<shape>"; validation holds out whole templates
(TEMPLATED_SOURCES), and `derived_from` names the origin, so that leave-one-source-out holds
these rows out with MBPP. (GSM8K word problems as docstrings were tried too and lowered that
criterion: docs/routing.md.) The scaffolding is CC0; the descriptions and tests are MBPP's
(CC-BY-4.0), the rows keep that licence. Deterministic (fixed seed, file order): the same data
gives the same bytes. Stdlib and the repository's corpus module.
"""

from __future__ import annotations

import argparse
import ast
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annas_gift.routing.corpus import (
    TRAIN_DIR,
    default_data_dir,
    is_validation_key,
    read_jsonl,
    split_key,
    write_jsonl_gz,
)

SOURCE = "code_stub_synth"
OUT = Path(__file__).resolve().parents[1] / "data" / "routing" / "train" / f"{SOURCE}.jsonl.gz"
SEED = 20261206
PER_TEMPLATE = 40
ORIGIN = "mbpp"
ORIGIN_FILE = "mbpp_train_val_prompt.jsonl.gz"


@dataclass(frozen=True)
class Task:
    """What a stub is about: a function name, its parameters as (name, type hint), the type it
    returns, a description and examples as (call, result)."""

    name: str
    params: list[tuple[str, str]]
    returns: str
    doc: str
    examples: list[tuple[str, str]]


# -- reading MBPP ------------------------------------------------------------------------

_ARG_NAMES = {
    "list": ["nums", "arr", "xs", "items", "lst", "values"],
    "tuple": ["tup", "pair", "t", "record"],
    "str": ["s", "text", "word", "string"],
    "int": ["n", "k", "m", "x"],
    "float": ["x", "r", "value", "y"],
    "dict": ["d", "mapping", "table"],
    "bool": ["flag", "strict"],
    "set": ["items", "seen"],
}
_INSTRUCTION = re.compile(
    r"^(?:write|create|design|implement)\s+(?:a\s+)?(?:python\s+)?(?:function|program|method)"
    r"(?:\s+(?:to|that|which))?\s+",
    re.I,
)


def _kind(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return type(node.value).__name__ if node.value is not None else "object"
    if isinstance(node, ast.List | ast.ListComp):
        return "list"
    return {ast.Tuple: "tuple", ast.Dict: "dict", ast.Set: "set"}.get(type(node), "object")


def _params(args: list[ast.expr], r: random.Random) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for node in args:
        kind = _kind(node)
        pool = [n for n in _ARG_NAMES.get(kind, ["arg", "value"]) if n not in dict(out)]
        name = r.choice(pool) if pool else f"arg{len(out) + 1}"
        out.append((name, kind))
    return out


def _mbpp_task(raw: dict[str, object], r: random.Random) -> Task | None:
    text = str(raw["prompt"])
    desc, _, tests = text.partition("\nYour code should pass these tests:\n")
    examples: list[tuple[str, str]] = []
    name, params = "", []
    for line in tests.splitlines():
        try:
            node = ast.parse(line.strip()).body[0]
        except (SyntaxError, IndexError):
            continue
        test = node.test if isinstance(node, ast.Assert) else None
        if not (
            isinstance(test, ast.Compare)
            and isinstance(test.ops[0], ast.Eq)
            and isinstance(test.left, ast.Call)
            and isinstance(test.left.func, ast.Name)
        ):
            continue
        if not name:
            name = test.left.func.id
            params = _params(list(test.left.args), r)
        examples.append((ast.unparse(test.left), ast.unparse(test.comparators[0])))
    if not name:
        return None
    doc = _INSTRUCTION.sub("", desc.strip())
    doc = doc[:1].upper() + doc[1:]
    returns = _kind(ast.parse(examples[0][1], mode="eval").body) if examples else "object"
    return Task(name, params, returns, doc, examples)


def origin_tasks(data_dir: Path, r: random.Random) -> list[Task]:
    """The tasks of MBPP's training-split rows that have a usable test, in file order."""
    tasks: list[Task] = []
    for raw in read_jsonl(data_dir / TRAIN_DIR / ORIGIN_FILE):
        if is_validation_key(split_key(raw)):
            continue
        task = _mbpp_task(raw, r)
        if task is not None:
            tasks.append(task)
    return tasks


# -- the shapes ---------------------------------------------------------------------------------


def _wrap(text: str, indent: str, width: int = 88) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(indent) + len(line) + 1 + len(word) > width:
            lines.append(indent + line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(indent + line)
    return "\n".join(lines)


def _signature(t: Task, typed: bool, self_arg: bool = False) -> str:
    params = [f"{n}: {k}" if typed else n for n, k in t.params]
    if self_arg:
        params.insert(0, "self")
    hint = f" -> {t.returns}" if typed else ""
    return f"def {t.name}({', '.join(params)}){hint}:"


def _doctest(t: Task, indent: str) -> str:
    return "".join(f"\n{indent}>>> {call}\n{indent}{result}" for call, result in t.examples[:2])


def humaneval(t: Task, r: random.Random) -> str:
    head = r.choice(["", "\n", "from typing import List\n\n\n"])
    doc = _wrap(t.doc, "    ") + _doctest(t, "    ")
    return f'{head}{_signature(t, False)}\n    """\n{doc}\n    """\n'


def typed(t: Task, r: random.Random) -> str:
    body = r.choice(["", "    pass\n", "    ...\n"])
    examples = "".join(f"\n\n    {call} == {result}" for call, result in t.examples[:1])
    return (
        f'{_signature(t, True)}\n    """{_wrap(t.doc, "    ").strip()}{examples}\n    """\n{body}'
    )


_IMPORTS = [
    "import math", "import re", "from collections import Counter", "import itertools",
    "from functools import reduce", "import heapq",
]  # fmt: skip


def imports_first(t: Task, r: random.Random) -> str:
    imports = r.choice(_IMPORTS)
    doc = _wrap(t.doc, "    ").strip()
    return f'{imports}\n\n\n{_signature(t, False)}\n    """{doc}"""\n    pass\n'


def commented(t: Task, r: random.Random) -> str:
    lines = _wrap(t.doc, "# ", 80)
    example = "".join(f"\n# e.g. {call} -> {result}" for call, result in t.examples[:1])
    todo = r.choice(
        ["    # TODO\n    pass\n", "    # your code here\n", "    raise NotImplementedError\n"]
    )
    return f"{lines}{example}\n{_signature(t, False)}\n{todo}"


def google(t: Task, r: random.Random) -> str:
    args = "".join(f"\n        {n} ({k}): the {k} to work on." for n, k in t.params)
    args_block = f"\n\n    Args:{args}" if args else ""
    return (
        f'{_signature(t, True)}\n    """{_wrap(t.doc, "    ").strip()}{args_block}\n\n'
        f'    Returns:\n        {t.returns}: the result.\n    """\n'
    )


def method(t: Task, r: random.Random) -> str:
    cls = r.choice(["Solution", "Helper", "Exercise", "Utils"])
    return (
        f"class {cls}:\n    {_signature(t, True, self_arg=True)}\n"
        f'        """\n{_wrap(t.doc, "        ")}\n        """\n'
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def javascript(t: Task, r: random.Random) -> str:
    params = ", ".join(_camel(n) for n, _ in t.params)
    example = "".join(
        f"\n * @example {_camel(call)} // {result}" for call, result in t.examples[:1]
    )
    head = r.choice(["", "'use strict';\n\n"])
    return (
        f"{head}/**\n{_wrap(t.doc, ' * ', 80)}{example}\n */\n"
        f"function {_camel(t.name)}({params}) {{\n\n}}\n"
    )


def with_test(t: Task, r: random.Random) -> str:
    asserts = "".join(f"\n    assert {call} == {result}" for call, result in t.examples[:2])
    asserts = asserts or f"\n    assert {t.name}() is not None"
    return (
        f'{_signature(t, False)}\n    """{_wrap(t.doc, "    ").strip()}"""\n    ...\n\n\n'
        f"def test_{t.name}():{asserts}\n"
    )


SHAPES: dict[str, Callable[[Task, random.Random], str]] = {
    "humaneval": humaneval, "typed": typed, "imports": imports_first, "commented": commented,
    "google": google, "method": method, "javascript": javascript, "with_test": with_test,
}  # fmt: skip


def rows(
    data_dir: Path, per_template: int = PER_TEMPLATE, seed: int = SEED
) -> list[dict[str, object]]:
    """Every row, in a fixed order: per shape, `per_template` distinct stubs."""
    r = random.Random(seed)
    out: list[dict[str, object]] = []
    seen: set[str] = set()
    tasks = origin_tasks(data_dir, r)
    for shape, make in SHAPES.items():
        made = 0
        for task in r.sample(tasks, min(len(tasks), per_template * 3)):
            if made == per_template:
                break
            prompt = make(task, r)
            if prompt in seen:
                continue
            seen.add(prompt)
            out.append({
                "prompt": prompt, "source": SOURCE, "split": "train", "category": "code",
                "difficulty": None, "tier": None, "licence": "CC-BY-4.0",
                "orig_id": f"{SOURCE}#{len(out)}", "derived_from": ORIGIN,
                "template": f"{ORIGIN}/{shape}", "group_id": f"code_stub/{shape}",
            })  # fmt: skip
            made += 1
    return out


def main(argv: list[str] | None = None) -> None:
    """Write the file (argv: the command-line arguments, sys.argv[1:] when None)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--per-template", type=int, default=PER_TEMPLATE)
    args = parser.parse_args(argv)
    count = write_jsonl_gz(args.out, rows(args.data_dir, args.per_template))
    print(f"wrote {args.out} ({count} rows)")


if __name__ == "__main__":
    main()
