"""Virtual keys (hashed secrets, allowed models, limits, budgets) and team budgets.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Column types spelled out here, not imported: later model edits must not rewrite history.
NULLABLE_JSON = sa.JSON(none_as_null=True)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create virtual_keys and team_budgets."""
    op.create_table(
        "virtual_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("team", sa.String(128), nullable=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.Column("allowed_models", NULLABLE_JSON, nullable=True),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.Integer(), nullable=True),
        sa.Column("budget_daily_usd", sa.Double(), nullable=True),
        sa.Column("budget_monthly_usd", sa.Double(), nullable=True),
        sa.Column("budget_total_usd", sa.Double(), nullable=True),
        sa.Column("metadata", NULLABLE_JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_virtual_keys")),
        sa.UniqueConstraint("name", name=op.f("uq_virtual_keys_name")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_virtual_keys_secret_hash")),
    )
    op.create_index(op.f("ix_virtual_keys_team"), "virtual_keys", ["team"])
    # Spend per key and window is summed from usage records by key id and time.
    op.create_index(
        op.f("ix_usage_records_key_id_created_at"), "usage_records", ["key_id", "created_at"]
    )

    op.create_table(
        "team_budgets",
        sa.Column("team", sa.String(128), nullable=False),
        sa.Column("budget_daily_usd", sa.Double(), nullable=True),
        sa.Column("budget_monthly_usd", sa.Double(), nullable=True),
        sa.Column("budget_total_usd", sa.Double(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("team", name=op.f("pk_team_budgets")),
    )


def downgrade() -> None:
    """Drop team_budgets, virtual_keys and the usage index by key."""
    op.drop_table("team_budgets")
    op.drop_index(op.f("ix_usage_records_key_id_created_at"), table_name="usage_records")
    op.drop_table("virtual_keys")
