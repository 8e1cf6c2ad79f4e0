"""The task classifier's features: hashed word/character n-grams and named structural features.

One definition serves training and inference: `scripts/train_classifier.py` builds its matrix
from `hashed_features` and `structural_features`, and `task_classifier` computes the same dot
products by summing per-word weight vectors (the model is linear, so the two agree to rounding;
tests/routing/test_classifier_model.py checks it). Hashing is zlib.crc32, stable across runs and
machines (Python's hash() is salted per process).

Cost is bounded: n-grams come from at most HEAD_CHARS + TAIL_CHARS of the task (where requests
state what they want) and CONTEXT_CHARS of earlier turns; the structural counts on long texts
use C-level str methods, with regexes only on the same window.
"""

from __future__ import annotations

import math
import re
import zlib
from functools import lru_cache
from typing import NamedTuple

from annas_gift.routing.conversation import Conversation

HASH_BITS = 18
MASK = (1 << HASH_BITS) - 1
CHAR_WEIGHT = 0.5  # each character 4-gram of a word counts half a word
MIN_CHAR_WORD = 5  # shorter words are their own n-gram
CONTEXT_WEIGHT = 0.5  # earlier turns set the topic; the last user turn sets the task
HEAD_CHARS = 3_000
TAIL_CHARS = 1_500
CONTEXT_CHARS = 1_500
BIGRAM_MIX = 0x9E3779B1

# Word characters: letters, digits and the joiners that keep "c++", "c#", "snake_case" whole.
# Digits all map to "0": the shape of a number is evidence, its value is not.
_WORD_BYTES = b"abcdefghijklmnopqrstuvwxyz_+#-"
_TO_WORDS = bytes(c if c in _WORD_BYTES else (48 if 48 <= c <= 57 else 32) for c in range(256))


def tokenize(text: str) -> list[str]:
    """Lower-cased words of a text (non-ASCII characters separate words)."""
    return text.lower().encode("ascii", "replace").translate(_TO_WORDS).decode("ascii").split()


def window(text: str) -> str:
    """The part of a task the n-grams read: all of it, or its head and tail when long."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def word_hash(word: str) -> int:
    """Stable 32-bit hash of a word."""
    return zlib.crc32(word.encode("ascii"))


@lru_cache(maxsize=65_536)
def word_buckets(word: str) -> tuple[tuple[int, float], ...]:
    """(bucket, weight) of a word's unigram and, for longer words, its character 4-grams."""
    out = [(word_hash(word) & MASK, 1.0)]
    if len(word) >= MIN_CHAR_WORD:
        padded = f"<{word}>"
        for i in range(len(padded) - 3):
            out.append((zlib.crc32(b"#" + padded[i : i + 4].encode("ascii")) & MASK, CHAR_WEIGHT))
    return tuple(out)


def bigram_bucket(first_hash: int, second_hash: int) -> int:
    """Bucket of a word pair, from the two words' hashes."""
    return ((first_hash * BIGRAM_MIX) ^ second_hash) & MASK


class TokenUnit(NamedTuple):
    """Words of one part of the request and the weight each occurrence carries."""

    words: list[str]
    scale: float


def token_units(conv: Conversation, task: list[str] | None = None) -> tuple[TokenUnit, ...]:
    """The task's words at 1/sqrt(n) each, earlier turns' words at CONTEXT_WEIGHT/sqrt(n).

    `task` is `tokenize(window(conv.task))` when the caller has it already."""
    if task is None:
        task = tokenize(window(conv.task))
    units = [TokenUnit(task, 1.0 / math.sqrt(len(task)) if task else 0.0)]
    earlier = (conv.context + "\n" + conv.reply).strip()
    if earlier:
        ctx = tokenize(earlier[-CONTEXT_CHARS:])
        if ctx:
            units.append(TokenUnit(ctx, CONTEXT_WEIGHT / math.sqrt(len(ctx))))
    return tuple(units)


