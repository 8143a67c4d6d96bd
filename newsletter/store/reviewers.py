"""Reviewers, their sessions, and failed logins (queries). Passwords are hashed by the caller
(:mod:`newsletter.reviewers`); session tokens are stored only as their SHA-256. A new
password, like a removed reviewer, ends every session of theirs."""

from __future__ import annotations

import hashlib
from datetime import datetime

from newsletter.reviewers import Session
from newsletter.store.database import Database, stamp


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Reviewers:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, name: str, password_hash: str, now: datetime) -> None:
        """Add a reviewer, or set a new password (which logs them out everywhere)."""
        with self.db.transaction():
            self.db.execute("DELETE FROM review_sessions WHERE reviewer = ?", (name,))
            self.db.execute(
                """INSERT INTO reviewers (name, password_hash, created_at) VALUES (?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash""",
                (name, password_hash, stamp(now)))

    def password_hash(self, name: str) -> str | None:
        found = self.db.scalar("SELECT password_hash FROM reviewers WHERE name = ?", (name,))
        return None if found is None else str(found)

    def names(self) -> list[str]:
        return [str(r[0]) for r in self.db.all("SELECT name FROM reviewers ORDER BY name")]

    def remove(self, name: str) -> bool:
        with self.db.transaction():
            self.db.execute("DELETE FROM review_sessions WHERE reviewer = ?", (name,))
            return self.db.execute("DELETE FROM reviewers WHERE name = ?", (name,)).rowcount > 0

    def open_session(self, token: str, reviewer: str, csrf: str, now: datetime,
                     expires_at: datetime) -> None:
        self.db.execute(
            """INSERT INTO review_sessions (token_hash, reviewer, csrf, created_at, expires_at)
               VALUES (?, ?, ?, ?, ?)""",
            (token_hash(token), reviewer, csrf, stamp(now), stamp(expires_at)))

    def session(self, token: str, now: datetime) -> Session | None:
        """The session of ``token``, unless it expired (or never was)."""
        row = self.db.one(
            """SELECT reviewer, csrf, expires_at FROM review_sessions
               WHERE token_hash = ? AND expires_at > ?""", (token_hash(token), stamp(now)))
        if row is None:
            return None
        return Session(str(row[0]), str(row[1]), datetime.fromisoformat(row[2]))

    def close_session(self, token: str) -> None:
        self.db.execute("DELETE FROM review_sessions WHERE token_hash = ?", (token_hash(token),))

    def failed(self, subjects: list[str], now: datetime) -> None:
        self.db.executemany("INSERT INTO login_failures (subject, at) VALUES (?, ?)",
                            [(subject, stamp(now)) for subject in subjects])

    def failures_since(self, subject: str, since: datetime) -> int:
        return int(self.db.scalar(
            "SELECT count(*) FROM login_failures WHERE subject = ? AND at > ?",
            (subject, stamp(since))))
