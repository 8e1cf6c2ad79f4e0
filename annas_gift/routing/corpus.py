"""The vendored routing corpus (data/routing/ at the repository root): loading, the fixed
train/validation split, and the tier labels.

Used by scripts/train_classifier.py and `annas-gift eval-classifier`; never at run time.

Split: a row goes to validation when crc32 of its split key % 5 == 0. The key is the template
for templated synthetic sources (whole templates are held out, so the classifier cannot pass
validation by memorising a frame), the `group_id` where rows share an underlying example (P3
renderings, Exercism's one exercise in 13 languages), else the prompt itself.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from annas_gift.routing.types import CATEGORIES, Category, Tier

DATA_ENV = "ANNAS_GIFT_ROUTING_DATA"
TRAIN_DIR = "train"
VALIDATION_MODULUS = 5

# Synthetic sources written from many templates: validation holds out whole templates. (The
# code generators have only 3 to 11 wrappers each; they are split by their group_id, i.e. by
# function, database or error type, so a held-out wrapper set cannot empty a source.)
TEMPLATED_SOURCES = frozenset(
    {"writing_synth", "chat_synth", "knowledge_vignette_synth", "code_stub_synth"}
)

# Tier priors where the source has no difficulty label (documented in docs/routing.md): small
# talk, entry-level coding exercises (MBPP) and one-line how-to questions (CoNaLa intents) are
# what a fast model does well.
FAST_PRIOR_SOURCES = frozenset({"mbpp"})
FAST_PRIOR_TEMPLATES = frozenset({"conala_intent"})


class RoutingDataMissingError(FileNotFoundError):
    """The routing data is not where it was looked for."""


@dataclass(frozen=True, slots=True)
class CorpusRow:
    """One labelled training-corpus prompt."""

    prompt: str
    source: str
    category: Category
    difficulty: str | None
    tier: Tier | None  # from the source's difficulty label or a documented prior
    tier_kind: str | None  # "difficulty" or "prior"
    validation: bool
    split_key: str
    # The family a synthetic row was made from (code_stub_synth wraps MBPP tasks): leave-one-
    # source-out holds such rows out with their origin, whose wording they carry.
    derived_from: str | None = None

    @property
    def family(self) -> str:
        """The source as reported: Exercism's 13 language tracks are one source."""
        return "exercism" if self.source.startswith("exercism/") else self.source


def default_data_dir() -> Path:
    """$ANNAS_GIFT_ROUTING_DATA, else data/routing at the repository root."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "data" / "routing"


def require(path: Path) -> Path:
    """The path, or RoutingDataMissingError naming it."""
    if not path.exists():
        raise RoutingDataMissingError(
            f"routing data not found: {path} (a clean clone has it under data/routing/; "
            f"or point {DATA_ENV} / --data-dir at a copy)"
        )
    return path


def read_jsonl(path: Path) -> Iterator[dict[str, object]]:
    """Rows of a .jsonl or .jsonl.gz file."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(require(path), "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def write_jsonl_gz(path: Path, rows: Iterable[dict[str, object]]) -> int:
    """Write rows as gzipped JSONL, reproducibly; returns how many were written.

    No name and mtime=0 in the gzip header: the same rows give the same bytes wherever the file
    is written (the artifact records the data's sha256)."""
    count = 0
    with open(path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as fh:
        for row in rows:
            fh.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
            count += 1
    return count


def split_key(row: dict[str, object]) -> str:
    """What the train/validation split hashes for a row (see the module docstring)."""
    source = str(row["source"])
    template = row.get("template")
    if source in TEMPLATED_SOURCES and template:
        return f"{source}/{template}"
    group = row.get("group_id")
    if group:
        return str(group)
    return str(row["prompt"])


def is_validation_key(key: str) -> bool:
    """True for the fixed fifth of split keys held out for validation."""
    return zlib.crc32(key.encode("utf-8")) % VALIDATION_MODULUS == 0


def tier_label(row: dict[str, object]) -> tuple[Tier | None, str | None]:
    """The row's tier and where it comes from: the source's difficulty label, a prior, or none."""
    tier = row.get("tier")
    if tier in ("fast", "powerful"):
        return tier, "difficulty"
    if row.get("category") == "chat":
        return "fast", "prior"
    if row.get("source") in FAST_PRIOR_SOURCES or row.get("template") in FAST_PRIOR_TEMPLATES:
        return "fast", "prior"
    return None, None


def load_corpus(data_dir: Path | None = None) -> list[CorpusRow]:
    """Every row of the training corpus, in file-name then line order, with its split."""
    data_dir = data_dir if data_dir is not None else default_data_dir()
    folder = require(data_dir / TRAIN_DIR)
    rows: list[CorpusRow] = []
    files = sorted(folder.glob("*.jsonl.gz"))
    if not files:
        raise RoutingDataMissingError(f"no *.jsonl.gz files in {folder}")
    for path in files:
        for raw in read_jsonl(path):
            category = raw.get("category")
            if category not in CATEGORIES:
                continue
            key = split_key(raw)
            tier, kind = tier_label(raw)
            difficulty = raw.get("difficulty")
            origin = raw.get("derived_from")
            rows.append(
                CorpusRow(
                    prompt=str(raw["prompt"]),
                    source=str(raw["source"]),
                    category=category,
                    difficulty=None if difficulty is None else str(difficulty),
                    tier=tier,
                    tier_kind=kind,
                    validation=is_validation_key(key),
                    split_key=key,
                    derived_from=None if origin is None else str(origin),
                )
            )
    return rows