def hashed_features(conv: Conversation) -> dict[int, float]:
    """Bucket -> value of the hashed n-grams (the training-side form of the same features)."""
    out: dict[int, float] = {}
    for words, scale in token_units(conv):
        prev = None
        for word in words:
            for bucket, weight in word_buckets(word):
                out[bucket] = out.get(bucket, 0.0) + weight * scale
            h = word_hash(word)
            if prev is not None:
                b = bigram_bucket(prev, h)
                out[b] = out.get(b, 0.0) + scale
            prev = h
    return out


# Structural features, in a fixed order (the artifact's weight rows follow it). Each is in
# [0, 1]; what each measures is in docs/routing.md.
STRUCTURAL: tuple[str, ...] = (
    "passage_words",
    "avg_word_length",
    "sentences",
    "lines",
    "questions",
    "code_block",
    "code_lines",
    "identifiers",
    "traceback",
    "latex_density",
    "math_symbols",
    "numbers",
    "number_density",
    "proof_cue",
    "multiple_choice",
    "list_items",
    "requested_length",
    "brevity_cue",
    "max_tokens",
    "context_words",
    "conversation_turns",
    "system_prompt",
    "tools",
    "images",
)

_LATEX_RE = re.compile(r"\\[a-zA-Z]+|\$")
_MATH_SYMBOL_RE = re.compile(r"[=<>^+*/%√∑∫∏≤≥≠±\u00d7÷π∞∂∈∀∃]")
_CAMEL_RE = re.compile(r"[a-z][A-Z][a-z]")
_SNAKE_RE = re.compile(r"[a-z0-9]_[a-z0-9]")
_CALL_RE = re.compile(r"[A-Za-z_]\w*\(")
_TRACE_RE = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"\n]+\", line \d+|\n[ \t]+at [\w.$<>]+\("
    r"|\b\w+(?:Error|Exception)\b|Segmentation fault|panicked at|undefined reference"
)
_CODE_LINE_RE = re.compile(
    r"^[ \t]*(?:def |class |import |from \w+ import|return\b|#include|function\b|const |let |"
    r"var |public |private |static |fn |func |package |SELECT |INSERT |UPDATE |print\(|"
    r"console\.|for ?\(|if ?\(|while ?\(|elif |except|try:|\}|<\w+>)|[;{]\s*$|\):\s*$|=>",
    re.MULTILINE,
)
# Cue words are looked up in the task's word set, cue phrases found as substrings of the
# lower-cased text: both far cheaper than a regex alternation scanned at every position.
_PROOF_WORDS = frozenset(
    [
        "prove",
        "proves",
        "proving",
        "proof",
        "proofs",
        "disprove",
        "theorem",
        "lemma",
        "corollary",
        "olympiad",
        "imo",
        "putnam",
    ]
)
_PROOF_PHRASES = ("show that", "demonstrate that", "if and only if", "for all integers")
_BRIEF_WORDS = frozenset(["briefly", "brief", "concise", "tldr"])
_BRIEF_PHRASES = (
    "in one sentence",
    "in one word",
    "in one line",
    "short answer",
    "one-line",
    "yes or no",
    "just say",
    "just answer",
    "just tell",
)
_CHOICE_RE = re.compile(r"^[ \t]*\(?[A-E1-5][.)][ \t]", re.MULTILINE)
_LIST_RE = re.compile(r"^[ \t]*(?:\d{1,2}[.)]|[-*•])[ \t]+", re.MULTILINE)
_SIZE_RE = re.compile(
    r"(\d[\d,]*)\s*(?:-\s*\d[\d,]*\s*)?"
    r"(words?|pages?|paragraphs?|sentences?|lines?|bullet points?)\b",
    re.IGNORECASE,
)
_UNIT_WORDS = {"word": 1, "page": 500, "paragraph": 120, "sentence": 20, "line": 12, "bullet": 15}
_LOG_WORDS = math.log1p(5_000)
_LOG_REQUESTED = math.log1p(5_000)
_LOG_SYSTEM = math.log1p(1_000)


def _cap(x: float) -> float:
    return x if x < 1.0 else 1.0


