"""Table tests for the task classifier over hand-written prompts of every category and tier."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace
from typing import Any

import pytest

from annas_gift.routing.task_classifier import (
    DEFAULT_MODEL,
    FACTOR_NAMES,
    POWERFUL_THRESHOLD,
    ClassifierModel,
    TaskClassification,
    analyze_complexity,
    calculate_factors,
    calculate_scores,
    classify_task,
    factor_contributions,
    load_model,
    prior_model,
)

ARTICLE = (
    "The city council voted on Tuesday to convert two downtown parking garages into "
    "affordable housing. Supporters said the plan would add nearly 400 apartments within "
    "five years and reduce commuter traffic, while local shop owners warned that fewer "
    "parking spaces could drive customers to suburban malls. The mayor promised a study of "
    "bus routes before construction begins, and the first garage is scheduled to close next "
    "spring. Opponents have until the end of the month to file an appeal with the state "
    "planning board, which has overturned similar decisions twice in the past decade."
)
CONTACTS = (
    "Hi team, please welcome Maria Lopez (maria.lopez@example.org), who joins us from the "
    "Berlin office. Questions about the onboarding schedule go to Tom Becker at "
    "tom.becker@example.org, and payroll issues to Priya Nair, priya@example.org. Our next "
    "all-hands is on Friday in room 4B; dial-in details follow in a separate message from "
    "the events coordinator, who is still finalising the agenda with the department heads."
)
TRACEBACK = """I get this when I run my script:
Traceback (most recent call last):
  File "app.py", line 12, in <module>
    main()
