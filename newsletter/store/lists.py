"""Lists managed from the command line; those in ``newsletter.toml`` are not stored
(queries)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from newsletter.store.database import Database, stamp


class Lists:
    def __init__(self, db: Database) -> None:
        self.db = db

    def stored(self) -> dict[str, dict[str, object]]:
        """Each stored list's table, by name, as ``lists add`` saved it."""
        return {str(name): json.loads(spec)
                for name, spec in self.db.all("SELECT name, spec FROM lists ORDER BY name")}

    def save(self, name: str, table: Mapping[str, object], now: datetime) -> None:
        self.db.execute(
            """INSERT INTO lists (name, spec, created_at) VALUES (?, ?, ?)
               ON CONFLICT (name) DO UPDATE SET spec = excluded.spec""",
            (name, json.dumps(dict(table), ensure_ascii=False), stamp(now)))

    def delete(self, name: str) -> bool:
        """Forget the stored list ``name``; False if there was none."""
        return self.db.execute("DELETE FROM lists WHERE name = ?", (name,)).rowcount > 0
