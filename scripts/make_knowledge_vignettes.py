#!/usr/bin/env python
"""Write data/routing/train/knowledge_vignette_synth.jsonl.gz: long-stem knowledge questions.

    python scripts/make_knowledge_vignettes.py [--out PATH] [--per-template N]

Why: every knowledge prompt in the rest of the corpus is a short question (ARC, OpenBookQA,
CommonsenseQA, HotpotQA) and every long prose prompt a reading passage or a word problem, so
the classifier reads a professional-exam question (a clinical case, a legal fact pattern, a
business or policy scenario, an everyday moral dilemma) as `reading`. Those questions ask for
knowledge the text does not contain ("the most likely diagnosis", "the court will most
likely"), where a reading prompt asks about the passage itself.

Synthetic and CC0: every scenario is assembled here from slot pools written for this file
(nothing is copied from a dataset or an exam); the seed makes the file reproducible byte for
byte. Each row's `template` is its domain and framing ("medicine/2"): validation holds out
whole templates (annas_gift/routing/corpus.py, TEMPLATED_SOURCES), so the classifier cannot
pass by learning a frame. Stdlib and the repository's corpus module (its file writer).
"""

# The slot pools are whole sentences, one per line: long lines are data, not code.
# ruff: noqa: E501

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annas_gift.routing.corpus import write_jsonl_gz

SOURCE = "knowledge_vignette_synth"
OUT = Path(__file__).resolve().parents[1] / "data" / "routing" / "train" / f"{SOURCE}.jsonl.gz"
SEED = 20261203
PER_TEMPLATE = 45

# ---------------------------------------------------------------------------------------------
# Medicine: a patient presents; which diagnosis / test / treatment / mechanism.
PATIENTS = [
    "A {age}-year-old man", "A {age}-year-old woman", "A {age}-year-old previously healthy man",
    "A {age}-year-old woman with a history of {history}", "A {age}-year-old retired teacher",
    "A {age}-year-old construction worker", "A {age}-year-old college student",
    "A {age}-year-old man with a history of {history}",
]  # fmt: skip
HISTORY = [
    "type 2 diabetes mellitus", "hypertension", "asthma", "chronic kidney disease",
    "rheumatoid arthritis", "alcohol use disorder", "hypothyroidism", "atrial fibrillation",
    "HIV infection", "major depressive disorder", "heavy smoking", "sickle cell disease",
]  # fmt: skip
SETTINGS = [
    "comes to the emergency department", "comes to the physician", "is brought to the clinic",
    "is evaluated in the urgent care center", "visits her family doctor",
    "is admitted to the hospital",
]  # fmt: skip
SYMPTOMS = [
    "a two-day history of fever and a productive cough", "crushing chest pain radiating to the left arm",
    "progressive shortness of breath on exertion", "sudden weakness of the right arm and leg",
    "intermittent abdominal pain after fatty meals", "painless jaundice and weight loss",
    "a persistent dry cough and night sweats", "burning pain on urination and flank tenderness",
    "episodes of palpitations and lightheadedness", "joint pain and morning stiffness in both hands",
    "blurred vision and excessive thirst", "a severe headache that began during exercise",
    "swelling of both ankles and fatigue", "a rash on the cheeks that worsens in sunlight",
]  # fmt: skip
FINDINGS = [
    "Her temperature is {temp} C, pulse is {pulse}/min, and blood pressure is {bp} mm Hg.",
    "His pulse is {pulse}/min and blood pressure is {bp} mm Hg; he appears pale.",
    "Physical examination shows crackles at the right lung base.",
    "Examination shows a holosystolic murmur best heard at the apex.",
    "There is tenderness in the right upper quadrant.",
    "Laboratory studies show a hemoglobin concentration of {hb} g/dL.",
    "A chest x-ray shows a wedge-shaped opacity.",
    "An electrocardiogram shows ST-segment elevation in the inferior leads.",
    "Urinalysis shows numerous white blood cells.",
    "Serum potassium is {k} mEq/L.",
    "He has smoked one pack of cigarettes daily for {years} years.",
    "She takes no medications and does not drink alcohol.",
    "His father died of a myocardial infarction at the age of {age2}.",
]  # fmt: skip
MED_QUESTIONS = [
    "Which of the following is the most likely diagnosis?",
    "Which of the following is the most appropriate next step in management?",
    "Which of the following is the most likely underlying mechanism?",
    "Which of the following drugs is most appropriate for this patient?",
    "Which of the following laboratory findings is most likely?",
    "What is the most likely cause of these findings?",
    "Which test should be ordered first to confirm the diagnosis?",
]  # fmt: skip
MED_OPTIONS = [
    "Pulmonary embolism", "Community-acquired pneumonia", "Acute myocardial infarction",
    "Acute cholecystitis", "Pancreatic adenocarcinoma", "Pulmonary tuberculosis",
    "Acute pyelonephritis", "Systemic lupus erythematosus", "Ischemic stroke",
    "Subarachnoid hemorrhage", "Congestive heart failure", "Iron deficiency anemia",
    "Begin intravenous antibiotics", "Order a CT scan of the head", "Administer aspirin",
    "Start a beta-blocker", "Obtain a serum lipase level", "Increased ventricular preload",
    "Autoimmune destruction of beta cells", "Reassurance and follow-up",
]  # fmt: skip


