"""Routing commands for the `annas-gift` CLI: `classify` and `eval-classifier`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from annas_gift.routing.task_classifier import TaskClassification, classify_task

_DIGITS = 4


def _rounded(result: TaskClassification) -> dict[str, Any]:
    """to_dict() with floats rounded for people and diffs (the decision is unchanged)."""
    data = result.to_dict()
    data["confidence"] = round(result.confidence, _DIGITS)
    data["score"] = round(result.score, _DIGITS)
    data["factors"] = {k: round(v, _DIGITS) for k, v in result.factors.items()}
    data["category_factors"] = {k: round(v, _DIGITS) for k, v in result.category_factors.items()}
    return data


def format_classification(result: TaskClassification) -> str:
    """A readable table: the decision, the top factors by contribution, then the explanation."""
    lines = [
        f"tier        {result.tier}",
        f"category    {result.category}  (confidence {result.confidence:.2f})",
        f"score       {result.score:.3f}  (powerful at >= {result.threshold:.2f})",
        "",
        f"{'factor':<20} {'contribution':>12}",
    ]
    for name, contribution in result.factors.items():
        lines.append(f"{name:<20} {contribution:>+12.3f}")
    lines.append("(contributions to the tier logit; `wording` is all word and character n-grams)")
    lines.append("")
    lines += result.explanation
    return "\n".join(lines)


def _request_from_line(line: str) -> Any:
    """A request from one JSONL line: {"prompt": str} or {"messages": [...], ...}."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ValueError("expected an object with 'prompt' or 'messages'")
    if isinstance(data.get("prompt"), str):
        return [{"role": "user", "content": data["prompt"]}]
    if isinstance(data.get("messages"), list):
        return data  # keeps max_tokens
    raise ValueError("expected 'prompt' (a string) or 'messages' (a list)")


def classify(
    prompt: Annotated[str | None, typer.Argument(help="The prompt to classify.")] = None,
    jsonl: Annotated[
        bool,
        typer.Option(
            "--jsonl",
            help='Read {"prompt": ...} or {"messages": [...]} lines from stdin; '
            "write one JSON result per line.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Classify a prompt: tier, category, confidence, score and the factors behind them."""
    if jsonl:
        # Bytes, decoded line by line: one badly encoded line must not end the stream.
        stream = getattr(sys.stdin, "buffer", None)
        lines = stream if stream is not None else (s.encode("utf-8") for s in sys.stdin)
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                out = _rounded(classify_task(_request_from_line(raw.decode("utf-8"))))
            except Exception as exc:  # one bad line must never stop the stream
                out = {"error": f"line {number}: {exc}"}
            typer.echo(json.dumps(out, ensure_ascii=False))
        return
    if prompt is None:
        typer.echo("error: give a PROMPT, or --jsonl to read prompts from stdin", err=True)
        raise typer.Exit(code=2)
    result = classify_task([{"role": "user", "content": prompt}])
    typer.echo(json.dumps(_rounded(result)) if as_json else format_classification(result))


def eval_classifier(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder with train/, routellm_gsm8k_mmlu.jsonl.gz, mt_bench_questions.jsonl.gz, "
            "humaneval_prompts.jsonl.gz "
            "(default: $ANNAS_GIFT_ROUTING_DATA or data/routing in the repository)."
        ),
    ] = None,
    limit_per_source: Annotated[
        int | None,
        typer.Option(help="Evaluate at most this many validation prompts per source (quick look)."),
    ] = None,
) -> None:
    """Compare the classifier with prompt length, LiteLLM's router and the previous classifier."""
    from annas_gift.routing.evaluate import RoutingDataMissingError, evaluate, format_report

    try:
        report = evaluate(data_dir, limit_per_source=limit_per_source)
    except RoutingDataMissingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(format_report(report))


def register(app: typer.Typer) -> None:
    """Add the `classify` and `eval-classifier` commands to the CLI app."""
    app.command("classify")(classify)
    app.command("eval-classifier")(eval_classifier)
