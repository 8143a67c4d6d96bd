"""DKIM signatures of real messages (English, Russian, Kazakh; RFC 2047 headers, folded
headers, long names, bodies with trailing white space and blank lines) with a key made by
openssl: dkimpy's independent verifier accepts them, before and after a real SMTP server, and
rejects any change the signature covers; each is the field dkimpy's own signer writes for the
same message and time, byte for byte. A key that cannot sign stops the command that needs it
with an Error and a Hint."""

from __future__ import annotations

import re
import smtplib
from datetime import UTC, date, datetime
from pathlib import Path

import dkim
import pytest
from click.testing import CliRunner

from newsletter.app import load_instance
from newsletter.cli.main import cli
from newsletter.errors import ConfigError
from newsletter.mail.compose import MailSettings, Recipient, build_template, longest_line
from newsletter.mail.dkim import DKIM_HEADERS, DkimSigner
from newsletter.mail.render import (
    GREETING_TOKEN,
    UNSUBSCRIBE_TOKEN,
    MailIssue,
    MailItem,
    Rendered,
)
from tests.helpers import SAMPLE_REPORT, database_snapshot, dkim_dns, dkim_key, openssl
from tests.long_mail import RENDERER, long_message
from tests.office import DAILY, add_config, ingest_sample, subscribe
from tests.smtp_server import smtp_sink

WHEN = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
SIGNED_AT = int(WHEN.timestamp())
MAIL = {"en": MailSettings("Humanitarian updates", "updates@example.org", "daily.example.org",
                           "Central Asia daily"),
        "ru": MailSettings("Гуманитарные новости", "updates@example.org", "daily.example.org",
                           "Центральная Азия: ежедневная сводка"),
        "kk": MailSettings("Гуманитарлық жаңалықтар", "updates@example.org",
                           "daily.example.org", "Орталық Азия: күнделікті шолу")}
READERS = {"en": "Joanna Smith-Whitfield", "ru": "Александра Преображенская",
           "kk": "Айгүл Сейітқызы Нұрсұлтанова"}
TITLES = {"en": "Floods in Almaty region: 340 houses damaged",
          "ru": "Наводнение в Алматинской области: повреждены 340 домов",
          "kk": "Алматы облысындағы су тасқыны: 340 үй зақымданды"}
# A body as careless text makes it: a line starting with a dot, white space in runs and at
# line ends, blank and white lines at the end.
ODD_TEXT = (f"{GREETING_TOKEN}\n.Нүктеден басталған жол   \n\tТаб  және  бос орын \t\n"
            f"{UNSUBSCRIBE_TOKEN}\n\n  \n\n\n")


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """One RSA-2048 key for the module: the PEM, and the DNS record of news._domainkey."""
    path, record = dkim_key(tmp_path_factory.mktemp("dkim"))
    return path.read_bytes(), record


def _recipient(language: str) -> Recipient:
    return Recipient("reader@example.org", READERS[language], "i1.s1@example.org",
                     "https://updates.example.org/unsubscribe/TOKEN-123",
                     "unsubscribe@example.org?subject=unsubscribe%20TOKEN-123")


def _alert(language: str) -> bytes:
    item = MailItem(report_id=1, title=TITLES[language], summary=(TITLES[language],),
                    sources=("OCHA",), kind="Situation Report", published=date(2026, 1, 14),
                    link="https://example.org/reports/1", original_language="en")
    rendered = RENDERER.render(MailIssue("alert", language, MAIL[language].list_name,
                                         WHEN.date(), (item,)))
    return build_template(rendered, MAIL[language], date=WHEN).personalise(_recipient(language))


def _odd() -> bytes:
    rendered = Rendered("kk", TITLES["kk"], "", html="<p>-</p>\n", text=ODD_TEXT,
                        greetings={"named": "Сәлем, %(name)s!", "anonymous": "Сәлем!"})
    return build_template(rendered, MAIL["kk"], date=WHEN,
                          text_only=True).personalise(_recipient("kk"))


MESSAGES = {
    "en alert": lambda: _alert("en"),
    "ru alert": lambda: _alert("ru"),
    "kk alert": lambda: _alert("kk"),
    "ru digest, long names": lambda: long_message("digest", "ru").raw,
    "kk digest, long names": lambda: long_message("digest", "kk").raw,
    "kk, odd white space": _odd,
}


def _verifies(signed: bytes, record: str, name: bytes = b"news._domainkey.example.org.") -> bool:
    return bool(dkim.verify(signed, dnsfunc=dkim_dns(record, name)))


