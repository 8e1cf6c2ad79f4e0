"""Initial schema: usage records, hourly metrics, VPN endpoints, routing decisions.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Column types spelled out here, not imported: later model edits must not rewrite history.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NULLABLE_JSON = sa.JSON(none_as_null=True)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table of the initial schema."""
    op.create_table(
        "usage_records",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("upstream_model", sa.String(255), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.Column("latency_ms", sa.Double(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("error_type", sa.String(128), nullable=True),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("cached", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("saved_cost_usd", sa.Double(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
    )
    op.create_index(op.f("ix_usage_records_request_id"), "usage_records", ["request_id"])
    op.create_index(op.f("ix_usage_records_created_at"), "usage_records", ["created_at"])
    op.create_index(
        op.f("ix_usage_records_provider_model_created_at"),
        "usage_records",
        ["provider", "model", "created_at"],
    )

    op.create_table(
        "usage_metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("hour", TIMESTAMP, nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("rate_limit_hits", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_metrics")),
        sa.UniqueConstraint(
            "provider", "model", "hour", name=op.f("uq_usage_metrics_provider_model_hour")
        ),
    )
    op.create_index(op.f("ix_usage_metrics_hour"), "usage_metrics", ["hour"])

    op.create_table(
        "vpn_endpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("country", sa.String(64), nullable=True),
        sa.Column("provider_label", sa.String(128), nullable=True),
        sa.Column("allowed_providers", NULLABLE_JSON, nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("healthy", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("failure_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("requests_carried", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("latency_ms", sa.Double(), nullable=True),
        sa.Column("last_used", TIMESTAMP, nullable=True),
        sa.Column("last_checked", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vpn_endpoints")),
        sa.UniqueConstraint("name", name=op.f("uq_vpn_endpoints_name")),
    )

    op.create_table(
        "task_classifications",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("factors", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_classifications")),
    )
    op.create_index(
        op.f("ix_task_classifications_request_id"), "task_classifications", ["request_id"]
    )
    op.create_index(
        op.f("ix_task_classifications_created_at"), "task_classifications", ["created_at"]
    )

    op.create_table(
        "model_selections",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("selected_provider", sa.String(64), nullable=False),
        sa.Column("selected_model", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("benchmark_score", sa.Double(), nullable=True),
        sa.Column("breakdown", NULLABLE_JSON, nullable=True),
        sa.Column("fallbacks_tried", NULLABLE_JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_selections")),
    )
    op.create_index(op.f("ix_model_selections_request_id"), "model_selections", ["request_id"])
    op.create_index(op.f("ix_model_selections_created_at"), "model_selections", ["created_at"])


def downgrade() -> None:
    """Drop every table of the initial schema."""
    for table in (
        "model_selections",
        "task_classifications",
        "vpn_endpoints",
        "usage_metrics",
        "usage_records",
    ):
        # Dropping a table drops its indexes with it, on both backends.
        op.drop_table(table)
