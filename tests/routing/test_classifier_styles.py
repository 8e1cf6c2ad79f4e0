"""Table tests for prompt styles the training corpus once lacked, each taught since by a source
of its own: long-stem exam questions (knowledge_vignette_synth) and bare code to complete
(code_stub_synth). The prompts are written here, in none of those generators' words."""

from __future__ import annotations

import pytest

from annas_gift.routing.task_classifier import classify_task

# Professional-exam style questions with a long stem (a case, a fact pattern, a scenario) ask for
# knowledge the text does not hold. Written for this test, in none of the generator's words
# (scripts/make_knowledge_vignettes.py); before that source the legal one was read as math.
LONG_STEM_KNOWLEDGE = [
    "A 58-year-old woman has had fatigue, weight gain and cold intolerance for six months. Her "
    "skin is dry and her reflexes relax slowly. Her TSH level is markedly elevated. Which of the "
    "following is the most likely cause of her condition, and how should it be treated?",
    "An employee signed a non-compete agreement when she joined a marketing firm. Three years "
    "later she quit and opened a competing agency across the street, taking two clients with "
    "her. The agreement covered the whole country for ten years. Is the non-compete likely to "
    "be enforced by a court?",
    "A town's only factory closes and unemployment rises to 20 percent. Local shops lower their "
    "prices and many young people move away. Which economic concepts explain what happens to "
    "wages and house prices in the town?",
    pytest.param(
        "My roommate borrowed my car without asking while I was asleep, filled the tank, and "
        "returned it before I woke up. Was that wrong of him, and what would a Kantian say?",
        marks=pytest.mark.xfail(strict=True, reason="first-person ethics question read as chat"),
    ),
]


@pytest.mark.parametrize("prompt", LONG_STEM_KNOWLEDGE)
def test_long_stem_exam_questions_are_knowledge(prompt: str) -> None:
    assert classify_task(prompt).category == "knowledge"


# Bare code to complete, with no instruction around it, about a number topic: the form makes it
# code (the code_stub_synth source teaches this). Written for this test, in none of the
# generator's tasks or of HumanEval's.
BARE_STUBS_ABOUT_NUMBERS = [
    'def count_primes_below(limit):\n    """Return how many prime numbers are smaller than '
    'limit.\n\n    >>> count_primes_below(10)\n    4\n    """\n',
    'def gcd(a: int, b: int) -> int:\n    """Greatest common divisor of a and b, by Euclid\'s '
    'algorithm."""\n',
    'def mean_and_variance(samples):\n    """Compute the sample mean and the unbiased variance '
    'of a list of floats."""\n    pass\n',
    "/**\n * Returns the sum of the squares of the first n odd numbers.\n */\n"
    "function sumOddSquares(n) {\n\n}\n",
    "def is_perfect_square(n):\n    # True when n is the square of an integer, False otherwise\n"
    "    ...\n",
    pytest.param(
        'def compound_interest(principal, rate, years):\n    """The balance after `years` years '
        'at an annual `rate` compounded monthly."""\n',
        marks=pytest.mark.xfail(strict=True, reason="a finance formula's stub read as math"),
    ),
]


@pytest.mark.parametrize("prompt", BARE_STUBS_ABOUT_NUMBERS)
def test_bare_function_stubs_are_code_whatever_their_topic(prompt: str) -> None:
    assert classify_task(prompt).category == "code"
