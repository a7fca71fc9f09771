"""Alembic migrations of the store's schema (run by `database.run_migrations`)."""
