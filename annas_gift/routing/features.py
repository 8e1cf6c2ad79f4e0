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

# Cue groups: indices into `TextCounts.cues`. Names match the factors they feed.
CUE_GROUPS: tuple[str, ...] = (
    "code_terms",
    "math_terms",
    "proof",
    "reasoning",
    "logic",
    "multi_step",
    "constraints",
    "passage",
    "extraction",
    "creative_writing",
    "roleplay",
    "knowledge_terms",
    "chit_chat",
    "brevity",
    "long_output",
)
_G = {name: i for i, name in enumerate(CUE_GROUPS)}

# Single words per cue group. Lists are general vocabulary of each kind of task, written from
# what such requests look like, not copied from any evaluation set.
_CUE_WORDS: dict[str, str] = {
    "code_terms": """
        python javascript typescript java golang rust kotlin swift ruby php perl scala haskell
        sql html css regex regexp bash shell powershell json-schema cpp c++ c# f#
        code coding coder program programs programming programmer script scripts function
        functions method methods class classes variable variables array arrays algorithm
        algorithms recursion recursive iterative compile compiler compiles compiled debug
        debugging bug bugs buggy refactor implement implementation implementing api apis
        endpoint endpoints database sql query queries unittest pytest jest repository repo git
        docker kubernetes linux npm pip library framework react django flask fastapi node nodejs
        runtime exception exceptions traceback stacktrace segfault syntax linked hashmap hashtable
        struct pointer pointers integer-overflow nullable async await thread threads mutex
        deadlock lambda closure closures typeerror valueerror keyerror nullpointerexception
        binary-tree website webpage frontend backend server client http url cli gui leetcode
    """,
    "math_terms": """
        solve solving equation equations integral integrals derivative derivatives calculate
        compute probability prime primes remainder divisible divisor sum product fraction
        fractions percent percentage average ratio area volume perimeter triangle triangles
        circle radius diameter polynomial polynomials matrix matrices vector vectors eigenvalue
        eigenvalues inequality inequalities integer integers digits digit simplify expression
        logarithm log sqrt square squared cube root roots geometry algebra calculus limit
        limits converge convergence series sequence dice coin odds mean median variance
        factorial exponent exponential modulo arithmetic multiply multiplied divide divided
        subtract minus plus times total cost costs profit interest discount speed rate
        minutes hours miles kilometers meters dollars cents
    """,
    "proof": """
        prove proof proofs proving derive derivation theorem theorems lemma lemmas corollary
        irrational induction rigorous rigorously formally qed axiom axioms
    """,
    "reasoning": """
        why reason reasons reasoning analyze analyse analysis evaluate justify justification
        critique critically implications implication tradeoff tradeoffs trade-offs pros cons
        argue argument arguments assess consequences explain
    """,
    "logic": """
        puzzle puzzles riddle riddles logic logical deduce deduction infer inference conclude
        conclusion therefore implies paradox premise premises contradiction syllogism
        statements uncertain suppose overtake overtaken
    """,
    "multi_step": """
        step steps first second third then next finally afterwards afterward subsequently
        stage stages phase phases plan pipeline workflow also additionally
    """,
    "constraints": """
        must should exactly only ensure require requires required requirement requirements
        constraint constraints format formatted json csv yaml xml markdown table bullet
        bullets limit maximum minimum avoid never always strictly without
    """,
    "passage": """
        passage passages paragraph paragraphs text texts article articles excerpt excerpts
        document documents transcript following below above provided given according
        context reviews review abstract quoted
    """,
    "extraction": """
        extract extracts extraction summarize summarise summary identify classify categorize
        categorise count mentioned parse tag label rate sentiment entities entity highlight
        keywords outline
    """,
    "creative_writing": """
        poem poems poetry poet story stories haiku limerick sonnet lyrics song verse essay blog
        email letter speech screenplay novel fiction fictional narrative character characters
        plot dialogue slogan headline tagline tweet caption compose craft draft rewrite rephrase
        paraphrase proofread polish tone persuasive vivid imagery creative catchy engaging
        descriptive imaginative rhyme rhymes
    """,
    "roleplay": """
        pretend roleplay role-play persona embody impersonate imagine yourself role
    """,
    "knowledge_terms": """
        what who when where which explain describe define definition history historical
        theory concept concepts principle principles difference differences compare discuss
        overview mechanism process cause causes effect effects impact significance science
        scientific biology chemistry physics economics economic law legal philosophy
        psychology medicine medical sociology geography politics political culture cultural
        religion quantum molecular cell cells dna evolution climate energy planet gravity atom
        atoms molecule reaction theory century war empire government policy fact facts
    """,
    "chit_chat": """
        hi hello hey hiya thanks thank cheers bye goodbye lol haha joke jokes chat talk
        feel feeling favorite favourite weekend bored fun
    """,
    "brevity": """
        brief briefly short shortly concise concisely quick quickly succinct tl;dr eli5
        one-liner
    """,
    "long_output": """
        detailed comprehensive thorough thoroughly in-depth extensive complete elaborate
        report chapter tutorial guide documentation exhaustive
    """,
}

