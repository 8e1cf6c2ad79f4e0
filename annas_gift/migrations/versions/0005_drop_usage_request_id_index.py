"""Drop usage_records' index on request_id alone: the unique index of 0003 covers it.

The unique (request_id, model, created_at) index starts with request_id, so a look-up by request
id (the request-activity page, the replay check) uses it on SQLite and PostgreSQL alike. The
single-column index only cost every usage row one more B-tree insert and its disk space.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 00:00:00

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_usage_records_request_id"


def upgrade() -> None:
    """Drop the single-column index."""
    op.drop_index(INDEX, table_name="usage_records")


def downgrade() -> None:
    """Create it again."""
    op.create_index(INDEX, "usage_records", ["request_id"])