def medicine(r: random.Random) -> tuple[str, str]:
    fill = {
        "age": r.randint(18, 86), "age2": r.randint(40, 70), "history": r.choice(HISTORY),
        "temp": f"{r.uniform(36.5, 40.0):.1f}", "pulse": r.randint(55, 130),
        "bp": f"{r.randint(90, 180)}/{r.randint(55, 105)}", "hb": f"{r.uniform(7, 15):.1f}",
        "k": f"{r.uniform(2.8, 6.2):.1f}", "years": r.randint(5, 40),
    }  # fmt: skip
    parts = [
        f"{r.choice(PATIENTS)} {r.choice(SETTINGS)} because of {r.choice(SYMPTOMS)}.",
        *r.sample(FINDINGS, r.randint(2, 5)),
    ]
    return " ".join(parts).format(**fill), r.choice(MED_QUESTIONS)


# ---------------------------------------------------------------------------------------------
# Law: a fact pattern; how will the court rule, what is the strongest argument.
PARTIES = [
    "a landowner", "a tenant", "a homeowner", "a contractor", "a retailer", "a pedestrian",
    "a software company", "a bank", "a city council", "a delivery driver", "an investor",
    "a hospital", "a neighbor", "a manufacturer", "a buyer", "a seller", "an employer",
    "a police officer", "a defendant", "a journalist",
]  # fmt: skip
ACTS = [
    "agreed in writing to sell a parcel of land to {b} for ${amount}",
    "leased a warehouse to {b} for a term of {years} years",
    "hired {b} to renovate a kitchen, paying half of the price in advance",
    "sold a used car to {b}, stating that it had never been in an accident",
    "promised {b} a bonus if the project was finished before the end of the year",
    "installed a fence that extended three feet onto the property of {b}",
    "was driving above the speed limit when the car struck {b}",
    "searched the car of {b} without a warrant after a routine traffic stop",
    "published an article accusing {b} of fraud",
    "signed a contract with {b} to deliver {units} units of goods by the first of the month",
    "conveyed the farm to {b} by a deed that was never recorded",
    "borrowed ${amount} from {b} and gave a mortgage on the house as security",
]  # fmt: skip
TWISTS = [
    "Two weeks later, the price of comparable property rose sharply and the seller refused to go through with the sale.",
    "The work was never completed, and the owner hired another firm at a higher price.",
    "It was later discovered that the statement was false and that the seller knew it.",
    "The agreement was made orally, and nothing was put in writing.",
    "During the search, the officer found a bag containing stolen jewelry.",
    "The article relied on a single anonymous source, and the claims turned out to be untrue.",
    "Before the deadline, a flood destroyed the factory, making delivery impossible.",
    "Neither party knew that the state had rezoned the area a month earlier.",
    "A year later, the original owner sold the same property to a third party who paid value and had no notice of the earlier sale.",
    "The injured party suffered a broken leg and lost several months of wages.",
    "The statute in force at the time required such agreements to be approved by a court.",
]  # fmt: skip
LAW_QUESTIONS = [
    "In an action by {b} against {a}, the court will most likely rule for whom?",
    "Which of the following is the strongest argument for {a}?",
    "Is the evidence admissible at trial?",
    "What is the most likely outcome of the lawsuit?",
    "Which doctrine best supports the claim of {b}?",
    "Will {b} prevail in a suit for damages?",
    "Which of the following best describes the legal effect of the agreement?",
]  # fmt: skip
LAW_OPTIONS = [
    "Yes, because the statement was a material misrepresentation.",
    "No, because the contract was not in writing.",
    "Yes, because the search violated the Fourth Amendment.",
    "No, because the defense of impossibility applies.",
    "The plaintiff, because the defendant breached a duty of care.",
    "The defendant, because the plaintiff assumed the risk.",
    "The later purchaser, under the recording statute.",
    "The agreement is voidable at the option of the buyer.",
    "Specific performance, because land is unique.",
    "No, because the statement was an opinion rather than a fact.",
    "Yes, because the officer had probable cause.",
    "The claim fails for lack of consideration.",
]  # fmt: skip


