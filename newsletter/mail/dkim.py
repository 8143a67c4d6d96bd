"""DKIM signatures of finished messages (RFC 6376: rsa-sha256, relaxed/relaxed), pure but for
the clock when no signing time is given: the composition root reads the key file;
:class:`DkimSigner` parses it once and signs with OpenSSL (the ``cryptography`` package).

For the same message, key and signing time the field is the one dkimpy writes, byte for byte
(the tests check it): tags ``v a c d i q s t h bh b`` in that order; ``h=`` names every field
of :data:`DKIM_HEADERS`, and a field the message lacks is signed as absent, so that it cannot
be added later (RFC 6376 5.4); the last occurrence of a field is the one signed (5.4.2); the
field is folded at spaces into lines of at most 73 octets, ``b=`` on lines of its own. Only a
domain or selector too long for a line differs: it stays whole (dkimpy cuts it, and the d=
or s= it writes then holds a space).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
from dataclasses import dataclass, field

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CRLF = b"\r\n"
MIN_KEY_BITS = 1024  # RFC 8301: verifiers reject shorter RSA keys

# Headers a DKIM signature covers, each once; RFC 8058 asks that List-Unsubscribe and
# List-Unsubscribe-Post be signed.
DKIM_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
                b"content-type", b"content-language", b"list-id", b"list-unsubscribe",
                b"list-unsubscribe-post")

FIELD_NAME = b"DKIM-Signature"
# Folding (dkimpy's widths): the first line holds "DKIM-Signature: " and fewer than
# FIRST_WIDTH octets of the value, the others a space and fewer than WIDTH; b= is cut into
# pieces of WIDTH octets.
FIRST_WIDTH = 58
WIDTH = 71

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD_START = re.compile(rb"\r?\n(?![ \t])")  # a line end not followed by a continuation
_BARE_LF = re.compile(rb"(?<!\r)\n")
_SPACES = re.compile(rb"  +")
_DNS_NAME = re.compile(rb"[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*")
_PADDING = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


def relaxed_body(body: bytes) -> bytes:
    """``body`` in the relaxed canonical form (RFC 6376 3.4.4): no WSP at the end of a line
    (a last line without its CRLF included, which dkimpy alone keeps), every other run of WSP
    one space, no empty lines at the end, CRLF line ends, a CRLF after the last line; an empty
    body stays empty."""
    # Bytes methods, and two regular expressions run only when they have work: tabs become
    # spaces, runs of spaces one, and then at most one space is left at the end of a line.
    if body.count(b"\n") != body.count(CRLF):
        body = _BARE_LF.sub(CRLF, body)
    body = body.replace(b"\t", b" ")
    if b"  " in body:
        body = _SPACES.sub(b" ", body)
    body = body.replace(b" \r\n", CRLF).rstrip(b" ")
    end = len(body)
    while body.endswith(CRLF, 0, end):
        end -= 2
    return body[:end] + CRLF if end else b""


def relaxed_value(value: bytes) -> bytes:
    """A header field's value in the relaxed canonical form (RFC 6376 3.4.2): unfolded, every
    run of WSP one space, none at either end."""
    value = value.replace(CRLF, b"").replace(b"\n", b"").replace(b"\t", b" ")
    return (_SPACES.sub(b" ", value) if b"  " in value else value).strip(b" ")


def split_message(message: bytes) -> tuple[list[bytes], bytes]:
    """The header fields of ``message`` (each with its continuation lines) and its body."""
    end = _HEADER_END.search(message)
    head, body = (message[:end.start()], message[end.end():]) if end else (message, b"")
    return [line for line in _FIELD_START.split(head) if line], body


def signed_fields(fields: list[bytes]) -> bytes:
    """The fields of :data:`DKIM_HEADERS` that are present, the last occurrence of each, in
    that order and relaxed form (``name:value`` CRLF), as the signature hashes them."""
    last: dict[bytes, bytes] = {}
    for line in fields:
        name, colon, value = line.partition(b":")
        name = name.rstrip(b" \t").lower()
        if colon and name in DKIM_HEADERS:
            last[name] = value
    return b"".join(name + b":" + relaxed_value(last[name]) + CRLF
                    for name in DKIM_HEADERS if name in last)


def fold(value: bytes) -> list[bytes]:
    """``value`` cut into lines at spaces (each dropped), every line shorter than its width
    but for a word longer than that, which stays whole on a line of its own."""
    lines, width = [], FIRST_WIDTH
    while len(value) >= width:
        cut = value.rfind(b" ", 0, width)
        if cut < 0:
            cut = value.find(b" ", width)
            if cut < 0:
                break
        lines.append(value[:cut])
        value, width = value[cut + 1:], WIDTH
    return [*lines, value]


def load_key(pem: bytes) -> rsa.RSAPrivateKey:
    """The RSA private key of a PEM file (PKCS#1 or PKCS#8, no passphrase); ValueError saying
    what is wrong with any other."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError as exc:
        raise ValueError("the key is encrypted; DKIM signing needs it without a passphrase"
                         ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError("the file is not a PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__.removesuffix("PrivateKey")
        raise ValueError(f"the key is not RSA but {kind}; rsa-sha256 signs with RSA")
    if key.key_size < MIN_KEY_BITS:
        raise ValueError(f"the key has {key.key_size} bits; receivers reject RSA keys under "
                         f"{MIN_KEY_BITS}")
    return key


@functools.lru_cache(maxsize=8)
def _cached_key(pem: bytes) -> rsa.RSAPrivateKey:
    """:func:`load_key`, once per PEM for the life of the process: parsing and checking an
    RSA key takes milliseconds, and every message builder (a sender's, a test send's, each
    mail the web pages send) makes a signer from the same file."""
    return load_key(pem)


def dns_name(name: str, what: str) -> bytes:
    """``name`` as it goes into d= or s= (an internationalised domain as its A-labels);
    ValueError if it is not a DNS name."""
    try:
        encoded = name.encode("idna")
    except UnicodeError:
        encoded = b""
    if len(encoded) > 253 or not _DNS_NAME.fullmatch(encoded):
        raise ValueError(f"the {what} {name!r} is not a DNS name")
    return encoded


@dataclass(frozen=True)
class DkimSigner:
    """Signs finished messages (rsa-sha256, relaxed/relaxed) for ``domain`` with ``selector``.
    The PEM ``private_key`` is parsed when the signer is built (the key object is kept for the
    process and shared by every signer of the same PEM): ValueError if it, the selector or
    the domain cannot sign."""

    selector: str
    domain: str
    private_key: bytes = field(repr=False)  # PEM
    _key: rsa.RSAPrivateKey = field(init=False, repr=False, compare=False)
    _tags: bytes = field(init=False, repr=False, compare=False)  # up to t=

    def __post_init__(self) -> None:
        domain, selector = dns_name(self.domain, "domain"), dns_name(self.selector, "selector")
        object.__setattr__(self, "_key", _cached_key(self.private_key))
        object.__setattr__(self, "_tags", b"v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; "
                           b"i=@%s; q=dns/txt; s=%s; t=" % (domain, domain, selector))

    def sign(self, message: bytes, *, now: int | None = None) -> bytes:
        """``message`` with its DKIM-Signature field first, signed at ``now`` (seconds since
        the epoch; the clock's by default)."""
        return self.signature(message, now) + message

    def signature(self, message: bytes, now: int | None = None) -> bytes:
        """The DKIM-Signature field of ``message`` signed at ``now`` (the clock's by default),
        CRLF included: what :meth:`sign` puts on top of the message."""
        if now is None:
            now = int(time.time())
        fields, body = split_message(message)
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
        lines = fold(b"%s%d; h=%s; bh=%s;" % (self._tags, now, b" : ".join(DKIM_HEADERS),
                                              body_hash))
        # The field is hashed with b= empty, last, and without its CRLF.
        hashed = signed_fields(fields) + b"dkim-signature:" + relaxed_value(
            b"\r\n ".join([*lines, b"b="]))
        b_tag = b"b=" + base64.b64encode(
            self._key.sign(hashed, _PADDING, _SHA256))
        lines += [b_tag[i:i + WIDTH] for i in range(0, len(b_tag), WIDTH)]
        return FIELD_NAME + b": " + b"\r\n ".join(lines) + CRLF
