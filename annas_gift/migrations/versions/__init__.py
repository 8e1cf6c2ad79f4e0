"""Alembic revisions (Alembic skips this file when loading them)."""
