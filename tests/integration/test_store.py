"""The SQLite store: WAL, ordered migrations recorded once, and refusal of newer schemas."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from newsletter.errors import StoreError
from newsletter.store import MIGRATIONS, Migration, Store, open_store
from newsletter.store.copy import NOT_COPIED, TABLES


def test_a_new_database_is_migrated_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "var" / "n.db"
    with open_store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    with open_store(path) as again:  # migrations are applied once
        rows = again.db.execute("SELECT version, name FROM schema_migrations").fetchall()
        assert rows == [(i, m.name) for i, m in enumerate(MIGRATIONS, start=1)]


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    failing = "CREATE TABLE extra (x);\nINSERT INTO nowhere VALUES (1);"
    broken = (*MIGRATIONS, Migration("0099_broken", failing))
    with pytest.raises(StoreError):
        open_store(path, migrations=broken)
    with open_store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        tables = {row[0] for row in store.db.execute("SELECT name FROM sqlite_master")}
        assert "extra" not in tables


def test_a_database_from_a_newer_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    open_store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_migrations VALUES (999, 'future', '2030-01-01')")
    db.close()
    with pytest.raises(StoreError) as caught:
        open_store(path)
    assert "newer than this program" in caught.value.message
    assert caught.value.hint


def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError) as caught:
        open_store(path)
    assert "not a usable newsletter database" in caught.value.message


def test_every_table_is_copied_by_db_copy_or_left_out_on_purpose(store: Store) -> None:
    """A new table must be put in newsletter.store.copy's TABLES (in the order its
    references need) or NOT_COPIED, or `db copy` would silently leave it behind."""
    tables = {str(row[0]) for row in store.db.all(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    assert tables == set(TABLES) | set(NOT_COPIED)
