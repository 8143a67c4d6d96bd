"""One named step of the schema (:mod:`newsletter.store.schema` lists them in order)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str
    # Statements of one dialect alone (by :attr:`Dialect.name`), run whole after ``sql``: a
    # trigger's body holds ";" and is written differently on SQLite and PostgreSQL.
    only: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def statements(self, dialect: str = "") -> Iterator[str]:
        """The migration's statements, one by one (a script runner would commit on its own),
        then those of ``dialect`` alone."""
        yield from self._common()
        yield from self.only.get(dialect, ())

    def _common(self) -> Iterator[str]:
        buffer: list[str] = []
        for line in self.sql.splitlines():
            buffer.append(line)
            if line.rstrip().endswith(";"):
                statement = "\n".join(buffer).strip()
                if statement.rstrip(";").strip():
                    yield statement
                buffer = []
        rest = "\n".join(buffer).strip()
        if rest and any(not part.strip().startswith("--") for part in rest.splitlines()
                        if part.strip()):
            yield rest
