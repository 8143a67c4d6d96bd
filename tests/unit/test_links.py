"""Which base URLs are fit for links in mail that leaves this machine (the SMTP transport)."""

from __future__ import annotations

import pytest

from newsletter.mail.links import unreachable_reasons


@pytest.mark.parametrize("url", [
    "https://updates.example.org", "https://updates.example.org/", "https://news.example.kz:8443/nl",
    "https://10.0.0.5", "https://[2001:db8::1]:443/", "https://xn--80a1acny.kz",
    "HTTPS://Updates.Example.ORG",
])
def test_a_public_https_address_is_fit(url: str) -> None:
    assert unreachable_reasons(url) == []


@pytest.mark.parametrize(("url", "reasons"), [
    ("http://127.0.0.1:8025", ["it is http, not https", "its host 127.0.0.1 is this machine"]),
    ("http://updates.example.org", ["it is http, not https"]),
    ("https://127.0.0.1:8025", ["its host 127.0.0.1 is this machine"]),
    ("https://127.8.9.10", ["its host 127.8.9.10 is this machine"]),
    ("https://localhost/", ["its host localhost is this machine"]),
    ("https://LOCALHOST.", ["its host localhost. is this machine"]),
    ("https://web.localhost:8443", ["its host web.localhost is this machine"]),
    ("https://[::1]:8025", ["its host [::1] is this machine"]),
    ("https://[::ffff:127.0.0.1]", ["its host [::ffff:127.0.0.1] is this machine"]),
    ("https://0.0.0.0:8025", ["its host 0.0.0.0 is this machine"]),
    ("https://[::]/", ["its host [::] is this machine"]),
    ("https://updates.example.org@127.0.0.1/", ["its host 127.0.0.1 is this machine"]),
    ("ftp://updates.example.org", ["it is ftp, not https"]),
    ("updates.example.org", ["it is not an absolute https:// address"]),
    ("https://", ["it is not an absolute https:// address"]),
    ("", ["it is not an absolute https:// address"]),
])
def test_plain_http_and_this_machine_are_unfit(url: str, reasons: list[str]) -> None:
    found = unreachable_reasons(url)
    assert len(found) == len(reasons)
    for said, expected in zip(found, reasons, strict=True):
        assert said.startswith(expected), (url, found)