def law(r: random.Random) -> tuple[str, str]:
    a, b = r.sample(PARTIES, 2)
    fill = {"b": b, "amount": f"{r.randint(10, 900) * 1000:,}", "years": r.randint(2, 20),
            "units": r.randint(100, 5000)}  # fmt: skip
    first = f"{a.capitalize()} {r.choice(ACTS).format(**fill)}."
    story = " ".join([first, *r.sample(TWISTS, r.randint(1, 3))])
    return story, r.choice(LAW_QUESTIONS).format(a=a, b=b)


# ---------------------------------------------------------------------------------------------
# Ethics: everyday conduct; is it wrong by ordinary moral standards, which principle applies.
ETHICS_ACTS = [
    "I kept the extra change the cashier gave me by mistake",
    "I told my friend her haircut looked nice even though I did not like it",
    "I reported my coworker for taking office supplies home",
    "I read my sister's diary while she was away",
    "I returned a lost wallet to its owner with all the money inside",
    "I skipped my shift without telling anyone so I could go to a concert",
    "I gave my seat on the bus to an elderly man",
    "I copied my classmate's homework and handed it in as my own",
    "I lied to my parents about where I spent the weekend",
    "I donated half of my paycheck to a local food bank",
    "I parked in a space reserved for disabled drivers because I was in a hurry",
    "I broke a promise to help a friend move because a better offer came up",
    "I told the truth about a colleague's mistake when my manager asked",
    "I took credit for an idea that my teammate suggested",
]  # fmt: skip
ETHICS_QUESTIONS = [
    "Was what I did morally wrong?",
    "Is this behavior ethical by everyday standards?",
    "Which ethical theory would most strongly condemn what I did?",
    "How would a utilitarian evaluate these actions?",
    "Would most people consider this acceptable, and why?",
    "Which of these actions, if either, is morally wrong?",
]  # fmt: skip
ETHICS_OPTIONS = [
    "Only the first is wrong", "Only the second is wrong", "Both are wrong", "Neither is wrong",
    "Kantian deontology", "Act utilitarianism", "Virtue ethics", "Ethical egoism",
    "It is permissible because it maximizes overall happiness",
    "It is impermissible because it treats a person merely as a means",
]  # fmt: skip


def ethics(r: random.Random) -> tuple[str, str]:
    one, two = r.sample(ETHICS_ACTS, 2)
    if r.random() < 0.5:
        story = f"First, {one}. Second, {two}."
    else:
        story = f"{one}, and later that week {two.removeprefix('I ')}."
    return story, r.choice(ETHICS_QUESTIONS)


# ---------------------------------------------------------------------------------------------
# Business, accounting and economics: a firm or an economy; which treatment / effect / concept.
FIRMS = [
    "A small manufacturing company", "A regional airline", "A family-owned bakery",
    "A publicly traded retailer", "A start-up software firm", "A nonprofit hospital",
    "A multinational oil company", "A local credit union",
]  # fmt: skip
FIRM_FACTS = [
    "reported revenue of ${amount} and net income of ${amount2} last year.",
    "purchased new equipment for ${amount} with an expected useful life of {years} years.",
    "is considering whether to lease or buy a fleet of delivery trucks.",
    "discovered that its inventory had been overstated at the end of the previous quarter.",
    "plans to enter a market dominated by two large competitors.",
    "issued bonds at a discount to finance a new plant.",
    "faces a lawsuit that it will probably lose, with damages that can be reasonably estimated.",
    "raised its prices by ten percent, and its sales volume fell by only two percent.",
    "pays its employees a fixed salary plus a commission on each sale.",
    "changed its method of inventory valuation from FIFO to weighted average.",
]  # fmt: skip
ECONOMY = [
    "Suppose the central bank raises the reserve requirement while the government cuts income taxes.",
    "Suppose a country imposes a tariff on imported steel.",
    "Suppose the price of a close substitute for coffee rises sharply.",
    "Suppose the economy is at full employment and the government increases spending.",
    "Suppose a minimum wage is set above the market equilibrium wage.",
    "Suppose consumers expect prices to rise sharply next year.",
]  # fmt: skip
BUSINESS_QUESTIONS = [
    "Under generally accepted accounting principles, how should the company report this?",
    "Which of the following is the most likely effect on the company's financial statements?",
    "Which of the following best describes the price elasticity of demand for its product?",
    "Which strategy would a management consultant most likely recommend?",
    "Which of the following is most likely to happen to interest rates and output in the short run?",
    "Which market structure best describes the industry?",
    "What is the most likely effect on the equilibrium price and quantity?",
]  # fmt: skip
BUSINESS_OPTIONS = [
    "Record a contingent liability and disclose it in the notes",
    "Disclose it in the notes only", "Recognize a gain in the current period",
    "Demand is inelastic", "Demand is unit elastic", "Oligopoly", "Monopolistic competition",
    "Interest rates rise and output falls", "Price rises and quantity falls",
    "A surplus of labor", "Straight-line depreciation over the useful life",
    "Net income is overstated",
]  # fmt: skip