def _dkimpy(raw: bytes, pem: bytes, selector: bytes = b"news",
            domain: bytes = b"example.org") -> tuple[bytes, int]:
    """dkimpy's DKIM-Signature field for ``raw`` and the t= it signed at."""
    field = dkim.sign(raw, selector, domain, pem, canonicalize=(b"relaxed", b"relaxed"),
                      include_headers=list(DKIM_HEADERS))
    found = re.search(rb"[; ]t=(\d+);", field)
    assert found is not None
    return field, int(found.group(1))


def _signature(signed: bytes) -> list[bytes]:
    """The lines of the DKIM-Signature field at the top of ``signed``."""
    head = signed.split(b"\r\n\r\n", 1)[0]
    fields = re.split(rb"\r\n(?![ \t])", head)
    assert fields[0].startswith(b"DKIM-Signature: ")
    return fields[0].split(b"\r\n")


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_signatures_verify_and_are_dkimpys_byte_for_byte(kind: str,
                                                         key: tuple[bytes, str]) -> None:
    pem, record = key
    raw = MESSAGES[kind]()
    signer = DkimSigner("news", "example.org", pem)
    theirs, signed_at = _dkimpy(raw, pem)
    signed = signer.sign(raw, now=signed_at)
    assert signed == theirs + raw
    assert _verifies(signed, record)
    assert all(len(line) <= 78 for line in _signature(signed))
    assert longest_line(signed) <= 998
    # The tags the field promises, whatever the clock.
    tags = b"".join(_signature(signer.sign(raw, now=SIGNED_AT))).replace(b" ", b"")
    assert tags.startswith(b"DKIM-Signature:v=1;a=rsa-sha256;c=relaxed/relaxed;d=example.org;"
                           b"i=@example.org;q=dns/txt;s=news;t=%d;h=from:to:subject:date:"
                           b"message-id:mime-version:content-type:content-language:list-id:"
                           b"list-unsubscribe:list-unsubscribe-post;bh=" % SIGNED_AT)


@pytest.mark.parametrize("kind", ["ru alert", "kk, odd white space"])
def test_every_change_the_signature_covers_breaks_it(kind: str, key: tuple[bytes, str]) -> None:
    pem, record = key
    signed = DkimSigner("news", "example.org", pem).sign(MESSAGES[kind]())
    head, body = signed.split(b"\r\n\r\n", 1)
    word = "домов".encode() if kind == "ru alert" else "жол".encode()
    assert word in body
    changes = {
        "a word of the body": head + b"\r\n\r\n" + body.replace(word, word[:-2], 1),
        "a line added to the body": signed + b"P.S.\r\n",
        "the unsubscribe link": signed.replace(b"TOKEN-123>", b"TOKEN-124>", 1),
        "the one-click header": signed.replace(b"List-Unsubscribe=One-Click",
                                               b"List-Unsubscribe=Two-Clicks", 1),
        "the signing time": re.sub(rb"t=(\d+);", lambda m: b"t=%d;" % (int(m[1]) + 1), signed,
                                   count=1),
    }
    for change, tampered in changes.items():
        assert tampered != signed, change
        assert not _verifies(tampered, record), change
    # What relaxed canonicalization forgives: refolding, white space, blank lines at the end.
    forgiven = {
        "refolded": signed.replace(b">,\r\n <mailto:", b">, <mailto:", 1),
        "white space": signed.replace(b"MIME-Version: 1.0", b"MIME-Version:\t 1.0 ", 1),
        "blank lines": signed + b"\r\n  \r\n\r\n",
    }
    for change, altered in forgiven.items():
        assert altered != signed, change
        assert _verifies(altered, record), change


def test_signed_mail_survives_a_real_smtp_server(key: tuple[bytes, str]) -> None:
    """Through aiosmtpd, dot-stuffing the line that starts with a dot and back."""
    pem, record = key
    signed = DkimSigner("news", "example.org", pem).sign(_odd())
    with smtp_sink() as (sink, port), smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail("updates@example.org", ["reader@example.org"], signed,
                        mail_options=["BODY=8BITMIME"])
    [received] = sink.messages
    assert b"\r\n.\xd0\x9d" in received.data  # the dot is there again
    assert _verifies(received.data, record)


def test_a_field_the_message_lacks_is_signed_as_absent(key: tuple[bytes, str]) -> None:
    pem, record = key
    raw = _alert("kk").replace(b"Content-Language: kk\r\n", b"", 1)
    theirs, signed_at = _dkimpy(raw, pem)
    signed = DkimSigner("news", "example.org", pem).sign(raw, now=signed_at)
    assert signed == theirs + raw
    assert b"content-language" in b"".join(_signature(signed))
    assert _verifies(signed, record)
    head, body = signed.split(b"\r\n\r\n", 1)
    assert not _verifies(head + b"\r\nContent-Language: ru\r\n\r\n" + body, record)


