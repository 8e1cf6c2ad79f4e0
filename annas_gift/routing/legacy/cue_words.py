"""Cue words and phrases per kind of evidence; features.py counts them in a request.

General vocabulary of each kind of task, written from what such requests look like, not
copied from any evaluation set. Changing a list changes the factors: retrain afterwards
(scripts/train_classifier.py).
"""

from __future__ import annotations

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
    "number_words",
)

# Single words per cue group. Lists are general vocabulary of each kind of task, written from
# what such requests look like, not copied from any evaluation set.
CUE_WORDS: dict[str, str] = {
    "code_terms": """
        python javascript typescript java golang rust kotlin swift ruby php perl scala haskell
        sql html css regex regexp bash shell powershell cpp c++ c# f#
        code coding coder program programs programming programmer script scripts function
        functions variable variables array arrays algorithm
        algorithms recursion recursive iterative compile compiler compiles compiled debug
        debugging bug bugs buggy refactor implement implementation implementing api apis
        endpoint endpoints database sql query queries unittest pytest jest repository repo git
        docker kubernetes linux npm pip library framework react django flask fastapi node nodejs
        runtime exception exceptions traceback stacktrace segfault syntax linked hashmap hashtable
        struct pointer pointers nullable async await thread threads mutex def elif printf
        println stdout stderr nullptr bool boolean enum
        deadlock lambda closure closures typeerror valueerror keyerror nullpointerexception
        website webpage frontend backend server client http url cli gui leetcode redis postgres
        node nodes subarray substring
        postgresql mysql mongodb sqlite kafka grpc graphql microservice microservices prometheus
        terraform concurrency concurrent thread-safe generics cache caching memoization
        compiler interpreter parser serialize deserialize
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
        why step-by-step reason reasons reasoning analyze analyse analysis evaluate justify
        justification critique critically implications implication tradeoff tradeoffs
        trade-offs pros cons argue argument arguments assess consequences explain
    """,
    "logic": """
        puzzle puzzles riddle riddles logic logical deduce deduction infer inference conclude
        conclusion therefore implies paradox premise premises contradiction syllogism
        statements uncertain suppose overtake overtaken definitely necessarily valid invalid
        follows
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
        document documents transcript following below above provided according
        context reviews review abstract quoted
    """,
    "extraction": """
        extract extracts extraction summarize summarise summary identify classify categorize
        categorise count mentioned parse tag label sentiment entities entity highlight
        keywords
    """,
    "creative_writing": """
        poem poems poetry poet story stories haiku limerick sonnet lyrics song verse essay blog
        email letter speech screenplay novel fiction fictional narrative character characters
        plot dialogue slogan headline tagline tweet caption compose craft draft rewrite rephrase
        paraphrase proofread polish tone persuasive vivid imagery creative catchy engaging
        descriptive imaginative rhyme rhymes edit editing grammar grammatical spelling typos
        wording
    """,
    "roleplay": """
        pretend roleplay role-play persona embody impersonate imagine yourself
    """,
    "knowledge_terms": """
        explain describe define definition history historical
        theory concept concepts principle principles difference differences compare discuss
        overview mechanism process cause causes effect effects impact significance science
        scientific biology chemistry physics economics economic law legal philosophy
        psychology medicine medical sociology geography politics political culture cultural
        religion quantum molecular cell cells dna evolution climate energy planet gravity atom
        atoms molecule reaction century war empire government policy fact facts influence
        influenced impacts methods ideas suggest recommend examples
    """,
    "chit_chat": """
        hi hello hey hiya thanks thank cheers bye goodbye lol haha chat talk feel feeling
        favorite favourite weekend bored fun
    """,
    "brevity": """
        brief briefly concise concisely succinct succinctly tldr eli5
        one-liner
    """,
    "number_words": """
        one two three four five six seven eight nine ten eleven twelve thirteen fourteen
        fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy
        eighty ninety hundred thousand million billion half halves twice double triple thrice
        quarter quarters dozen dozens
    """,
    "long_output": """
        detailed comprehensive thorough thoroughly in-depth extensive complete elaborate
        report chapter tutorial guide documentation exhaustive
    """,
}

# Multi-word cues: (first word, following words) -> group. Checked only when the first word
# appears, so they cost one dictionary miss per ordinary word.
CUE_PHRASES: dict[str, tuple[str, ...]] = {
    "code_terms": (
        "time complexity",
        "space complexity",
        "unit test",
        "unit tests",
        "pull request",
        "binary tree",
        "binary search",
        "linked list",
        "sorted array",
        "sorted arrays",
        "hash map",
        "hash table",
        "dynamic programming",
        "big o",
    ),
    "math_terms": ("how many", "how much", "how far", "how long"),
    "proof": ("show that", "prove that", "if and only"),
    "reasoning": ("step by step", "think carefully", "explain why", "what if"),
    "logic": (
        "true false",
        "true or false",
        "which one",
        "does not belong",
        "relationship between",
    ),
    "multi_step": ("and then", "after that", "for each", "as well"),
    "constraints": (
        "do not",
        "don t",
        "no more than",
        "fewer than",
        "less than",
        "at least",
        "at most",
        "make sure",
        "instead of",
    ),
    "passage": ("based on", "from the text", "in the text", "this text", "this article"),
    "extraction": ("list all", "find all", "how many times", "key points", "main points"),
    "creative_writing": ("short story", "blog post", "cover letter", "opening line"),
    "roleplay": (
        "act as",
        "you are a",
        "you are an",
        "in the style",
        "as if you",
        "take on the role",
        "assume the role",
        "play the role",
        "in the role",
    ),
    "knowledge_terms": (
        "what is",
        "what are",
        "what was",
        "what were",
        "who was",
        "who is",
        "who were",
        "when did",
        "where is",
        "how does",
        "how do",
        "how did",
        "why do",
        "why does",
        "why is",
        "tell me about",
    ),
    "chit_chat": ("how are you", "good morning", "good night", "what s up", "nice to", "you doing"),
    "brevity": (
        "one sentence",
        "one word",
        "one line",
        "in short",
        "yes or no",
        "keep it short",
        "short answer",
        "be brief",
    ),
    "long_output": ("step-by-step guide", "in detail", "full implementation", "as much detail"),
}