def business(r: random.Random) -> tuple[str, str]:
    fill = {"amount": f"{r.randint(2, 900) * 10000:,}", "amount2": f"{r.randint(1, 90) * 1000:,}",
            "years": r.randint(3, 15)}  # fmt: skip
    if r.random() < 0.35:
        story = " ".join(r.sample(ECONOMY, r.randint(1, 2)))
    else:
        firm = r.choice(FIRMS)
        facts = r.sample(FIRM_FACTS, r.randint(2, 3))
        story = f"{firm} {facts[0]} " + " ".join(f"It also {f}" for f in facts[1:])
    return story.format(**fill), r.choice(BUSINESS_QUESTIONS)


# ---------------------------------------------------------------------------------------------
# Psychology, education and social science: a study or a person's behaviour; which concept.
STUDIES = [
    "A researcher randomly assigns {n} volunteers to two groups; one group sleeps four hours and the other eight hours before a memory test.",
    "A child who was bitten by a dog now cries whenever she sees any four-legged animal.",
    "A teacher gives students a sticker every time they hand in homework on time, and late homework becomes rare.",
    "After failing an exam, a student says the test was unfair rather than admitting he did not study.",
    "A psychologist surveys {n} adults and finds that people who exercise more report higher life satisfaction.",
    "A man continues to gamble because he occasionally wins, even though he loses money over time.",
    "A group of students all give the same wrong answer after hearing their classmates answer first.",
    "An elderly woman can recall events from her childhood clearly but cannot remember what she ate for breakfast.",
    "A sociologist observes that people in a small town rely on informal norms rather than written rules.",
    "A manager notices that workers become more productive whenever they are being observed.",
]  # fmt: skip
PSY_QUESTIONS = [
    "Which psychological concept best explains this behavior?",
    "Which of the following best describes the research design?",
    "Which conclusion can the researcher validly draw?",
    "This is an example of which of the following?",
    "Which theorist is most closely associated with this idea?",
]  # fmt: skip
PSY_OPTIONS = [
    "Stimulus generalization", "Positive reinforcement", "Self-serving bias",
    "A variable-ratio schedule", "Conformity", "Anterograde amnesia", "The Hawthorne effect",
    "A correlational study", "An experiment", "Cognitive dissonance", "Operant conditioning",
    "Mechanical solidarity",
]  # fmt: skip


def psychology(r: random.Random) -> tuple[str, str]:
    story = " ".join(r.sample(STUDIES, r.randint(1, 2))).format(n=r.randint(20, 2000))
    return story, r.choice(PSY_QUESTIONS)


# ---------------------------------------------------------------------------------------------
# Science and engineering in context: an observation; which principle explains it (no numbers
# to compute: those are `math`).
OBSERVATIONS = [
    "A farmer notices that the crops nearest a busy road grow more slowly than those farther away.",
    "Engineers find that a steel bridge is slightly longer on hot summer afternoons than on winter mornings.",
    "A hiker notices that water boils faster at the top of a mountain but the pasta takes longer to cook.",
    "A doctor observes that a bacterial infection stopped responding to an antibiotic that used to work.",
    "A chemist leaves a cut apple on the counter and it turns brown within an hour.",
    "A sailor sees that the tide is highest when the moon is directly overhead.",
    "A student notices that a metal spoon left in hot soup becomes hot faster than a wooden one.",
    "An ecologist finds that after wolves were reintroduced to a park, the rivers changed course.",
    "A geologist finds fossils of sea shells high in a mountain range.",
    "A network engineer sees that a signal weakens over long copper cables but not over fiber.",
]  # fmt: skip
SCI_QUESTIONS = [
    "Which scientific principle best explains this observation?",
    "Which of the following is the most likely explanation?",
    "What process is responsible for this?",
    "Which of the following best accounts for this phenomenon?",
]  # fmt: skip
SCI_OPTIONS = [
    "Thermal expansion", "Natural selection", "Oxidation", "Plate tectonics",
    "Gravitational attraction", "Thermal conductivity", "A trophic cascade",
    "Lower air pressure lowers the boiling point", "Air pollution reduces photosynthesis",
    "Signal attenuation",
]  # fmt: skip