TypeError: main() missing 1 required positional argument: 'config'
How do I fix it?"""
CALLBACKS = """Refactor this so it uses async/await instead of callbacks:
```js
fs.readFile('a.txt', function (err, data) {
  if (err) throw err;
  console.log(data.toString());
});
```"""

# (prompt, expected category, expected tier or None when either tier is defensible)
CASES: list[tuple[str, str, str | None]] = [
    # code
    ("Write a Python function that checks whether a string is a palindrome.", "code", "fast"),
    (TRACEBACK, "code", None),
    (CALLBACKS, "code", None),
    (
        "Write an SQL query that returns the top 3 customers by total order value in 2023.",
        "code",
        None,
    ),
    (
        "Implement a thread-safe LRU cache in Rust with generics, O(1) get and put, full unit "
        "tests, and explain the memory-ordering choices for the atomic counters.",
        "code",
        "powerful",
    ),
    (
        "Design and implement a distributed rate limiter in Go backed by Redis. It must handle "
        "clock skew, support sliding windows, expose Prometheus metrics, and ship with "
        "benchmarks and a short design document explaining the trade-offs.",
        "code",
        "powerful",
    ),
    # math
    ("prove that sqrt(2) is irrational", "math", "powerful"),
    ("What is 15% of 80?", "math", "fast"),
    ("Solve for x: 3x + 7 = 22", "math", None),
    ("Compute the integral of x^2 * e^x dx and show each step.", "math", None),
    (
        "A train leaves at 3 pm travelling at 60 km/h. A second train leaves the same station "
        "two hours later at 90 km/h on the same track. At what time does the second train catch "
        "up, and how far from the station are they then?",
        "math",
        None,
    ),
    (
        "Let G be a finite group and H a subgroup of index 2. Prove that H is a normal subgroup "
        "of G, and show that the statement fails for index 3.",
        "math",
        "powerful",
    ),
    (
        "If all bloops are razzies and all razzies are lazzies, are all bloops definitely "
        "lazzies? Explain the logic.",
        "math",
        None,
    ),
    # knowledge
    ("What is the capital of Australia?", "knowledge", "fast"),
    ("Explain how vaccines train the immune system.", "knowledge", "fast"),
    ("What were the main causes of the First World War?", "knowledge", "fast"),
    ("Describe the difference between mitosis and meiosis.", "knowledge", "fast"),
    (
        "Which of the following is a noble gas?\nA. Oxygen\nB. Neon\nC. Nitrogen\nD. Hydrogen\n"
        "Answer:",
        "knowledge",
        "fast",
    ),
    # reading
    (f"Summarize the following article in three bullet points:\n\n{ARTICLE}", "reading", None),
    (
        "Extract every person's name and email address from the text below and return them "
        f"as JSON.\n\n{CONTACTS}",
        "reading",
        None,
    ),
    (f"Based on the passage below, what is the author's main point?\n\n{ARTICLE}", "reading", None),
    # writing
    ("Write a haiku about autumn leaves.", "writing", "fast"),
    (
        "Write a short story about a lighthouse keeper who finds a message in a bottle.",
        "writing",
        "fast",
    ),
    (
        "Draft a polite email to my professor asking for an extension on my essay deadline.",
        "writing",
        "fast",
    ),
    (
        "Rewrite this in a more formal tone: hey guys, the meeting got moved to thursday cuz the "
        "room was busy.",
        "writing",
        "fast",
    ),
    (
        "Pretend you are a pirate captain and tell me about your greatest treasure.",
        "writing",
        "fast",
    ),
    ("Compose a persuasive speech for a student council election.", "writing", "fast"),
    # chat
    ("hi! how are you today?", "chat", "fast"),
    ("thanks, that was really helpful", "chat", "fast"),
    ("Good morning! Any plans for the weekend?", "chat", "fast"),
    ("hello", "chat", "fast"),
    ("lol that's hilarious, you made my day", "chat", "fast"),
]


@pytest.mark.parametrize(("prompt", "category", "tier"), CASES, ids=[c[0][:40] for c in CASES])
def test_table(prompt: str, category: str, tier: str | None) -> None:
    result = classify_task([{"role": "user", "content": prompt}])
    assert result.category == category, result
    if tier is not None:
        assert result.tier == tier, result


def test_every_category_and_both_tiers_are_covered() -> None:
    assert {c for _, c, _ in CASES} == {"code", "math", "knowledge", "reading", "writing", "chat"}
    assert {t for _, _, t in CASES} >= {"fast", "powerful"}


def test_result_shape_and_to_dict() -> None:
    result = classify_task([{"role": "user", "content": "prove that sqrt(2) is irrational"}])
    assert isinstance(result, TaskClassification)
    assert set(result.factors) == set(FACTOR_NAMES)
    assert all(0.0 <= v <= 1.0 for v in result.factors.values())
    data = result.to_dict()
    assert set(data) == {"tier", "category", "confidence", "score", "factors"}
    assert json.loads(json.dumps(data)) == data
    assert (result.tier == "powerful") == (result.score >= POWERFUL_THRESHOLD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.tier = "fast"  # type: ignore[misc]


def test_hashable_despite_factor_dict() -> None:
    result = classify_task("hello")
    assert hash(result) == hash(classify_task("hello"))


REQUEST_SHAPES: list[Any] = [
    [{"role": "user", "content": "Solve for x: 3x + 7 = 22"}],
    {"messages": [{"role": "user", "content": "Solve for x: 3x + 7 = 22"}]},
    SimpleNamespace(messages=[{"role": "user", "content": "Solve for x: 3x + 7 = 22"}]),
    [SimpleNamespace(role="user", content="Solve for x: 3x + 7 = 22")],
    [{"role": "user", "content": [{"type": "text", "text": "Solve for x: 3x + 7 = 22"}]}],
    "Solve for x: 3x + 7 = 22",
]


@pytest.mark.parametrize("request_", REQUEST_SHAPES)
def test_request_shapes_agree(request_: Any) -> None:
    assert classify_task(request_) == classify_task(REQUEST_SHAPES[0])


def test_image_parts_are_counted_and_text_kept() -> None:
    content = [
        {"type": "text", "text": "What is shown in this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    result = classify_task([{"role": "user", "content": content}])
    assert result.factors["images"] > 0
    assert result.factors["length"] > 0


def test_max_tokens_and_requested_length_raise_output_length() -> None:
    short = classify_task({"messages": [{"role": "user", "content": "Explain entropy."}]})
    long = classify_task(
        {"messages": [{"role": "user", "content": "Explain entropy."}], "max_tokens": 8000}
    )
    essay = classify_task("Explain entropy in a 3000 word essay.")
    assert short.factors["output_length"] == 0
    assert long.factors["output_length"] > 0.5
    assert essay.factors["output_length"] > 0.5
    assert long.score > short.score


def test_brevity_lowers_the_score() -> None:
    plain = classify_task("Explain the causes of inflation.")
    brief = classify_task("Briefly explain the causes of inflation in one sentence.")
    assert brief.factors["brevity"] > 0
    assert brief.score < plain.score


def test_conversation_depth_and_system_prompt() -> None:
    one = [{"role": "user", "content": "Tell me about black holes."}]
    deep = [
        {
            "role": "system",
            "content": "You are a careful astrophysics tutor for graduate students.",
        },
        {"role": "user", "content": "Tell me about black holes."},
        {"role": "assistant", "content": "Black holes are regions where gravity ..."},
        {"role": "user", "content": "How do they evaporate?"},
        {"role": "assistant", "content": "Through Hawking radiation ..."},
        {"role": "user", "content": "Tell me about black holes."},
    ]
    a, b = classify_task(one), classify_task(deep)
    assert a.factors["conversation_depth"] == 0 and b.factors["conversation_depth"] > 0
    assert a.factors["system_prompt"] == 0 and b.factors["system_prompt"] > 0
    assert b.score > a.score


def test_follow_up_turn_inherits_the_topic() -> None:
    messages = [
        {"role": "user", "content": "Write a Python function that merges two sorted lists."},
        {"role": "assistant", "content": "def merge(a, b): ..."},
        {"role": "user", "content": "Now make it faster."},
    ]
    assert classify_task(messages).category == "code"


def test_system_persona_is_not_roleplay() -> None:
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of Australia?"},
    ]
    assert classify_task(messages).category == "knowledge"


def test_tool_messages_count() -> None:
    messages = [
        {"role": "user", "content": "Find the failing test and fix it."},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]},
        {"role": "tool", "content": "FAILED tests/test_x.py::test_y"},
        {"role": "user", "content": "Go on."},
    ]
    assert classify_task(messages).factors["tool_use"] > 0


def test_multiple_choice_stem_topic_is_not_the_task() -> None:
    # A question about a story asks for a letter, not a story.
    mc = "Which story has an unreliable narrator?\nA. Emma\nB. Dracula\nC. Ulysses\nD. Rebecca"
    result = classify_task(mc)
    assert result.factors["multiple_choice"] == 1.0
    assert result.factors["creative_writing"] == 0.0


def test_pipeline_functions_compose() -> None:
    request = [{"role": "user", "content": "prove that sqrt(2) is irrational"}]
    factors = calculate_factors(analyze_complexity(request))
    scores = calculate_scores(factors)
    result = classify_task(request)
    assert factors == result.factors
    assert (scores.score, scores.category, scores.confidence) == (
        result.score,
        result.category,
        result.confidence,
    )
    assert sum(scores.category_probabilities.values()) == pytest.approx(1.0)
    assert max(scores.category_probabilities.values()) == scores.confidence


def test_contributions_explain_the_logit() -> None:
    result = classify_task("Implement a red-black tree in C++ with deletion and unit tests.")
    rows = factor_contributions(result.factors)
    assert [name for name, _, _ in rows] != []
    assert abs(rows[0][2]) >= abs(rows[-1][2])
    logit = DEFAULT_MODEL.tier_bias + sum(c for _, _, c in rows)
    import math

    assert 1 / (1 + math.exp(-logit)) == pytest.approx(result.score)


def test_weights_file_loads_and_missing_file_falls_back_to_priors(tmp_path: Any) -> None:
    model = load_model()
    assert isinstance(model, ClassifierModel)
    assert model.lexicon, "the shipped weights include the learned lexicon"
    assert load_model(tmp_path / "missing.json") == prior_model()


def test_model_is_explicit_and_swappable() -> None:
    prior = prior_model()
    result = classify_task("What is the capital of Australia?", prior)
    assert result.factors["wording"] == 0.5  # no lexicon: neutral
    assert 0.0 <= result.score <= 1.0


ABSTRACT = (
    "We propose a lightweight method for detecting label noise in crowd-sourced image "
    "datasets. Using agreement between three small classifiers trained on disjoint subsets, "
    "we flag examples whose labels are likely wrong. On two benchmarks the method recovers "
    "71% of injected errors while flagging fewer than 5% of clean examples. We did not test "
    "datasets with more than ten classes, and the annotators in both benchmarks were drawn "
    "from the same platform, so results may not transfer to expert-labelled data."
)
NOTES = (
    "Weekly sync, 3 March.\n- Ana will send the revised budget to finance by Wednesday.\n"
    "- Ben and Chloe to finish the survey analysis; draft due next Monday.\n"
    "- Room booking for the workshop is still open; Dev to follow up with facilities.\n"
    "- Next meeting moved to Thursday because of the holiday."
)
EMAIL = (
    "Hi,\nThanks for submitting your thesis draft. Before the committee meeting, please upload "
    "the signed ethics form to the portal and send me a one-page summary of the changes since "
    "the last version. The deadline for both is this Friday at noon; after that the meeting "
    "will have to be postponed to next term.\nBest,\nProf. Lindqvist"
)

# A second hand-written set, written after the cue lists were last changed and never used to
# change them: an honest estimate of category accuracy on requests in our own words.
FRESH: list[tuple[str, str]] = [
    (
        "My React component re-renders forever when I call setState inside useEffect. "
        "What am I doing wrong?",
        "code",
    ),
    ("How do I read a CSV into a pandas DataFrame and drop rows with missing values?", "code"),
    (
        "Convert this loop into a list comprehension:\nresult = []\nfor x in items:\n"
        "    if x > 0:\n        result.append(x * 2)",
        "code",
    ),
    (
        "Write a bash script that backs up my home directory to an external drive every night.",
        "code",
    ),
    ("Find the derivative of f(x) = sin(x) * ln(x).", "math"),
    (
        "A rectangle's length is twice its width and its perimeter is 36 cm. What is its area?",
        "math",
    ),
    ("What is the probability of getting exactly two heads in five fair coin flips?", "math"),
    ("Show that the sum of the first n odd numbers equals n^2.", "math"),
    ("Is 221 a prime number?", "math"),
    ("What is the difference between weather and climate?", "knowledge"),
    ("Who was Ada Lovelace and why is she important?", "knowledge"),
    ("How does the Federal Reserve influence interest rates?", "knowledge"),
    ("What are the symptoms of vitamin D deficiency?", "knowledge"),
    ("Explain the main ideas of Kant's categorical imperative.", "knowledge"),
    (
        f"Here is an abstract from a paper I'm reviewing:\n{ABSTRACT}\nWhat are its main "
        "limitations according to the text?",
        "reading",
    ),
    (f"From the meeting notes below, list every action item and who owns it.\n{NOTES}", "reading"),
    (
        f"Read the following email and tell me what the sender wants me to do by Friday:\n{EMAIL}",
        "reading",
    ),
    ("Write a limerick about a cat who hates Mondays.", "writing"),
    ("Help me write a cover letter for a junior data analyst position.", "writing"),
    (
        "Can you polish the wording of this sentence: 'Our results shows that the method are "
        "more better than baseline.'",
        "writing",
    ),
    ("Write a toast for my sister's wedding, funny but heartfelt.", "writing"),
    ("Act as a medieval innkeeper and greet me as I walk in from the rain.", "writing"),
    ("hey there", "chat"),
    ("I'm bored, let's talk about something fun", "chat"),
    ("thank you so much!", "chat"),
    ("good night, talk tomorrow", "chat"),
    ("How's your day going?", "chat"),
]


def test_fresh_set_accuracy() -> None:
    wrong = [
        (prompt[:50], expected, got)
        for prompt, expected in FRESH
        if (got := classify_task(prompt).category) != expected
    ]
    accuracy = 1 - len(wrong) / len(FRESH)
    assert accuracy >= 0.75, wrong
