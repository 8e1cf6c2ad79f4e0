"""Usage records unique by (request_id, model, created_at): a replay can never count twice.

A request has one usage record per upstream attempt (fallbacks add more), so the request id
alone is not unique; with the model and the microsecond timestamp it is.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03 00:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_usage_records_request_id_model_created_at"


def upgrade() -> None:
    """Drop exact duplicates (keeping the first), then add the unique index."""
    # Duplicates can only come from a replay that wrote a record twice; they were counted twice,
    # so removing them corrects usage_records (the hourly metrics keep their totals).
    op.execute(
        sa.text(
            "DELETE FROM usage_records WHERE id NOT IN ("
            " SELECT MIN(id) FROM usage_records GROUP BY request_id, model, created_at)"
        )
    )
    op.create_index(INDEX, "usage_records", ["request_id", "model", "created_at"], unique=True)


def downgrade() -> None:
    """Remove the unique index."""
    op.drop_index(INDEX, table_name="usage_records")
