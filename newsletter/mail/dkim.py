"""DKIM signatures of finished messages (dkimpy; I/O only in reading the key, done by the
composition root)."""

from __future__ import annotations

from dataclasses import dataclass

CRLF = b"\r\n"


# Headers a DKIM signature covers; RFC 8058 asks that List-Unsubscribe and
# List-Unsubscribe-Post be signed, which dkimpy does not do unless told.
DKIM_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
                b"content-type", b"content-language", b"list-id", b"list-unsubscribe",
                b"list-unsubscribe-post")


@dataclass(frozen=True)
class DkimSigner:
    """Signs finished messages (rsa-sha256, relaxed/relaxed) for ``domain`` with ``selector``."""

    selector: str
    domain: str
    private_key: bytes  # PEM

    def sign(self, message: bytes) -> bytes:
        import dkim

        header = dkim.sign(message, self.selector.encode(), self.domain.encode(),
                           self.private_key, canonicalize=(b"relaxed", b"relaxed"),
                           include_headers=list(DKIM_HEADERS))
        return bytes(header).replace(b"\r\n", b"\n").replace(b"\n", CRLF) + message
