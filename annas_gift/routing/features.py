"""The task classifier's features: hashed words and word pairs, and named structural features.

One definition serves training and inference: `scripts/train_classifier.py` builds its matrix
from `hashed_features` and `structural_features`, and `task_classifier` computes the same dot
products from `read_task` (tests/routing/test_classifier_model.py checks they agree). Words and
word pairs are keyed by zlib.crc32 of their bytes (32 bits: stable across runs and machines,
unlike the salted hash(), and wide enough that distinct n-grams practically never collide).

Cost is bounded and small: every feature reads at most HEAD_CHARS + TAIL_CHARS of the task (the
head and tail, where a request says what it wants) and CONTEXT_CHARS of earlier turns; the
whole task's size enters only through len(). Per word the work is C-level map() chains (crc32,
dict look-ups) and the structural features are str.count / bytes.translate counts, with one
small regex for requested sizes. No character n-grams: they mostly encode a source's style.
"""

from __future__ import annotations

import math
import re
from itertools import repeat
from typing import NamedTuple
from zlib import crc32

from annas_gift.routing.conversation import Conversation

HASH_BITS = 32  # n-gram keys are full crc32 values (the artifact checks it)
CONTEXT_WEIGHT = 0.5  # earlier turns set the topic; the last user turn sets the task
HEAD_CHARS = 800
TAIL_CHARS = 300
CONTEXT_CHARS = 1_000
REQUEST_CHARS = 400  # head and tail searched for an answer size ("in 500 words")

# Word characters: letters, digits and the joiners that keep "c++", "c#", "snake_case" whole.
# Digits all map to "0": the shape of a number is evidence, its value is not.
_WORD_BYTES = b"abcdefghijklmnopqrstuvwxyz_+#-"
_TO_WORDS = bytes(c if c in _WORD_BYTES else (48 if 48 <= c <= 57 else 32) for c in range(256))
_DIGITS = b"0123456789"
_TO_SHAPE = bytes(48 if 48 <= c <= 57 else c for c in range(256))  # digits -> "0", rest kept
_MATH_BYTES = b"=<>^+*/%"
_SENTENCE_ENDS = b".?!"
# One translate sorts the window's bytes into digits ("0"), sentence ends (".") and math
# symbols ("="), everything else a space: three counts of one pass, not three passes.
_TO_CLASS = bytes(
    48 if c in _DIGITS else 46 if c in _SENTENCE_ENDS else 61 if c in _MATH_BYTES else 32
    for c in range(256)
)


def tokenize(text: str) -> list[bytes]:
    """Lower-cased ASCII words of a text (other characters separate words)."""
    return text.lower().encode("ascii", "replace").translate(_TO_WORDS).split()


def window(text: str) -> str:
    """The part of a task the features read: all of it, or its head and tail when long."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def ngram_keys(words: list[bytes]) -> tuple[list[int], list[int]]:
    """crc32 keys of the words and of the adjacent word pairs (crc32 of b"first second")."""
    unigrams = list(map(crc32, words))
    # crc32(second, crc32(b" ", crc32(first))) == crc32(first + b" " + second), without
    # building the pair's bytes.
    return unigrams, list(map(crc32, words[1:], map(crc32, repeat(b" "), unigrams)))


class TaskView(NamedTuple):
    """What every feature reads of the last user turn, computed once per request."""

    text: str  # window(task)
    words: list[bytes]
    unigrams: list[int]
    bigrams: list[int]


def read_task(conv: Conversation) -> TaskView:
    """The task's window, its words and their n-gram keys."""
    text = window(conv.task)
    words = tokenize(text)
    return TaskView(text, words, *ngram_keys(words))


class TokenUnit(NamedTuple):
    """N-gram keys of one part of the request and the weight each occurrence carries."""

    keys: tuple[list[int], list[int]]
    scale: float


