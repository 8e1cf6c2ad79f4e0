"""Alembic migrations, shipped inside the package so `annas-gift db upgrade` works anywhere."""
