"""Reviewers' passwords: argon2id hashes, made and checked a few at a time (pure but for the
CPU and memory a hash takes).

An argon2id hash takes tens of milliseconds and 64 MiB on purpose. :func:`check_password`
lets only as many run at once as the machine has cores, so a burst of logins cannot starve
the web app or exhaust its memory; one that waits longer than :data:`HASH_WAIT` for a turn
raises :class:`PasswordsBusy` (the login page answers 503, try again). An unknown name is
hashed as slowly as a wrong password, so the time does not tell which names exist.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

HASH_WAIT = 10.0  # seconds a login waits for a turn to hash
MIN_PASSWORD = 12
MAX_PASSWORD = 1_024  # characters: a longer one is refused before it is hashed
MAX_NAME = 80
_TURNS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


class PasswordsBusy(Exception):
    """Too many passwords are being checked at once: try again in a moment."""


@functools.cache
def hasher() -> PasswordHasher:
    """argon2id with its library's settings (loaded when a password is first hashed)."""
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    with _turn():
        return hasher().hash(password)


def check_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash (None: no such reviewer)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    with _turn():
        if stored is None:
            hasher().hash(password)  # as slow for an unknown name as for a wrong password
            return False
        try:
            return hasher().verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False


class _turn:  # noqa: N801 - used as a context manager, like a lock
    def __enter__(self) -> None:
        if not _TURNS.acquire(timeout=HASH_WAIT):
            raise PasswordsBusy

    def __exit__(self, *exc: object) -> None:
        _TURNS.release()


def login_subject(name: str) -> str:
    """What failed logins of ``name`` are counted under: a bounded hash of it, so a submitted
    name of any length stores 40 characters."""
    return "name:" + hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:32]


@dataclass(frozen=True)
class Session:
    """A reviewer's login, as the review pages find it by its cookie."""

    reviewer: str
    csrf: str
    expires_at: datetime