def token_units(conv: Conversation, view: TaskView | None = None) -> tuple[TokenUnit, ...]:
    """The task's n-grams at 1/sqrt(n) each, earlier turns' at CONTEXT_WEIGHT/sqrt(n)."""
    view = view or read_task(conv)
    n = len(view.words)
    units = [TokenUnit((view.unigrams, view.bigrams), 1.0 / math.sqrt(n) if n else 0.0)]
    if conv.context or conv.reply:
        earlier = (conv.context + "\n" + conv.reply).strip()
        ctx = tokenize(earlier[-CONTEXT_CHARS:])
        if ctx:
            units.append(TokenUnit(ngram_keys(ctx), CONTEXT_WEIGHT / math.sqrt(len(ctx))))
    return tuple(units)


def hashed_features(conv: Conversation) -> dict[int, float]:
    """N-gram key -> value (the training-side form of the same features)."""
    out: dict[int, float] = {}
    for (unigrams, bigrams), scale in token_units(conv):
        for key in unigrams + bigrams:
            out[key] = out.get(key, 0.0) + scale
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


def _keys(*phrases: str) -> frozenset[int]:
    """The n-gram keys of cue words ("prove") and two-word cue phrases ("show that")."""
    return frozenset(crc32(b" ".join(tokenize(p))) for p in phrases)


# Words that ask for a proof. Not "olympiad" / "imo" / "putnam": in MATH train they mostly
# name a team or a contest inside a word problem (27 rows, levels 1 to 5 alike), which the
# +3 prior would then send to the powerful tier; the n-grams learn what they are worth.
_PROOF_CUES = _keys(
    "prove", "proves", "proving", "proof", "proofs", "disprove", "theorem", "lemma",
    "corollary", "show that", "demonstrate that", "only if", "all integers",
)  # fmt: skip
_BRIEF_CUES = _keys(
    "briefly", "brief", "concise", "tldr", "one-line",
    "tl dr", "one sentence", "one word", "one line", "short answer", "yes or", "just say",
    "just answer", "just tell",
)  # fmt: skip
_CUES = _PROOF_CUES | _BRIEF_CUES
# Substrings of code (counted only when the text has code punctuation at all).
_CODE_MARKS = (
    "def ", "class ", "import ", "return ", "#include", "function ", "const ", "let ", "var ",
    "public ", "fn ", "func ", "SELECT ", "select ", ";\n", "{\n", "}\n", "):\n", "=>",
    "\n    ", "\n\t", "print(", "console.",
)  # fmt: skip
_CODE_PUNCTUATION = ("{", ";", "_", "=", "()", "\n    ")
_TRACE_MARKS = (
    "Traceback (most recent", "Error:", "Exception:", "Exception in thread", 'File "',
    "Segmentation fault", "panicked at", "undefined reference", "\n    at ", "\tat ",
)  # fmt: skip
_CHOICE_MARKS = ("\nB. ", "\nC. ", "\nD. ", "\nB) ", "\nC) ", "\nD) ", "\n(B) ", "\n(C) ", "\n(D) ")
_LIST_MARKS = (b"\n- ", b"\n* ", b"\n0. ", b"\n0) ", b"\n00. ")
_SIZE_RE = re.compile(
    r"(\d[\d,]*)\s*(?:-\s*\d[\d,]*\s*)?"
    r"(words?|pages?|paragraphs?|sentences?|lines?|bullet points?)\b",
    re.IGNORECASE,
)
_UNIT_WORDS = {"word": 1, "page": 500, "paragraph": 120, "sentence": 20, "line": 12, "bullet": 15}
_LOG_WORDS = math.log1p(5_000)
_LOG_REQUESTED = math.log1p(5_000)
_LOG_SYSTEM = math.log1p(1_000)
_LOG_SENTENCES = math.log1p(100)
_LOG_LINES = math.log1p(200)
_CHARS_PER_WORD = 6.0  # earlier turns and system prompts: sizes from len(), not a split