def _requested_words(text: str) -> int:
    """The largest answer size the text asks for, in words (0 when it names none)."""
    requested = 0
    for amount, unit in _SIZE_RE.findall(text):
        digits = amount.replace(",", "")[:6]
        size = int(digits or 0) * _UNIT_WORDS.get(unit.lower().split()[0].rstrip("s"), 1)
        requested = max(requested, size)
    return requested


def _word_count(text: str) -> int:
    """Words in a text, by its separators (C-level counts: cheap on huge pastes)."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return len(text.split())
    return text.count(" ") + text.count("\n") + 1


def _cue(
    words: frozenset[str], lower: str, cue_words: frozenset[str], phrases: tuple[str, ...]
) -> float:
    """1.0 when the task uses one of the cue words or phrases."""
    if not words.isdisjoint(cue_words):
        return 1.0
    return 1.0 if any(p in lower for p in phrases) else 0.0


def structural_features(conv: Conversation, task_words: list[str] | None = None) -> list[float]:
    """The named structural features of a request, in STRUCTURAL order, each in [0, 1].

    `task_words` is `tokenize(window(conv.task))` when the caller has it already."""
    full = conv.task
    text = window(full)
    words = _word_count(full)
    per_words = words + 1.0
    win_words = len(text.split()) + 1.0  # densities are measured on the window
    lines = full.count("\n") + 1
    sentences = full.count(". ") + full.count(".\n") + full.count("? ") + full.count("! ") + 1
    fences = text.count("```")
    latex = len(_LATEX_RE.findall(text)) if ("\\" in text or "$" in text) else 0
    numbers = sum(map(text.count, "0123456789"))
    paren = "(" in text
    idents = len(_CAMEL_RE.findall(text)) + (len(_SNAKE_RE.findall(text)) if "_" in text else 0)
    if paren:
        idents += len(_CALL_RE.findall(text))
    has_lines = "\n" in text
    lower = text.lower()
    words_set = frozenset(tokenize(text) if task_words is None else task_words)
    ctx_words = (
        len(conv.context.split()) + len(conv.reply.split()) if conv.context or conv.reply else 0
    )
    turns = conv.user_turns + conv.assistant_turns - 1
    return [
        _cap(math.log1p(words) / _LOG_WORDS),
        _cap(len(text) / per_words / 12.0),
        _cap(math.log1p(sentences) / math.log1p(100)),
        _cap(math.log1p(lines) / math.log1p(200)),
        _cap(full.count("?") / 5),
        1.0 if fences >= 2 else 0.0,
        _cap(len(_CODE_LINE_RE.findall(text)) / 10) if has_lines or ";" in text else 0.0,
        _cap(idents / 10),
        1.0
        if ("Error" in text or "Exception" in text or "Traceback" in text or " at " in text)
        and _TRACE_RE.search(text)
        else 0.0,
        _cap(latex / (win_words / 10 + 1)),
        _cap(len(_MATH_SYMBOL_RE.findall(text)) / (win_words / 5 + 1)),
        _cap(numbers / 20),
        _cap(numbers / win_words),
        _cue(words_set, lower, _PROOF_WORDS, _PROOF_PHRASES),
        _cap(len(_CHOICE_RE.findall(text)) / 4) if has_lines else 0.0,
        _cap(len(_LIST_RE.findall(text)) / 8) if has_lines else 0.0,
        _cap(math.log1p(_requested_words(text)) / _LOG_REQUESTED) if numbers else 0.0,
        _cue(words_set, lower, _BRIEF_WORDS, _BRIEF_PHRASES),
        _cap(math.log1p(conv.max_tokens) / _LOG_REQUESTED),
        _cap(math.log1p(ctx_words) / _LOG_WORDS),
        _cap(turns / 8) if turns > 0 else 0.0,
        _cap(math.log1p(len(conv.system.split())) / _LOG_SYSTEM) if conv.system else 0.0,
        _cap((conv.tools + conv.tool_messages) / 3),
        _cap(conv.images / 2),
    ]
