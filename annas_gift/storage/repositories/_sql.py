"""Dialect-aware SQL expressions shared by the repositories."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import FromClause, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement, FunctionElement


class utc_day(FunctionElement[str]):  # lower case: reads like the SQL function
    """The UTC calendar day of a timestamp column, as 'YYYY-MM-DD' text."""

    type = String()
    inherit_cache = True
    name = "utc_day"

    def __init__(self, column: ColumnElement[Any] | QueryableAttribute[Any]) -> None:
        super().__init__(column)


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite rows hold offset-free UTC text (see UTCDateTime), so the date part is the UTC day.
    return f"strftime('%Y-%m-%d', {compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # timestamptz renders in the session time zone unless converted to UTC first.
    arg = compiler.process(element.clauses, **kw)
    return f"to_char(({arg}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(utc_day)
def _utc_day_default(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(CAST({compiler.process(element.clauses, **kw)} AS DATE) AS VARCHAR(10))"


def row_of(event: Any) -> dict[str, Any]:
    """A dataclass event as a column dict, shallowly (asdict deep-copies every nested dict)."""
    return {f.name: getattr(event, f.name) for f in fields(event)}


def fit_row(table: FromClause, row: dict[str, Any]) -> dict[str, Any]:
    """Cut strings to their column's length, in place; returns the row."""
    # One over-long label must not fail a whole batch (and have it retried forever) on PostgreSQL.
    for name, value in row.items():
        length = getattr(table.c[name].type, "length", None)
        if length is not None and isinstance(value, str) and len(value) > length:
            row[name] = value[:length]
    return row
