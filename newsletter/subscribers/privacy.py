"""What is kept of a reader who asked to be forgotten (pure).

Erasing a reader removes their record; what stays is an HMAC of their address under the
office's signing key (``[web] secret``, and each retired key, so a rotation forgets no one),
so that a later import or sign-up recognises the address and does not bring them back, while
the address itself can be read from nothing that is kept.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


class Forgotten:
    """The digests an erased address is remembered by."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self.secrets = [s for s in secrets if s]
        if not self.secrets:
            raise ValueError("a digest of an erased address needs a signing key")

    def digest(self, email: str) -> str:
        """The digest stored when ``email`` is erased (under the current key)."""
        return self._under(self.secrets[0], email)

    def digests(self, email: str) -> list[str]:
        """Every digest ``email`` may have been stored under (current and retired keys)."""
        return [self._under(secret, email) for secret in self.secrets]

    @staticmethod
    def _under(secret: str, email: str) -> str:
        return hmac.new(secret.encode("utf-8"), b"erased:" + email.lower().encode("utf-8"),
                        hashlib.sha256).hexdigest()
