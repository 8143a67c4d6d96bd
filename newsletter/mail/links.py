"""The links and identifiers a message carries, and whether a base URL is fit for real mail
(pure).

Unsubscribe and confirmation links are signed (:func:`newsletter.subscribers.tokens.sign_token`):
the HTTPS one-click link of ``List-Unsubscribe`` and the body, and the ``mailto:`` fallback whose
subject carries the same token. A test send's links carry a signed token of the test purpose
(:func:`~newsletter.subscribers.tokens.sign_test_token`): the web app answers them and changes
nothing. Previews carry a link that changes nothing either, and is not signed.

Every message carries two signed tokens, so :class:`Links` keys its HMAC once (``hmac.new``
over the key and the key id) and copies that state per token: the tokens are those of
:func:`~newsletter.subscribers.tokens.sign_token` and
:func:`~newsletter.subscribers.tokens.sign_test_token`, byte for byte (a test checks it).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass, field
from datetime import date

from newsletter.subscribers.tokens import ADDRESS, CONFIRM, MANAGE, TEST, UNSUBSCRIBE, key_id

PREVIEW_TOKEN = "preview"  # the web app answers /unsubscribe/preview without changing anything
# scheme :// [userinfo@] host (a bracketed IPv6 address, or up to a port, path, query or hash)
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:[^/?#@]*@)?"
                  r"(?P<host>\[[^\]/?#]*\]|[^/?#:]*)")


def message_id(local: str, domain: str) -> str:
    """Every Message-ID newsletter gives (without angle brackets): ``local`` on ``domain``,
    the sender's. The local parts say what a message is:

    * ``n{issue}.{subscriber}.{list}``: an issue's message to one reader (:func:`issue_local`);
    * ``test.{report}.{language}.{random}``: a test send (a new one each time, so a mail
      client shows a second test beside the first);
    * ``confirm.{subscriber}.{day}.{list}``: an invitation;
    * ``{name}.preview``: a preview, which goes nowhere.
    """
    return f"{local}@{domain}"


def issue_local(issue_id: int, subscriber_id: int, list_name: str) -> str:
    """The local part of an issue's message to one reader: one per reader and issue, so a
    message sent again (after an unknown outcome) is recognisable as the same one."""
    return f"n{issue_id}.{subscriber_id}.{list_name}"


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    """``data`` in URL-safe base64 without padding (as the tokens module writes it)."""
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).rstrip(b"=").decode()


@dataclass(frozen=True)
class Links:
    """Where links point, and the key that signs them."""

    base_url: str  # [web] base_url
    unsubscribe_address: str  # [mail] unsubscribe_address
    domain: str  # the right-hand side of Message-IDs: the sender's domain
    secret: str = ""  # the current signing key; only previews need none
    _root: str = field(init=False, repr=False, compare=False)  # base_url without its last /
    # The HMAC keyed with the secret, the key id and its dot already in: copied per token.
    _mac: hmac.HMAC | None = field(init=False, repr=False, compare=False)
    _kid: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_root", self.base_url.rstrip("/"))
        kid = key_id(self.secret) if self.secret else ""
        object.__setattr__(self, "_kid", kid)
        object.__setattr__(self, "_mac", hmac.new(self.secret.encode("utf-8"),
                                                  kid.encode() + b".", hashlib.sha256)
                           if self.secret else None)

    def unsubscribe(self, subscriber_id: int, list_name: str, issued: date) -> tuple[str, str]:
        """The signed one-click link and the ``mailto:`` fallback (without the scheme)."""
        token = self._token(f"{UNSUBSCRIBE}:{subscriber_id}:{list_name}:{issued.toordinal()}")
        return self._unsubscribe(token, f"unsubscribe%20{token}")

    def test(self, list_name: str, language: str, issued: date) -> tuple[str, str]:
        """A test send's one-click link and ``mailto:`` fallback: signed for the test purpose,
        so the web app says it was a test and unsubscribes nobody."""
        token = self._token(f"{TEST}:{language}:{list_name}:{issued.toordinal()}")
        return self._unsubscribe(token, f"unsubscribe%20{token}")

    def confirm(self, subscriber_id: int, list_name: str, issued: date) -> str:
        token = self._token(f"{CONFIRM}:{subscriber_id}:{list_name}:{issued.toordinal()}")
        return f"{self._root}/confirm/{token}"

    def manage(self, subscriber_id: int | None, issued: date) -> str:
        """The reader's own page, signed for them (it expires: every mail brings a fresh
        one); without a reader (a test send), the page that changes nothing."""
        if subscriber_id is None:
            return f"{self._root}/manage/{PREVIEW_TOKEN}"
        token = self._token(f"{MANAGE}:{subscriber_id}::{issued.toordinal()}")
        return f"{self._root}/manage/{token}"

    def new_address(self, subscriber_id: int, address: str, issued: date) -> str:
        """The link that confirms ``address`` as the reader's new one."""
        token = self._token(f"{ADDRESS}:{subscriber_id}:{address}:{issued.toordinal()}")
        return f"{self._root}/manage/address/{token}"

    def preview(self) -> tuple[str, str]:
        """A preview's unsubscribe links: they lead to a page that changes nothing."""
        return self._unsubscribe(PREVIEW_TOKEN, "unsubscribe")

    def message_id(self, local: str) -> str:
        """A Message-ID (without angle brackets) on our domain: :func:`message_id`."""
        return message_id(local, self.domain)

    def _unsubscribe(self, token: str, subject: str) -> tuple[str, str]:
        return (f"{self._root}/unsubscribe/{token}",
                f"{self.unsubscribe_address}?subject={subject}")

    def _token(self, payload_text: str) -> str:
        """``payload_text`` signed as :func:`~newsletter.subscribers.tokens.sign_token` signs
        it: the payload, the key id and the first 18 octets of the HMAC, each URL-safe."""
        if self._mac is None:
            raise ValueError("signed links need a signing key")  # the composition root checks
        payload = payload_text.encode()
        mac = self._mac.copy()
        mac.update(payload)
        return f"{_b64(payload)}.{self._kid}.{_b64(mac.digest()[:18])}"


def unreachable_reasons(base_url: str) -> list[str]:
    """Why links under ``base_url`` are unfit for mail that leaves this machine, or nothing
    when they are fit: a reader's mail client needs ``https`` (RFC 8058 asks it of the one-click
    ``List-Unsubscribe`` link) and a host other than this machine (``localhost`` and
    ``*.localhost``, loopback addresses such as ``127.0.0.1`` and ``::1``, and the unspecified
    ``0.0.0.0`` and ``::``)."""
    found = _URL.match(base_url.strip())
    if found is None or not found.group("host"):
        return ["it is not an absolute https:// address"]
    reasons = []
    scheme, host = found.group("scheme").lower(), found.group("host").lower()
    if scheme != "https":
        reasons.append(f"it is {scheme}, not https")
    if _this_machine(host.strip("[]").rstrip(".")):
        reasons.append(f"its host {host} is this machine, which readers cannot reach")
    return reasons


def _this_machine(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified
