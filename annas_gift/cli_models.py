"""The `models` command: the catalog, and with `--benchmarks` each model's published scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from annas_gift.catalog.registry import Catalog, CatalogError, CatalogModel
from annas_gift.routing.benchmarks import BENCHMARK_LABELS, get_model_benchmarks
from annas_gift.routing.types import BENCHMARKS, ELO_BENCHMARKS, Benchmark, ModelBenchmarks
from annas_gift.settings import ConfigError, load_settings

if TYPE_CHECKING:
    from rich.console import Console

# Short column heads so twelve benchmarks fit a terminal; the sources table uses full names.
_SHORT: dict[Benchmark, str] = {
    "mmlu": "MMLU",
    "hellaswag": "HSwag",
    "gsm8k": "GSM8K",
    "humaneval": "HumEv",
    "mmlu_pro": "MMLU-Pro",
    "gpqa_diamond": "GPQA-D",
    "math_500": "MATH500",
    "aime": "AIME",
    "livecodebench": "LCB",
    "swe_bench_verified": "SWE-V",
    "ifeval": "IFEval",
    "arena_elo": "Arena",
}


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _load(config: Path | None) -> Catalog:
    try:
        path = config or load_settings().litellm.config_path
        return Catalog.from_yaml(path, price=False)
    except (CatalogError, ConfigError) as exc:
        raise _fail(str(exc)) from None


def _status(model: CatalogModel) -> str:
    missing = model.missing_env()
    return f"needs {', '.join(missing)}" if missing else "ok"


def _value_text(benchmark: Benchmark, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if benchmark in ELO_BENCHMARKS else f"{value:.1f}"


def _scores_json(record: ModelBenchmarks | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for benchmark in BENCHMARKS:
        source = record.source(benchmark) if record else None
        value = record.score(benchmark) if record else None
        out[benchmark] = (
            None
            if value is None or source is None
            else {"value": value, "source": source.source, "date": source.date, "note": source.note}
        )
    return out


def _listed(catalog: Catalog, with_benchmarks: bool) -> list[CatalogModel]:
    """Every model; with benchmarks only the chat models (embedding models are not ranked)."""
    return [m for m in catalog.all() if not with_benchmarks or m.mode == "chat"]


def _as_json(catalog: Catalog, with_benchmarks: bool) -> str:
    rows = []
    for m in _listed(catalog, with_benchmarks):
        row: dict[str, Any] = {
            "model": m.name,
            "provider": m.provider,
            "tier": m.tier,
            "status": _status(m),
        }
        if with_benchmarks:
            record = get_model_benchmarks(m.benchmark_id or m.name)
            row["benchmark_id"] = m.benchmark_id
            row["scores"] = _scores_json(record)
            row["notes"] = record.notes if record else "no benchmark entry for this model"
        rows.append(row)
    return json.dumps(rows, indent=2, ensure_ascii=False)


def _plain_table(catalog: Catalog) -> None:
    rows = [("MODEL", "PROVIDER", "TIER", "STATUS")]
    rows += [(m.name, m.provider, m.tier, _status(m)) for m in catalog.all()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        typer.echo(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")


def _benchmark_tables(catalog: Catalog, console: Console) -> None:
    from rich.table import Table  # imported here: only this view needs rich

    scores = Table(title="Published benchmark scores (percent; Arena = LMArena text Elo)")
    scores.add_column("model", no_wrap=True)
    scores.add_column("tier", no_wrap=True)
    for benchmark in BENCHMARKS:
        scores.add_column(_SHORT[benchmark], justify="right", no_wrap=True)
    records: dict[str, ModelBenchmarks | None] = {}
    for m in _listed(catalog, with_benchmarks=True):
        benchmark_id = m.benchmark_id or m.name
        record = records.setdefault(benchmark_id, get_model_benchmarks(benchmark_id))
        values = [_value_text(b, record.score(b) if record else None) for b in BENCHMARKS]
        scores.add_row(m.name, m.tier, *values)
    console.print(scores)
    sources = Table(title="Where each number comes from (- = not published, never guessed)")
    for column in ("benchmark_id", "benchmark", "value", "source", "date"):
        sources.add_column(column, overflow="fold")
    for benchmark_id, record in records.items():
        if record is None:
            sources.add_row(benchmark_id, "-", "-", "no benchmark entry", "-")
            continue
        known = record.known()
        if not known:
            sources.add_row(benchmark_id, "-", "-", record.notes or "nothing published", "-")
        for benchmark, value in known.items():
            source = record.source(benchmark)
            assert source is not None  # parse_benchmarks guarantees a source for every number
            shown = f"{source.source} ({source.note})" if source.note else source.source
            label = BENCHMARK_LABELS[benchmark]
            sources.add_row(benchmark_id, label, _value_text(benchmark, value), shown, source.date)
    console.print(sources)


def models(
    config: Annotated[Path | None, typer.Option(help="Catalog file (litellm_config.yaml).")] = None,
    benchmarks: Annotated[
        bool,
        typer.Option("--benchmarks", help="Show each model's benchmark scores, sources and dates."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the catalog: name, provider, tier, availability (and the env vars still needed)."""
    catalog = _load(config)
    if as_json:
        typer.echo(_as_json(catalog, benchmarks))
    elif benchmarks:
        from rich.console import Console

        console = Console(width=max(Console().width, 140))  # twelve columns need the room
        _benchmark_tables(catalog, console)
    else:
        _plain_table(catalog)


def register(app: typer.Typer) -> None:
    """Add the `models` command to the CLI app."""
    app.command("models")(models)
