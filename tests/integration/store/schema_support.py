"""Checks of a migration against the tables the code declares, shared by the store tests."""

from __future__ import annotations

from collections.abc import Sequence

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, Table, inspect

from pegkeeper.adapters.store.database import alembic_config
from pegkeeper.adapters.store.tables import metadata


def schema_differences(conn: Connection, tables: Sequence[Table]) -> list[object]:
    """What the migrated schema has that the declared metadata has not, and the reverse,
    with the check constraints of `tables` (alembic does not compare those)."""
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    differences: list[object] = list(compare_metadata(context, metadata))
    inspector = inspect(conn)
    for table in tables:
        expected = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        found = {c["name"] for c in inspector.get_check_constraints(table.name)}
        if found != expected:
            differences.append((table.name, "check constraints", found, expected))
    return differences


def downgrade_and_upgrade(conn: Connection, revision: str) -> tuple[set[str], set[str]]:
    """The table names at `revision`, then at head again."""
    config = alembic_config(conn)
    command.downgrade(config, revision)
    without = set(inspect(conn).get_table_names())
    command.upgrade(config, "head")
    return without, set(inspect(conn).get_table_names())
