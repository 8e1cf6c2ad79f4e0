"""The selector's ranking with each decision, and an optional prompt excerpt with usage.

`model_selections.ranking` holds the top of the ranking that decided an `auto` request (see
services/decisions.py); `usage_records.prompt_excerpt` is written only while
`logging.store_prompts` is on. Both are nullable: rows from before stay as they are.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the two nullable columns."""
    with op.batch_alter_table("model_selections") as batch:
        batch.add_column(sa.Column("ranking", sa.JSON(none_as_null=True), nullable=True))
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("prompt_excerpt", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop them (SQLite rebuilds the tables; their other columns and rows are kept)."""
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("prompt_excerpt")
    with op.batch_alter_table("model_selections") as batch:
        batch.drop_column("ranking")
