"""Raw evidence for the task classifier: message flattening, cue-word counts and text statistics.

Everything here counts; nothing decides. `task_classifier` turns these counts into named
factors in [0, 1] and scores them. The work per request is one lower-casing, one word
tokenisation, a handful of precompiled regex scans and dictionary look-ups, so a prompt of
a few sentences costs tens of microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from annas_gift.routing.legacy.cue_words import CUE_GROUPS, CUE_PHRASES, CUE_WORDS

_G = {name: i for i, name in enumerate(CUE_GROUPS)}


# A phrase continuation: (second word, the words after it, group).
_Phrase = tuple[str, tuple[str, ...], int]


def _build_lookup() -> dict[str, tuple[tuple[int, ...], tuple[_Phrase, ...]]]:
    """Word -> (groups it belongs to, phrases it starts); built once at import."""
    groups: dict[str, list[int]] = {}
    phrases: dict[str, list[_Phrase]] = {}
    for name, words in CUE_WORDS.items():
        for word in words.split():
            members = groups.setdefault(word, [])
            if _G[name] not in members:
                members.append(_G[name])
    for name, items in CUE_PHRASES.items():
        for phrase in items:
            first, second, *rest = phrase.split()
            phrases.setdefault(first, []).append((second, tuple(rest), _G[name]))
    keys = groups.keys() | phrases.keys()
    return {k: (tuple(groups.get(k, ())), tuple(phrases.get(k, ()))) for k in keys}


_LOOKUP = _build_lookup()

# Words: runs of letters, digits and the joiners that keep "c++", "c#", "trade-offs" and
# "snake_case" whole. Tokenised with bytes.translate + split, several times faster than a regex;
# an apostrophe splits ("don't" -> "don", "t"), so quoted words match their cues.
_WORD_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_+#-")
_TO_SPACE = bytes(c if c in _WORD_CHARS else 32 for c in range(256))


def tokenize(lower: str) -> list[str]:
    """Split lower-cased text into words (non-ASCII letters act as separators)."""
    return lower.encode("ascii", "replace").translate(_TO_SPACE).decode("ascii").split()


_NUMBER_RE = re.compile(r"[0-9][0-9.,]*")
# Each pattern below starts with a literal or a narrow character class, so the regex engine
# skips ordinary prose quickly; the broader checks run only when a cheap test says they can hit.
_MATH_SYMBOL_RE = re.compile(r"[=<>^+%√∑∫∏≤≥≠±\u00d7÷π∞∂∈∀∃]")  # \u00d7: multiplication sign
_LATEX_RE = re.compile(r"\\[a-zA-Z]+")
_CALL_RE = re.compile(r"\((?<=[a-zA-Z]\()[a-z0-9]\)")  # f(x), g(2)
_TERM_RE = re.compile(r"[0-9][a-z](?![a-z])")  # 2x, 3n
_CAMEL_RE = re.compile(r"[A-Z](?<=[a-z][a-z][A-Z])")  # camelCase
_SNAKE_RE = re.compile(r"_(?<=[a-z0-9]_)[a-z0-9]")  # snake_case
_DOT_CALL_RE = re.compile(r"\.[A-Za-z_]\w*\(")  # obj.method(
# Stack traces and compiler/runtime errors.
_TRACE_RE = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"\n]+\", line \d+|\n[ \t]+at [\w.$<>]+\("
    r"|\w(?:Error|Exception)\b|Segmentation fault|panicked at|undefined reference"
)
_CODE_STARTS = (
    "def ", "class ", "import ", "from ", "return", "#include", "function", "const ", "let ",
    "var ", "public ", "private ", "static ", "async ", "fn ", "func ", "package ", "using ",
    "SELECT ", "INSERT ", "print(", "console.", "for (", "if (", "while (", "elif ", "except",
    "try:", "@", "}", "<div", "<html", "<script",
)  # fmt: skip
_CODE_ENDS = (";", "{", "}", "):", "=>")
# Numbered or bulleted list items, a) b) items; multiple-choice options are counted apart.
_LIST_RE = re.compile(r"^[ \t]*(?:\d{1,2}[.)]|[-*•]|[a-h]\))[ \t]+", re.MULTILINE)
_CHOICE_RE = re.compile(r"^[ \t]*\(?[A-E][.)][ \t].*", re.MULTILINE)
# "in 500 words", "fewer than 3 paragraphs": the requested size of the answer.
_SIZE_RE = re.compile(
    r"(\d[\d,]*)\s*(?:-\s*\d[\d,]*\s*)?"
    r"(words?|pages?|paragraphs?|sentences?|lines?|bullet points?)\b"
)
_UNIT_WORDS = {"word": 1, "page": 500, "paragraph": 120, "sentence": 20, "line": 12, "bullet": 15}

# Cues inside supplied material (between the first and the last line) describe the material,
# not the task, so they count half.
BODY_WEIGHT = 0.5

# Beyond this many characters only the head and tail are scanned: the counts saturate long
# before, and huge pastes must not make classification slow.
SCAN_LIMIT = 12_000


class TextCounts(NamedTuple):
    """Countable evidence in one text (a NamedTuple: cheap to build on the request path)."""

    chars: int
    words: int
    numbers: int
    math_marks: int
    code_lines: int
    identifiers: int
    fences: int
    list_items: int
    choices: int
    lines: int
    questions: int
    commas: int
    sentences: int
    requested_words: int
    body_chars: int
    cues: tuple[float, ...]
    tokens: frozenset[str]


def _count_cues(words: list[str], head: int, tail: int) -> tuple[float, ...]:
    """Cue-word and cue-phrase hits per group; words between the first `head` and the last
    `tail` (supplied material, answer options) count BODY_WEIGHT each."""
    cues = [0.0] * len(CUE_GROUPS)
    last = len(words) - 1
    tail_start = len(words) - tail
    for i, hit in enumerate(map(_LOOKUP.get, words)):
        if hit is None:
            continue
        weight = 1.0 if i < head or i >= tail_start else BODY_WEIGHT
        for g in hit[0]:
            cues[g] += weight
        if hit[1] and i < last:
            nxt = words[i + 1]
            for second, rest, g in hit[1]:
                # Compare the next word first: most phrase starters ("how", "in") go no further.
                if nxt == second and (not rest or tuple(words[i + 2 : i + 2 + len(rest)]) == rest):
                    cues[g] += weight
    return tuple(cues)


def _instruction_words(lower: str, n_words: int) -> tuple[int, int]:
    """Words in the first and the last line: where a request states its task."""
    stripped = lower.strip()
    first, _, rest = stripped.partition("\n")
    if not rest:
        return n_words, 0
    head = len(tokenize(first))
    last_line = rest.rpartition("\n")[2]
    tail = len(tokenize(last_line)) if len(last_line) <= 300 else 0
    return head, tail


def _requested_words(lower: str) -> int:
    """The largest answer size the text asks for, in words (0 when it names none)."""
    requested = 0
    for amount, unit in _SIZE_RE.findall(lower):
        digits = amount.replace(",", "")[:7]
        size = int(digits or 0) * _UNIT_WORDS.get(unit.split()[0].rstrip("s"), 1)
        requested = max(requested, size)
    return requested


def _math_marks(text: str, has_digit: bool) -> int:
    """Operators, relations, LaTeX commands, f(x)-style calls and 2x-style terms."""
    n = len(_MATH_SYMBOL_RE.findall(text))
    if "\\" in text:
        n += len(_LATEX_RE.findall(text))
    if "(" in text:
        n += len(_CALL_RE.findall(text))
    if has_digit:
        n += len(_TERM_RE.findall(text))
    return n


def _code_lines(text: str) -> int:
    """Lines that look like source code, plus stack-trace and error lines."""
    n = 0
    if "\n" in text or ";" in text:
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith(_CODE_STARTS) or stripped.endswith(_CODE_ENDS):
                n += 1
    if "Error" in text or "Exception" in text or "Traceback" in text or "  at " in text:
        n += len(_TRACE_RE.findall(text))
    return n


def _identifiers(text: str) -> int:
    """snake_case, camelCase, obj.method( and name() identifiers, and big-O complexities."""
    n = len(_CAMEL_RE.findall(text))
    if "_" in text:
        n += len(_SNAKE_RE.findall(text))
    if "(" in text:
        n += len(_DOT_CALL_RE.findall(text)) + text.count("()") + text.count("O(")
    return n


def scan_text(text: str) -> TextCounts:
    """Count the evidence in one text; linear in its length, bounded by SCAN_LIMIT."""
    chars = len(text)
    if chars > SCAN_LIMIT:
        half = SCAN_LIMIT // 2
        text = text[:half] + "\n" + text[-half:]
    lower = text.lower()
    words = tokenize(lower)
    numbers = len(_NUMBER_RE.findall(text))
    has_newline = "\n" in text
    # Supplied material: whatever follows the first line (or the first colon on one line),
    # except answer options, which belong to the question.
    cut = text.find("\n")
    if cut < 0:
        cut = text.find(": ")
    choices = _CHOICE_RE.findall(text) if has_newline else []
    body = len(text) - cut - 1 - sum(map(len, choices)) if cut >= 0 else 0
    sized = "word" in lower or "paragraph" in lower or "page" in lower or "sentence" in lower
    # Positional arguments, in field order: measurably cheaper than keywords on this hot path.
    n_words = len(words)
    if chars > SCAN_LIMIT:
        n_words = chars // 6
    elif not lower.isascii():
        # Scripts without spaces (or with many accents) tokenise poorly; characters still count.
        n_words = max(n_words, chars // 4)
    return TextCounts(
        chars,
        n_words,
        numbers,
        _math_marks(text, numbers > 0),
        _code_lines(text),
        _identifiers(text),
        text.count("```"),
        len(_LIST_RE.findall(text)) if has_newline else 0,
        len(choices),
        text.count("\n") + 1,
        text.count("?"),
        text.count(","),
        # Sentence ends, less the "A. " of answer options.
        text.count(". ")
        + text.count(".\n")
        + text.count("? ")
        + text.count("! ")
        + 1
        - len(choices),
        _requested_words(lower) if sized and numbers else 0,
        max(0, body),
        _count_cues(words, *_instruction_words(lower, len(words)))
        if has_newline
        else _count_cues(words, len(words), 0),
        frozenset(words),
    )


EMPTY_COUNTS = scan_text("")

# Supporting text (earlier turns, the last reply, the system prompt) only sets the topic; its
# most recent part is enough for that, and capping it bounds the cost of long conversations.
CONTEXT_LIMIT = 4_000


class Supporting(NamedTuple):
    """Words, cue hits and code fences of supporting text."""

    words: int
    cues: tuple[float, ...]
    fences: int


def scan_supporting(text: str) -> Supporting:
    """Light scan of supporting text: cue words and code fences only, last CONTEXT_LIMIT chars."""
    if len(text) > CONTEXT_LIMIT:
        text = text[-CONTEXT_LIMIT:]
    words = tokenize(text.lower())
    return Supporting(len(words), _count_cues(words, len(words), 0), text.count("```"))


class Conversation(NamedTuple):
    """A chat request flattened to what the classifier reads."""

    task: str  # the last user turn
    context: str  # earlier user turns
    reply: str  # the last assistant turn
    system: str
    user_turns: int
    assistant_turns: int
    tool_messages: int
    images: int
    max_tokens: int


def _get(obj: Any, key: str) -> Any:
    """Read a field from a dict or an object (Pydantic model, dataclass) alike."""
    if type(obj) is dict:  # the common case, without the slower ABC check below
        return obj.get(key)
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _content_text(content: Any) -> tuple[str, int]:
    """Text of a message's content (str, list of parts or None) and its number of images."""
    if isinstance(content, str):
        return content, 0
    if content is None:
        return "", 0
    if not isinstance(content, Sequence) or isinstance(content, bytes | bytearray):
        return "", 0
    texts: list[str] = []
    images = 0
    for part in content:
        if isinstance(part, str):
            texts.append(part)
            continue
        kind = _get(part, "type")
        if kind in ("image_url", "image", "input_image"):
            images += 1
        text = _get(part, "text")
        if isinstance(text, str):
            texts.append(text)
    return "\n".join(texts), images


# The previous classifier, frozen as the evaluation's baseline: kept as it was, not refactored.
def flatten_request(request: Any) -> Conversation:  # noqa: C901
    """Flatten a message list, or an object/dict with messages and max_tokens, to a Conversation."""
    if isinstance(request, str):
        return Conversation(request, "", "", "", 1, 0, 0, 0, 0)
    messages: Any = request
    max_tokens = 0
    if type(request) is not list and not isinstance(request, Sequence):
        messages = _get(request, "messages")
        for key in ("max_tokens", "max_completion_tokens"):
            value = _get(request, key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                max_tokens = value
                break
    if type(messages) is not list and (
        not isinstance(messages, Sequence) or isinstance(messages, str | bytes | bytearray)
    ):
        messages = ()
    users: list[str] = []
    systems: list[str] = []
    reply = ""
    assistant_turns = tool_messages = images = 0
    for message in messages:
        role = _get(message, "role")
        text, n_images = _content_text(_get(message, "content"))
        images += n_images
        if role in ("system", "developer"):
            systems.append(text)
        elif role == "assistant":
            assistant_turns += 1
            reply = text
            # Tool calls the model made earlier mean an agent loop, whatever the text says.
            if _get(message, "tool_calls"):
                tool_messages += 1
        elif role in ("tool", "function"):
            tool_messages += 1
        else:
            users.append(text)
    if users:
        task, context = users[-1], "\n".join(users[:-1])
    else:
        # No user turn: classify what there is rather than nothing.
        task, context = "\n".join(systems), ""
    system = "\n".join(systems) if users else ""
    return Conversation(
        task,
        context,
        reply if users else "",
        system,
        len(users),
        assistant_turns,
        tool_messages,
        images,
        max_tokens,
    )