def test_the_last_occurrence_of_a_field_is_the_one_signed(key: tuple[bytes, str]) -> None:
    pem, record = key
    raw = b"Subject: an earlier subject\r\n" + _alert("ru")
    theirs, signed_at = _dkimpy(raw, pem)
    signed = DkimSigner("news", "example.org", pem).sign(raw, now=signed_at)
    assert signed == theirs + raw
    assert _verifies(signed, record)
    assert _verifies(signed.replace(b"an earlier subject", b"any other subject"), record)
    last = signed.index(b"\r\nSubject: =?utf-8?") + len(b"\r\nSubject: =?utf-8?")
    assert not _verifies(signed[:last] + b"B" + signed[last + 1:], record)  # b → B: other text


@pytest.mark.parametrize(("selector", "domain"), [
    ("s", "example.org"),
    ("2026-january_" + "x" * 50, "mail." + "long-humanitarian-updates-" * 2 + "example.org"),
    ("news", "жаңалықтар.example.org"),
])
def test_selectors_and_domains_long_short_and_international(
        selector: str, domain: str, key: tuple[bytes, str]) -> None:
    pem, record = key
    raw = _alert("kk")
    ascii_domain = domain.encode("idna")
    signed = DkimSigner(selector, domain, pem).sign(raw)
    assert _verifies(signed, record, b"%s._domainkey.%s." % (selector.encode(), ascii_domain))
    assert all(len(line) <= 78 for line in _signature(signed))


def _bad_keys(folder: Path) -> dict[str, tuple[Path, str, str]]:
    """Keys that cannot sign: the file, the selector, and what the error says."""
    garbage, ec, small, locked = (folder / name for name in
                                  ("garbage.pem", "ec.pem", "small.pem", "locked.pem"))
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
            str(ec))
    openssl("genrsa", "-out", str(small), "512")
    good, _ = dkim_key(folder)
    openssl("rsa", "-in", str(good), "-aes128", "-passout", "pass:secret", "-out", str(locked))
    return {
        "missing": (folder / "missing.pem", "news", "cannot read the DKIM key"),
        "garbage": (garbage, "news", "not a PEM private key"),
        "EC": (ec, "news", "not RSA but EC"),
        "512 bits": (small, "news", "has 512 bits"),
        "passphrase": (locked, "news", "encrypted"),
        "selector": (good, "news letter", "selector 'news letter' is not a DNS name"),
    }


def test_a_key_that_cannot_sign_is_a_config_error_with_a_hint(tmp_path: Path) -> None:
    folder = tmp_path / "office"
    CliRunner().invoke(cli, ["init", str(folder)], catch_exceptions=False)
    for case, (path, selector, reason) in _bad_keys(tmp_path).items():
        instance = load_instance(folder, cwd=tmp_path, environ={
            "NEWSLETTER_DKIM_KEY_FILE": str(path), "NEWSLETTER_DKIM_SELECTOR": selector})
        with pytest.raises(ConfigError, match=reason) as caught:
            instance.dkim_signer()
        assert str(path) in caught.value.message, case
        assert caught.value.hint, case


def test_sending_with_a_bad_key_says_error_and_hint_and_queues_nothing(
        cli_office: Path) -> None:
    add_config(cli_office / "newsletter.toml", DAILY)
    office = load_instance(cli_office, cwd=cli_office, environ={})
    ingest_sample(office, reports={"a.txt": SAMPLE_REPORT.read_bytes()})
    with office.open_store() as store:
        subscribe(store, "daily", ["reader@example.org"])
    (cli_office / "dkim.pem").write_text("not a key\n")
    before = database_snapshot(cli_office / "var" / "newsletter.db")
    result = CliRunner().invoke(cli, ["send", "--list", "daily", "--report", "1"],
                                env={"NEWSLETTER_DKIM_KEY_FILE": "dkim.pem",
                                     "NEWSLETTER_WEB_SECRET": "dkim-test-secret-0123456789"})
    assert result.exit_code == 1, result.output
    assert "Error: cannot DKIM-sign with the key" in result.output
    assert "not a PEM private key" in result.output
    assert "Hint: [dkim] key_file must be a PEM RSA private key" in result.output
    assert "Traceback" not in result.output
    assert database_snapshot(cli_office / "var" / "newsletter.db") == before
