"""A tiny routing data set in the vendored layout, with answers known by construction."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from annas_gift.routing.corpus import is_validation_key


def _validation_prompt(stem: str, want: bool = True) -> str:
    """A prompt built from `stem` that lands on the requested side of the fixed split."""
    for i in range(1_000):
        prompt = f"{stem} (item {i})"
        if is_validation_key(prompt) == want:
            return prompt
    raise AssertionError("no prompt found")


def _gz(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


def write_routing_data(folder: Path) -> None:
    """train/ (MATH levels, ARC, chat, writing), RouteLLM, MT-Bench and HumanEval files."""
    words = "word " * 10
    math = [
        # Level 5 prompts are longer than level 1 prompts: a length score separates them.
        {
            "prompt": _validation_prompt(f"Find x. {words * (level * 2)}"),
            "source": "hendrycks_math",
            "category": "math",
            "difficulty": f"Level {level}",
            "tier": "fast" if level <= 2 else "powerful" if level >= 4 else None,
        }
        for level in (1, 1, 2, 4, 5, 5)
    ]
    arc = [
        {
            "prompt": _validation_prompt(f"Which is a gas? {words * n}"),
            "source": source,
            "category": "knowledge",
            "difficulty": source,
            "tier": tier,
        }
        for n, source, tier in ((1, "arc_easy", "fast"), (3, "arc_challenge", "powerful"))
    ]
    chat = [
        {
            "prompt": _validation_prompt("hello there"),
            "source": "chat_synth",
            "category": "chat",
            "template": None,
        }
    ]
    train_only = [
        {
            "prompt": _validation_prompt("Write a poem", want=False),
            "source": "writing_synth",
            "category": "writing",
        }
    ]
    _gz(folder / "train" / "math.jsonl.gz", math)
    _gz(folder / "train" / "arc.jsonl.gz", arc)
    _gz(folder / "train" / "chat.jsonl.gz", chat + train_only)
    routellm = [
        {"prompt": "short", "source": "gsm8k", "weak_correct": True, "strong_correct": True},
        {
            "prompt": "a much longer question " * 5,
            "source": "gsm8k",
            "weak_correct": False,
            "strong_correct": True,
        },
        {
            "prompt": "medium question here",
            "source": "mmlu:law",
            "weak_correct": True,
            "strong_correct": False,
        },
        {"prompt": "tiny", "source": "mmlu:law", "weak_correct": False, "strong_correct": False},
    ]
    _gz(folder / "routellm_gsm8k_mmlu.jsonl.gz", routellm)
    mt = [
        {"question_id": 1, "category": "writing", "turns": ["Write a haiku.", "More."]},
        {"question_id": 2, "category": "coding", "turns": ["hello there", "More."]},
    ]
    _gz(folder / "mt_bench_questions.jsonl.gz", mt)
    humaneval = [
        {"task_id": "HumanEval/0", "prompt": 'def add(a, b):\n    """Add two numbers."""\n'},
        {"task_id": "HumanEval/1", "prompt": 'def hello():\n    """Say hello."""\n'},
    ]
    _gz(folder / "humaneval_prompts.jsonl.gz", humaneval)
