"""Dialect-aware SQL expressions shared by the repositories."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import fields
from functools import cache
from typing import Any, TypeVar

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


# Rows per INSERT statement. SQLAlchemy prepares a statement's parameters in one synchronous
# pass on the event loop (a few ms for 500 rows: bench/inproc.py's worst loop stall did not
# move from 100), while every statement costs several thread round trips through aiosqlite,
# each waiting a whole loop iteration under load: at 100 rows the usage writer fell behind an
# `auto` load (bench/inproc.py, 2026-12-02: 3,031 of 18,000 events written after 3 rounds).
ROWS_PER_STATEMENT = 500
Row = TypeVar("Row")


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


@cache
def string_limits(table: FromClause) -> tuple[tuple[str, int], ...]:
    """(column name, length) of the table's string columns that have a length."""
    limits = ((c.name, getattr(c.type, "length", None)) for c in table.c)
    return tuple((name, length) for name, length in limits if length is not None)


def row_of(event: Any) -> dict[str, Any]:
    """A dataclass event as a column dict, shallowly (asdict deep-copies every nested dict)."""
    cls: Any = type(event)  # classes are hashable; typeshed's cache signature says Hashable
    return {name: getattr(event, name) for name in _field_names(cls)}


def fit_row(table: FromClause, row: dict[str, Any]) -> dict[str, Any]:
    """Cut strings to their column's length, in place; returns the row."""
    # One over-long label must not fail a whole batch (and have it retried forever) on PostgreSQL.
    for name, length in string_limits(table):
        value = row.get(name)
        if isinstance(value, str) and len(value) > length:
            row[name] = value[:length]
    return row


def statement_chunks(items: Sequence[Row]) -> Iterator[Sequence[Row]]:
    """`items` in slices of at most ROWS_PER_STATEMENT, one INSERT each."""
    for start in range(0, len(items), ROWS_PER_STATEMENT):
        yield items[start : start + ROWS_PER_STATEMENT]
