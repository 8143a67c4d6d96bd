"""The private Postfix and Dovecot of tests/mailserver.py are real: Postfix delivers to a
Maildir and bounces an unknown reader with its own RFC 3464 report to the VERP address of the
envelope sender; Dovecot serves that Maildir over IMAPS (with folders and MOVE) and POP3S."""

from __future__ import annotations

import email
import email.policy
import imaplib
import poplib
import smtplib
import ssl
from collections.abc import Iterator
from email.message import EmailMessage, Message
from pathlib import Path

import pytest

from tests.mailserver import Dovecot, Postfix, group

pytestmark = pytest.mark.slow

SENDER = "bounces+tok1@news.test"
MAILBOXES = ["bounces@news.test", "alice@readers.test"]


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Newsletter <news@news.test>"
    message["To"] = "alice@readers.test, ghost@readers.test"
    message["Subject"] = "Weekly digest — ünïcode"
    message.set_content("Hello, readers.\n")
    return message


def _parse(path: Path) -> EmailMessage:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _status_groups(report: Message) -> list[Message]:
    """The per-message and per-recipient fields of a message/delivery-status part."""
    groups = report.get_payload()
    assert isinstance(groups, list)
    return [group for group in groups if isinstance(group, Message)]


@pytest.fixture
def postfix() -> Iterator[Postfix]:
    with Postfix(mailboxes=MAILBOXES) as server:
        yield server


@pytest.fixture
def bounced(postfix: Postfix) -> Path:
    """One message to a known and an unknown reader, VERP sender; the DSN's file."""
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        smtp.send_message(_message(), from_addr=SENDER,
                          to_addrs=["alice@readers.test", "ghost@readers.test"])
    postfix.wait_for_mail("alice@readers.test", 1)
    [dsn] = postfix.wait_for_mail("bounces@news.test", 1)
    return dsn


def test_postfix_delivers_and_bounces_an_unknown_reader_with_a_dsn(
        postfix: Postfix, bounced: Path) -> None:
    [delivered] = postfix.messages("alice@readers.test")
    assert _parse(delivered)["Subject"] == "Weekly digest — ünïcode"
    assert _parse(delivered)["Return-Path"] == f"<{SENDER}>"

    dsn = _parse(bounced)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    assert dsn["Return-Path"] == "<>"
    # Where Postfix writes the VERP address of the bounce it sends.
    assert dsn["To"] == SENDER
    assert dsn["Delivered-To"] == SENDER
    assert dsn["X-Original-To"] == SENDER
    [status] = [part for part in dsn.walk()
                if part.get_content_type() == "message/delivery-status"]
    per_message, *per_recipient = _status_groups(status)
    assert per_message["X-Postfix-Sender"] == f"rfc822; {SENDER}"
    [ghost] = per_recipient
    assert ghost["Final-Recipient"] == "rfc822; ghost@readers.test"
    assert ghost["Action"] == "failed"
    assert ghost["Status"] == "5.1.1"
    assert "unknown user" in ghost["Diagnostic-Code"]
    # Nothing else came back: alice's copy was delivered.
    assert len(postfix.messages("bounces@news.test")) == 1


def test_postfix_delivers_a_message_with_a_null_sender(postfix: Postfix) -> None:
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("smtputf8")
        smtp.sendmail("", ["bounces+tok2@news.test"],
                      b"Subject: null sender\r\n\r\nA bounce of our own.\r\n")
    [message] = postfix.wait_for_mail("bounces+tok2@news.test", 1)
    assert _parse(message)["Return-Path"] == "<>"
    assert _parse(message)["Delivered-To"] == "bounces+tok2@news.test"


def test_dovecot_serves_the_bounces_over_imaps_and_pop3s(postfix: Postfix,
                                                          bounced: Path) -> None:
    maildir = postfix.maildir("bounces@news.test")
    with Dovecot(users={"bounces@news.test": ("secret", maildir)}) as dovecot:
        context = ssl.create_default_context(cafile=str(dovecot.ca_file))

        pop3 = poplib.POP3_SSL("localhost", dovecot.pop3_port, context=context, timeout=30)
        try:
            pop3.user("bounces@news.test")
            pop3.pass_("secret")
            assert pop3.stat()[0] == 1
            _, lines, _ = pop3.retr(1)
            assert b"report-type=delivery-status" in b"\n".join(lines)
        finally:
            pop3.quit()

        with imaplib.IMAP4_SSL("localhost", dovecot.imap_port, ssl_context=context,
                               timeout=30) as imap:
            imap.login("bounces@news.test", "secret")
            assert imap.select("INBOX") == ("OK", [b"1"])
            _, found = imap.uid("SEARCH", "ALL")
            [uid] = found[0].split()
            _, fetched = imap.uid("FETCH", uid, "(RFC822)")
            assert isinstance(fetched[0], tuple)
            assert email.message_from_bytes(fetched[0][1])["To"] == SENDER
            assert imap.create("Processed")[0] == "OK"
            assert imap.uid("MOVE", uid, "Processed")[0] == "OK"
            assert imap.select("INBOX") == ("OK", [b"0"])
            assert imap.select("Processed") == ("OK", [b"1"])
            imap.logout()

        pop3 = poplib.POP3_SSL("localhost", dovecot.pop3_port, context=context, timeout=30)
        try:
            pop3.user("bounces@news.test")
            pop3.pass_("secret")
            assert pop3.stat()[0] == 0  # POP3 sees the INBOX only
        finally:
            pop3.quit()
    assert dovecot.pid is not None
    assert not group(dovecot.pid)
    assert not dovecot.root.exists()


def test_the_servers_leave_nothing_running() -> None:
    with Postfix() as postfix, Dovecot(users={"bounces@news.test": (
            "secret", postfix.maildir("bounces@news.test"))}) as dovecot:
        assert postfix.pid is not None
        assert dovecot.pid is not None
        assert group(postfix.pid)
        assert group(dovecot.pid)
    assert not group(postfix.pid)
    assert not group(dovecot.pid)
    assert not postfix.root.exists()
    assert not dovecot.root.exists()


def test_dovecot_refuses_a_wrong_password(postfix: Postfix) -> None:
    maildir = postfix.maildir("bounces@news.test")
    with Dovecot(users={"bounces@news.test": ("secret", maildir)}) as dovecot:
        context = ssl.create_default_context(cafile=str(dovecot.ca_file))
        with imaplib.IMAP4_SSL("localhost", dovecot.imap_port, ssl_context=context,
                               timeout=30) as imap, pytest.raises(imaplib.IMAP4.error):
            imap.login("bounces@news.test", "wrong")