def science(r: random.Random) -> tuple[str, str]:
    return " ".join(r.sample(OBSERVATIONS, r.randint(1, 2))), r.choice(SCI_QUESTIONS)


DOMAINS: dict[str, tuple[Callable[[random.Random], tuple[str, str]], list[str]]] = {
    "medicine": (medicine, MED_OPTIONS),
    "law": (law, LAW_OPTIONS),
    "ethics": (ethics, ETHICS_OPTIONS),
    "business": (business, BUSINESS_OPTIONS),
    "psychology": (psychology, PSY_OPTIONS),
    "science": (science, SCI_OPTIONS),
}

# Framings: how the scenario, the question and the options are put together. Each is its own
# template, so a held-out framing is one the classifier never saw.
LETTERS = "ABCD"


def _options(r: random.Random, pool: list[str], style: str) -> str:
    picked = r.sample(pool, 4)
    if style == "dot":
        return "\n".join(f"{letter}. {text}" for letter, text in zip(LETTERS, picked, strict=True))
    if style == "paren":
        return "\n".join(f"({letter}) {text}" for letter, text in zip(LETTERS, picked, strict=True))
    return "; ".join(f"{letter}) {text}" for letter, text in zip(LETTERS, picked, strict=True))


def frame(kind: int, r: random.Random, story: str, question: str, pool: list[str]) -> str:
    if kind == 0:  # exam style: stem, question, options, "Answer:"
        return f"{story} {question}\n{_options(r, pool, 'dot')}\nAnswer:"
    if kind == 1:  # options in parentheses, no trailing cue
        return f"{story}\n\n{question}\n{_options(r, pool, 'paren')}"
    if kind == 2:  # open question, no options
        ask = r.choice(["", "Explain your reasoning. ", "Answer briefly. ", "Why? "])
        return f"{story} {question} {ask}".strip()
    if kind == 3:  # a student asking for help, options inline
        lead = r.choice([
            "I'm studying for my exam and got stuck on this one.",
            "Can you help me with this practice question?",
            "My professor gave us this case in class.",
            "Quick question from my review sheet:",
        ])  # fmt: skip
        return f"{lead} {story} {question} {_options(r, pool, 'inline')}"
    # kind 4: question first, then the case
    return f"{question}\n\n{story}"


FRAMES = 5


def rows(per_template: int = PER_TEMPLATE, seed: int = SEED) -> list[dict[str, object]]:
    """Every row, in domain then framing order (deterministic for a seed)."""
    r = random.Random(seed)
    out: list[dict[str, object]] = []
    seen: set[str] = set()
    for domain, (make, pool) in DOMAINS.items():
        for kind in range(FRAMES):
            made = 0
            for _ in range(per_template * 20):
                if made == per_template:
                    break
                story, question = make(r)
                prompt = frame(kind, r, story, question, pool)
                if prompt in seen:
                    continue
                seen.add(prompt)
                template = f"{domain}/{kind}"
                out.append({
                    "prompt": prompt, "source": SOURCE, "split": "train",
                    "category": "knowledge", "difficulty": None, "tier": None,
                    "licence": "CC0-1.0", "orig_id": f"{SOURCE}#{len(out)}",
                    "template": template, "group_id": f"knowledge/{domain}",
                })  # fmt: skip
                made += 1
    return out


def main(argv: list[str] | None = None) -> None:
    """Write the file (argv: the command-line arguments, sys.argv[1:] when None)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--per-template", type=int, default=PER_TEMPLATE)
    args = parser.parse_args(argv)
    count = write_jsonl_gz(args.out, rows(args.per_template))
    print(f"wrote {args.out} ({count} rows)")


if __name__ == "__main__":
    main()
