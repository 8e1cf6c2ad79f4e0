"""ORM models: portable across SQLite and PostgreSQL; every timestamp is timezone-aware UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, so migrations and autogenerate agree on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always returns aware UTC datetimes (SQLite keeps no offset, so we add it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC (naive input is taken as UTC already)."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # SQLite compares timestamps as text: store one offset-free format throughout.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, one function that writes SQLAlchemy's DATETIME text directly.

        SQLite's DATETIME formats with '%(year)04d-...%(microsecond)06d' % dict (about 7 us a
        value on the 2-core machine, half the cost of building a usage row);
        `isoformat(" ", "microseconds")` of the naive UTC value is the same text, for every
        year SQLite's DATETIME reads back (1-9999)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is not None and value.tzinfo is not UTC:
                value = value.astimezone(UTC)
            # 26 characters: the offset ("+00:00") of an aware value cut off.
            return value.isoformat(" ", "microseconds")[:26]

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach or normalise the UTC offset."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


# Row ids that may grow past 2**31 on PostgreSQL; SQLite only autoincrements INTEGER keys.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# JSON columns store SQL NULL (not JSON 'null') for None, so "IS NULL" means "not set".
NullableJSON = JSON(none_as_null=True)


class Base(DeclarativeBase):
    """Declarative base with the shared metadata and type map."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), float: Double(), dict[str, Any]: JSON()}


class UsageRecord(Base):
    """One upstream call: tokens, cost, latency and outcome."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index(None, "provider", "model", "created_at"),
        # One row per attempt (migration 0003): a replay after a crash can never count twice.
        # It also serves look-ups by request id, its first column (0005 dropped the index on
        # request_id alone: one B-tree insert less per row).
        Index(None, "request_id", "model", "created_at", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)
    key_id: Mapped[str | None] = mapped_column(String(64))
    route: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    upstream_model: Mapped[str | None] = mapped_column(String(255))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(default=0.0)
    latency_ms: Mapped[float] = mapped_column(default=0.0)
    status: Mapped[int] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(String(128))
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    cached: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    saved_cost_usd: Mapped[float] = mapped_column(default=0.0, server_default=text("0"))
    # NULL unless `logging.store_prompts` is on (migration 0004): the last user message, cut.
    prompt_excerpt: Mapped[str | None] = mapped_column(Text)


class UsageMetric(Base):
    """Hourly totals per (provider, model), accumulated by upsert."""

    __tablename__ = "usage_metrics"
    __table_args__ = (UniqueConstraint("provider", "model", "hour"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    hour: Mapped[datetime] = mapped_column(index=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    rate_limit_hits: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(default=0.0)


class VPNEndpoint(Base):
    """An egress proxy; `url` may hold credentials, so show it only through a masked view."""

    __tablename__ = "vpn_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    url: Mapped[str] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(64))
    provider_label: Mapped[str | None] = mapped_column(String(128))
    allowed_providers: Mapped[list[str] | None] = mapped_column(NullableJSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    healthy: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    failure_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    requests_carried: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    latency_ms: Mapped[float | None] = mapped_column()
    last_used: Mapped[datetime | None] = mapped_column()
    last_checked: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        # Never the URL: reprs end up in logs and tracebacks.
        return f"VPNEndpoint(id={self.id!r}, name={self.name!r}, active={self.active!r})"


class ClassificationRow(Base):
    """The classifier's verdict for one request."""

    __tablename__ = "task_classifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    tier: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column()
    score: Mapped[float] = mapped_column()
    factors: Mapped[dict[str, Any]] = mapped_column(JSON)


class SelectionRow(Base):
    """The selector's choice for one request, with its score breakdown."""

    __tablename__ = "model_selections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    tier: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    selected_provider: Mapped[str] = mapped_column(String(64))
    selected_model: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column()
    benchmark_score: Mapped[float | None] = mapped_column()
    breakdown: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)
    fallbacks_tried: Mapped[list[Any] | None] = mapped_column(NullableJSON)
    # The selector's ranking, bounded (migration 0004; NULL for decisions stored before it).
    ranking: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)


# --- virtual keys and team budgets (issue 11) ------------------------------------------------


class VirtualKey(Base):
    """A client key stored in the database: only the SHA-256 of its secret, never the secret."""

    __tablename__ = "virtual_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # "vk-…", usage's key_id
    name: Mapped[str] = mapped_column(String(128), unique=True)
    team: Mapped[str | None] = mapped_column(String(128), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256
    prefix: Mapped[str] = mapped_column(String(16))  # "ag-3f9c": enough to recognise a key
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    allowed_models: Mapped[list[str] | None] = mapped_column(NullableJSON)  # None: every model
    rpm: Mapped[int | None] = mapped_column(Integer)
    tpm: Mapped[int | None] = mapped_column(Integer)
    budget_daily_usd: Mapped[float | None] = mapped_column()
    budget_monthly_usd: Mapped[float | None] = mapped_column()
    budget_total_usd: Mapped[float | None] = mapped_column()
    # "metadata" is reserved on declarative classes, so the attribute has another name.
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", NullableJSON)

    def __repr__(self) -> str:
        # Never the hash: reprs end up in logs and tracebacks.
        return f"VirtualKey(id={self.id!r}, name={self.name!r}, prefix={self.prefix!r})"


# Spend per key and window is summed from usage records by key id and time (migration 0002).
Index(None, UsageRecord.key_id, UsageRecord.created_at)


class TeamBudget(Base):
    """USD budgets shared by every virtual key with the same team label."""

    __tablename__ = "team_budgets"

    team: Mapped[str] = mapped_column(String(128), primary_key=True)
    budget_daily_usd: Mapped[float | None] = mapped_column()
    budget_monthly_usd: Mapped[float | None] = mapped_column()
    budget_total_usd: Mapped[float | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
