"""Signed links for readers: unsubscribe, confirm a subscription, or a test send's (pure).

Tokens are HMAC-SHA256 signatures over (subscriber, list, issue day), tagged with a key id
derived from the secret, so links keep working across a key rotation while the old key is
still listed, and for :data:`TOKEN_LIFETIME` after the mail was sent. Each token is signed for
one purpose, under the signature: unsubscribe, confirm a subscription, or a test send's link
(:data:`TEST`), which names no subscriber and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from newsletter.errors import LinkExpired, TokenError
from newsletter.languages import LANGUAGES

TOKEN_LIFETIME = timedelta(days=400)  # a mail may be read, and acted on, for a year and more


def key_id(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


UNSUBSCRIBE = "u"
CONFIRM = "c"
TEST = "t"  # a test send's link (`send --test-to`): answered, and nothing changes
MANAGE = "m"  # a reader's own page: their lists, languages, format, pause, data
ADDRESS = "a"  # confirms a reader's new address (the address is where a list name goes)
# How long a link of each purpose is followed; the others, TOKEN_LIFETIME. A manage link
# comes fresh with every mail, or by asking /manage for one.
LIFETIMES = {MANAGE: timedelta(days=90), ADDRESS: timedelta(days=2)}


def sign_token(subscriber_id: int, list_name: str, issued: date, secret: str, *,
               purpose: str = UNSUBSCRIBE) -> str:
    """A URL-safe token that lets its holder unsubscribe ``subscriber_id`` from ``list_name``
    (or, with ``purpose=CONFIRM``, confirm that subscription)."""
    return _signed(f"{purpose}:{subscriber_id}:{list_name}:{issued.toordinal()}", secret)


def sign_test_token(list_name: str, language: str, issued: date, secret: str) -> str:
    """The token of a test send's unsubscribe link: it names no subscriber, only the list and
    the language the test message was in, and its purpose (:data:`TEST`) is signed with the
    rest, so it cannot be turned into a token that unsubscribes or confirms anyone."""
    return _signed(f"{TEST}:{language}:{list_name}:{issued.toordinal()}", secret)


def _signed(payload_text: str, secret: str) -> str:
    payload = payload_text.encode()
    kid = key_id(secret)
    mac = hmac.new(secret.encode("utf-8"), kid.encode() + b"." + payload, hashlib.sha256)
    return f"{_b64(payload)}.{kid}.{_b64(mac.digest()[:18])}"


@dataclass(frozen=True)
class TokenClaim:
    subscriber_id: int | None  # None for a test send's token, which names no subscriber
    list_name: str
    issued: date
    purpose: str = UNSUBSCRIBE
    language: str | None = None  # a test send's token: the language of the test message


def verify_token(token: str, secrets: Sequence[str], today: date, *,
                 purposes: Collection[str] = (UNSUBSCRIBE,)) -> TokenClaim:
    """What a token says, if one of ``secrets`` (current first, then retired ones) signed it
    for one of ``purposes`` and it is not older than :data:`TOKEN_LIFETIME`."""
    try:
        payload_part, kid, mac_part = token.split(".")
        payload = _unb64(payload_part)
        mac = _unb64(mac_part)
    except ValueError:
        raise TokenError("this unsubscribe link is damaged") from None
    keys: Mapping[str, str] = {key_id(secret): secret for secret in secrets if secret}
    secret = keys.get(kid)
    if secret is None:
        raise TokenError("this unsubscribe link was signed with a key that is no longer valid")
    expected = hmac.new(secret.encode("utf-8"), kid.encode() + b"." + payload,
                        hashlib.sha256).digest()[:18]
    if not hmac.compare_digest(mac, expected):
        raise TokenError("this unsubscribe link has been altered")
    try:
        kind, subject, list_name, ordinal = payload.decode("utf-8").split(":")
        issued = date.fromordinal(int(ordinal))
        if kind == TEST:
            if subject not in LANGUAGES:
                raise ValueError(subject)
            claim = TokenClaim(None, list_name, issued, kind, language=subject)
        else:
            claim = TokenClaim(int(subject), list_name, issued, kind)
    except (ValueError, UnicodeDecodeError):
        raise TokenError("this unsubscribe link is damaged") from None
    if kind not in purposes:
        raise TokenError("this link is not meant for this page")
    if today - claim.issued > LIFETIMES.get(kind, TOKEN_LIFETIME):
        raise LinkExpired("this link has expired", claim,
                          hint="use the link of a more recent mail, or ask for a new one")
    return claim