def _cap(x: float) -> float:
    return x if x < 1.0 else 1.0


def _requested_words(text: str) -> int:
    """The largest answer size the head or tail of the text asks for, in words (0: none)."""
    if len(text) > 2 * REQUEST_CHARS:
        text = text[:REQUEST_CHARS] + "\n" + text[-REQUEST_CHARS:]
    requested = 0
    for amount, unit in _SIZE_RE.findall(text):
        digits = amount.replace(",", "")[:6]
        size = int(digits or 0) * _UNIT_WORDS.get(unit.lower().split()[0].rstrip("s"), 1)
        requested = max(requested, size)
    return requested


def _code_lines(text: str) -> float:
    """Code-looking substrings / 10, 0 for text without code punctuation (most prose)."""
    if not any(map(text.__contains__, _CODE_PUNCTUATION)):
        return 0.0
    return _cap(sum(map(text.count, _CODE_MARKS)) / 10)


def structural_features(conv: Conversation, view: TaskView | None = None) -> list[float]:
    """The named structural features of a request, in STRUCTURAL order, each in [0, 1].

    `view` is `read_task(conv)` when the caller has it already."""
    view = view or read_task(conv)
    text = view.text
    raw = text.encode("ascii", "replace")
    n_win = len(view.words)
    # Counts in the window stand for the whole task scaled by its length (exact when the
    # window is the whole task): a 4,000-word paste costs what 2,000 characters do.
    scale = len(conv.task) / len(text) if text else 1.0
    per_word = n_win + 1.0
    classes = raw.translate(_TO_CLASS)
    digits = classes.count(b"0")
    newlines = text.count("\n")
    # One pass over the n-gram keys finds every cue; most requests have none.
    cues = _CUES.intersection(view.unigrams + view.bigrams)
    idents = text.count("_")
    if "(" in text:
        idents += text.count("(") - text.count(" (") - text.count("\n(")
    ctx_words = (len(conv.context) + len(conv.reply)) / _CHARS_PER_WORD
    turns = conv.user_turns + conv.assistant_turns - 1
    return [
        _cap(math.log1p(n_win * scale) / _LOG_WORDS),
        _cap(len(text) / per_word / 12.0),
        _cap(math.log1p(classes.count(b".") * scale) / _LOG_SENTENCES),
        _cap(math.log1p(newlines * scale + 1) / _LOG_LINES),
        _cap(text.count("?") / 5),
        1.0 if text.count("```") >= 2 else 0.0,
        _code_lines(text),
        _cap(idents / 10),
        1.0 if any(map(text.__contains__, _TRACE_MARKS)) else 0.0,
        _cap((text.count("\\") + text.count("$")) / (n_win / 10 + 1)),
        _cap(classes.count(b"=") / (n_win / 5 + 1)),
        _cap(digits / 20),
        _cap(digits / per_word),
        0.0 if not cues or _PROOF_CUES.isdisjoint(cues) else 1.0,
        _cap(sum(map(text.count, _CHOICE_MARKS)) / 3) if "\nB" in text or "\n(B" in text else 0.0,
        _cap(sum(map(raw.translate(_TO_SHAPE).count, _LIST_MARKS)) / 8) if newlines >= 2 else 0.0,
        _cap(math.log1p(_requested_words(text)) / _LOG_REQUESTED) if digits else 0.0,
        0.0 if not cues or _BRIEF_CUES.isdisjoint(cues) else 1.0,
        _cap(math.log1p(conv.max_tokens) / _LOG_REQUESTED),
        _cap(math.log1p(ctx_words) / _LOG_WORDS),
        _cap(turns / 8) if turns > 0 else 0.0,
        _cap(math.log1p(len(conv.system) / _CHARS_PER_WORD) / _LOG_SYSTEM),
        _cap((conv.tools + conv.tool_messages) / 3),
        _cap(conv.images / 2),
    ]