# Multi-word cues: (first word, following words) -> group. Checked only when the first word
# appears, so they cost one dictionary miss per ordinary word.
_CUE_PHRASES: dict[str, tuple[str, ...]] = {
    "code_terms": ("time complexity", "space complexity", "unit test", "unit tests", "pull request"),
    "math_terms": ("how many", "how much", "how far", "how long", "at least", "at most"),
    "proof": ("show that", "prove that", "if and only"),
    "reasoning": ("step by step", "think carefully", "explain why", "what if"),
    "logic": ("true false", "true or false", "which one", "does not belong", "relationship between"),
    "multi_step": ("and then", "after that", "for each", "as well"),
    "constraints": ("do not", "don't", "no more than", "fewer than", "less than", "at least",
                    "at most", "make sure", "instead of"),
    "passage": ("the following", "given the", "based on", "from the text", "in the text"),
    "extraction": ("list all", "find all", "how many times", "key points", "main points"),
    "creative_writing": ("short story", "blog post", "write a", "write an", "cover letter"),
    "roleplay": ("act as", "you are a", "you are an", "pretend to", "in the style", "as if you",
                 "take on", "role of", "play the"),
    "knowledge_terms": ("what is", "what are", "who was", "how does", "how do", "tell me about"),
    "chit_chat": ("how are you", "good morning", "good night", "what's up", "nice to", "you doing"),
    "brevity": ("one sentence", "one word", "one line", "in short", "yes or no", "keep it short"),
    "long_output": ("step-by-step guide", "in detail", "full implementation", "as much detail"),
}


def _build_lookup() -> dict[str, tuple[tuple[int, ...], tuple[tuple[tuple[str, ...], int], ...]]]:
    """Word -> (groups it belongs to, phrases it starts); built once at import."""
    groups: dict[str, list[int]] = {}
    phrases: dict[str, list[tuple[tuple[str, ...], int]]] = {}
    for name, words in _CUE_WORDS.items():
        for word in words.split():
            members = groups.setdefault(word, [])
            if _G[name] not in members:
                members.append(_G[name])
    for name, items in _CUE_PHRASES.items():
        for phrase in items:
            first, *rest = phrase.split()
            phrases.setdefault(first, []).append((tuple(rest), _G[name]))
    keys = groups.keys() | phrases.keys()
    return {k: (tuple(groups.get(k, ())), tuple(phrases.get(k, ()))) for k in keys}


_LOOKUP = _build_lookup()

# Letters, digits and the joiners that keep "don't", "c++", "trade-offs" and "snake_case" whole.
_WORD_RE = re.compile(r"[a-z][a-z0-9_'+#;-]*[a-z0-9+#]|[a-z]")
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
# Operators, relations, LaTeX commands, f(x)-style calls, 2x-style terms, x^2.
_MATH_RE = re.compile(
    r"[=<>^√∑∫∏≤≥≠±×÷π∞∂∈∀∃]"
    r"|\\[a-zA-Z]+"
    r"|\b[a-zA-Z]\s?\(\s?[a-zA-Z0-9]\s?\)"
    r"|\b\d+[a-z]\b"
    r"|\b[a-z]\s?[-+*/]\s?[a-z0-9]\b"
)
# Lines that look like source code, and the tell-tale lines of stack traces and compiler errors.
_CODE_LINE_RE = re.compile(
    r"^[ \t]*(?:def |class |import |from \S+ import|return\b|#include|function\b|const |let |var "
    r"|public |private |static |async |fn |func |package |using |SELECT |INSERT |print\(|console\."
    r"|for \(|if \(|while \(|elif |except\b|try:|@\w+)"
    r"|[;{}][ \t]*$"
    r"|Traceback \(most recent call last\)|^[ \t]+at [\w.$<>]+\(|File \"[^\"\n]+\", line \d+"
    r"|\b\w+(?:Error|Exception):|Segmentation fault|panicked at|undefined reference",
    re.MULTILINE,
)
# snake_case, camelCase, dotted.calls(), and empty-call identifiers.
_IDENT_RE = re.compile(r"\b[a-z]+_[a-z0-9_]+\b|\b[a-z]+[A-Z][a-zA-Z0-9]*\b|\b\w+\.\w+\(|\b\w+\(\)")
# Numbered or bulleted list items, a) b) items; multiple-choice options are counted apart.
_LIST_RE = re.compile(r"^[ \t]*(?:\d{1,2}[.)]|[-*•]|[a-h]\))[ \t]+", re.MULTILINE)
_CHOICE_RE = re.compile(r"^[ \t]*\(?[A-E][.)][ \t]", re.MULTILINE)
# "in 500 words", "fewer than 3 paragraphs": the requested size of the answer.
_SIZE_RE = re.compile(
    r"(\d[\d,]*)\s*(?:-\s*\d[\d,]*\s*)?(words?|pages?|paragraphs?|sentences?|lines?|bullet points?)\b"
)
_UNIT_WORDS = {"word": 1, "page": 500, "paragraph": 120, "sentence": 20, "line": 12, "bullet": 15}

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
    sentences: int
    requested_words: int
    cues: tuple[int, ...]
    tokens: frozenset[str]


