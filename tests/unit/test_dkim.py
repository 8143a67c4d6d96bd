"""DKIM's pure parts: relaxed canonicalization (RFC 6376's own example, and dkimpy's
canonicalizer on any body), folding, the names that go into d= and s=, and which keys can
sign. Signatures themselves are checked in tests/integration/test_dkim.py."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from dkim.canonicalization import Relaxed
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.mail.dkim import (
    FIRST_WIDTH,
    WIDTH,
    dns_name,
    fold,
    load_key,
    relaxed_body,
    relaxed_value,
    signed_fields,
    split_message,
)

PIECES = [b"a", b"Zz", b"\xd0\x96", b"\xd2\x9b", b".", b" ", b"  ", b"\t", b" \t ", b"\r\n",
          b"\r\n\r\n", b"\r"]


def test_the_example_of_rfc_6376() -> None:
    """RFC 6376 3.4.6: the same message in relaxed/relaxed."""
    message = b"A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n"
    fields, body = split_message(message)
    assert fields == [b"A: X", b"B : Y\t\r\n\tZ  "]
    assert relaxed_value(b" Y\t\r\n\tZ  ") == b"Y Z"
    assert relaxed_body(body) == b" C\r\nD E\r\n"


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_relaxed_body_is_dkimpys(pieces: list[bytes]) -> None:
    body = b"".join(pieces) + b"\r\n"  # a message over SMTP ends with a line end
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)
    if b"\r" not in body.replace(b"\r\n", b""):  # bare LF line ends are line ends too
        assert relaxed_body(body.replace(b"\r\n", b"\n")) == relaxed_body(body)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([p for p in PIECES if p != b"\r"]), max_size=30))
def test_relaxed_header_values_are_dkimpys(pieces: list[bytes]) -> None:
    value = b"".join(pieces)
    [(_, canonical)] = Relaxed.canonicalize_headers([(b"Subject", value)])
    assert relaxed_value(value) + b"\r\n" == canonical


@pytest.mark.parametrize(("body", "canonical"), [
    (b"", b""),
    (b"\r\n\r\n \t\r\n", b""),
    (b"last line without its end \t", b"last line without its end\r\n"),
    (b".a dot first\r\n\r\n  \r\n", b".a dot first\r\n"),
    (b"\xd0\x96\t\t\xd0\x96  \r\n", b"\xd0\x96 \xd0\x96\r\n"),
])
def test_relaxed_bodies(body: bytes, canonical: bytes) -> None:
    assert relaxed_body(body) == canonical


def test_the_last_occurrence_of_a_field_is_signed_and_absent_ones_are_skipped() -> None:
    fields, _ = split_message(b"Subject: first\r\nFROM :  A\r\n  B\r\nX-Other: x\r\n"
                              b"subject:\tsecond \r\n\r\nbody\r\n")
    assert signed_fields(fields) == b"from:A B\r\nsubject:second\r\n"


def test_folding_breaks_at_spaces_into_short_lines() -> None:
    value = b"; ".join(b"t%d=%s" % (i, b"x" * (i % 13)) for i in range(60)) + b";"
    lines = fold(value)
    assert b" ".join(lines) == value
    assert len(lines[0]) < FIRST_WIDTH
    assert all(len(line) < WIDTH for line in lines[1:])


def test_folding_keeps_a_word_longer_than_a_line_whole() -> None:
    word = b"d=" + b"a" * 100 + b";"
    assert fold(b"v=1; " + word + b" s=x;") == [b"v=1;", word, b"s=x;"]


def test_domains_and_selectors_are_dns_names() -> None:
    assert dns_name("news-2026_a", "selector") == b"news-2026_a"
    assert dns_name("Example.ORG", "domain") == b"Example.ORG"
    assert dns_name("жаңалық.қаз", "domain") == "жаңалық.қаз".encode("idna")
    for bad in ("", "news letter", "news;x=1", "a..b", ".example.org", "a" * 64 + ".org",
                "news\r\nBcc: x@y.z", ".".join(["a" * 63] * 5)):
        with pytest.raises(ValueError, match="is not a DNS name"):
            dns_name(bad, "domain")


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
         passphrase: bytes = b"",
         form: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8) -> bytes:
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, form, encryption)


def test_an_rsa_key_in_pkcs8_or_pkcs1_signs() -> None:
    key = rsa.generate_private_key(65537, 1024)
    for form in (serialization.PrivateFormat.PKCS8,
                 serialization.PrivateFormat.TraditionalOpenSSL):
        assert load_key(_pem(key, form=form)).private_numbers() == key.private_numbers()


def test_keys_that_cannot_sign_say_why() -> None:
    rsa_key = rsa.generate_private_key(65537, 1024)
    public = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    cases = {
        b"not a key at all": "not a PEM private key",
        public: "not a PEM private key",
        _pem(rsa_key, b"secret"): "encrypted",
        _pem(ec.generate_private_key(ec.SECP256R1())): "not RSA but EC",
        _pem(ed25519.Ed25519PrivateKey.generate()): "not RSA but Ed25519",
    }
    for pem, reason in cases.items():
        with pytest.raises(ValueError, match=reason):
            load_key(pem)
