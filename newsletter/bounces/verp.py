"""A return path per message (VERP): the envelope sender that names one outbox row (pure).

With ``[bounces] return_path = "bounces@news.example.org"``, the message of outbox row 1234 goes
out with the envelope sender ``bounces+ya-3f9c1a-k2m…@news.example.org``: the row's id in base
36, the signing key's id, and an HMAC-SHA256 of both under that key (the web secret, as the
readers' links). A server that cannot deliver the message returns it to that address, so a
bounce names the exact message and reader. Without the key nobody can write a token for another
message or another reader: a forged bounce matches nothing. Keys rotate as the readers' links
do: a token signed by a retired key listed in ``[web] old_secrets`` still matches.

Tokens are lower case letters, digits and hyphens, because some servers fold the case of the
local part on the way back, and short (the whole local part stays under RFC 5321's 64 octets).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from newsletter.subscribers.tokens import key_id

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_MAC_CHARS = 20  # base32 characters of the HMAC: 100 bits
_KID_CHARS = 6
MAX_LOCAL = 64  # octets in the local part of an address (RFC 5321, 4.5.3.1.1)


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _DIGITS[digit] + digits
        if not number:
            return digits


def _mac(secret: str, kid: str, outbox_id: int) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"bounce:{kid}:{outbox_id}".encode(),
                      hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:_MAC_CHARS]


@dataclass(frozen=True)
class Claim:
    """What a return-path address says: the outbox row it names, or why it names none."""

    outbox_id: int | None
    problem: str = ""  # why the token matches no message (empty when it does)


class ReturnPath:
    """Makes and reads the per-message return paths of one office."""

    def __init__(self, address: str, secrets: Sequence[str]) -> None:
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain:
            raise ValueError(f"{address!r} is not an address")
        self.local = local
        self.domain = domain
        self.secrets = [s for s in secrets if s]
        if not self.secrets:
            raise ValueError("a return path needs a signing key")
        self._keys = {key_id(s)[:_KID_CHARS]: s for s in reversed(self.secrets)}
        self._pattern = re.compile(
            rf"(?<![\w.+-]){re.escape(local)}\+([a-z0-9-]{{1,60}})@{re.escape(domain)}(?![\w-]|\.\w)",
            re.IGNORECASE)

    @property
    def plain(self) -> str:
        """The return path itself (test sends and invitations, which are no outbox rows)."""
        return f"{self.local}@{self.domain}"

    def address(self, outbox_id: int) -> str:
        """The envelope sender of outbox row ``outbox_id``, signed by the current key."""
        secret = self.secrets[0]
        kid = key_id(secret)[:_KID_CHARS]
        return (f"{self.local}+{_base36(outbox_id)}-{kid}-{_mac(secret, kid, outbox_id)}"
                f"@{self.domain}")

    def tokens(self, text: str) -> list[str]:
        """Every return-path token in ``text`` (an address, a header, a body), in order."""
        return [match.group(1).lower() for match in self._pattern.finditer(text)]

    def claim(self, token: str) -> Claim:
        """The outbox row ``token`` names, if this office signed it (with a key it still
        lists)."""
        parts = token.lower().split("-")
        if len(parts) != 3 or not parts[0] or len(parts[1]) != _KID_CHARS:
            return Claim(None, "a damaged return-path token")
        number, kid, mac = parts
        try:
            outbox_id = int(number, 36)
        except ValueError:
            return Claim(None, "a damaged return-path token")
        secret = self._keys.get(kid)
        if secret is None:
            return Claim(None, "a return-path token signed by a key this office does not "
                               "have (forged, or signed by a retired key no longer listed)")
        if not hmac.compare_digest(mac, _mac(secret, kid, outbox_id)):
            return Claim(None, "a return-path token with a wrong signature (forged or altered)")
        return Claim(outbox_id)