def scan_text(text: str) -> TextCounts:
    """Count the evidence in one text; linear in its length, bounded by SCAN_LIMIT."""
    chars = len(text)
    if chars > SCAN_LIMIT:
        half = SCAN_LIMIT // 2
        text = text[:half] + "\n" + text[-half:]
    lower = text.lower()
    words = _WORD_RE.findall(lower)
    cues = [0] * len(CUE_GROUPS)
    lookup = _LOOKUP
    for i, word in enumerate(words):
        hit = lookup.get(word)
        if hit is None:
            continue
        for g in hit[0]:
            cues[g] += 1
        for rest, g in hit[1]:
            if tuple(words[i + 1 : i + 1 + len(rest)]) == rest:
                cues[g] += 1
    requested = 0
    if "word" in lower or "paragraph" in lower or "page" in lower or "sentence" in lower:
        for amount, unit in _SIZE_RE.findall(lower):
            size = int(amount.replace(",", "") or 0) * _UNIT_WORDS.get(unit.split()[0].rstrip("s"), 1)
            requested = max(requested, min(size, 1_000_000))
    has_newline = "\n" in text
    return TextCounts(
        chars=chars,
        words=len(words) if chars <= SCAN_LIMIT else chars // 6,
        numbers=len(_NUMBER_RE.findall(text)),
        math_marks=len(_MATH_RE.findall(text)),
        code_lines=len(_CODE_LINE_RE.findall(text)) if has_newline or ";" in text else 0,
        identifiers=len(_IDENT_RE.findall(text)),
        fences=text.count("```"),
        list_items=len(_LIST_RE.findall(text)) if has_newline else 0,
        choices=len(_CHOICE_RE.findall(text)) if has_newline else 0,
        lines=text.count("\n") + 1,
        questions=text.count("?"),
        sentences=text.count(". ") + text.count(".\n") + text.count("? ") + text.count("! ") + 1,
        requested_words=requested,
        cues=tuple(cues),
        tokens=frozenset(words),
    )


EMPTY_COUNTS = scan_text("")


class Conversation(NamedTuple):
    """A chat request flattened to what the classifier reads."""

    task: str
    context: str
    system: str
    user_turns: int
    assistant_turns: int
    tool_messages: int
    images: int
    max_tokens: int


def _get(obj: Any, key: str) -> Any:
    """Read a field from a dict or an object (Pydantic model, dataclass) alike."""
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _content_text(content: Any) -> tuple[str, int]:
    """Text of a message's content (str, list of parts or None) and its number of images."""
    if isinstance(content, str):
        return content, 0
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


def flatten_request(request: Any) -> Conversation:
    """Flatten a message list, or an object/dict with messages and max_tokens, to a Conversation."""
    if isinstance(request, str):
        return Conversation(request, "", "", 1, 0, 0, 0, 0)
    messages: Any = request
    max_tokens = 0
    if not isinstance(request, Sequence):
        messages = _get(request, "messages")
        for key in ("max_tokens", "max_completion_tokens"):
            value = _get(request, key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                max_tokens = value
                break
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes | bytearray):
        messages = ()
    users: list[str] = []
    systems: list[str] = []
    assistant_turns = tool_messages = images = 0
    for message in messages:
        role = _get(message, "role")
        text, n_images = _content_text(_get(message, "content"))
        images += n_images
        if role in ("system", "developer"):
            systems.append(text)
        elif role == "assistant":
            assistant_turns += 1
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
        task, context, system, len(users), assistant_turns, tool_messages, images, max_tokens
    )
