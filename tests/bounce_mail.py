"""Returned messages made by hand, for what a test Postfix will not produce: an ARF complaint,
an auto-reply, bounces in older formats (qmail, Exim), a DSN in Russian, a 10 MB bounce, a
broken MIME structure. Each takes the address it came back to (``to``: a return path with its
token) and the reader it names; the real DSNs come from the private Postfix
(:mod:`tests.mailserver`)."""

from __future__ import annotations

import base64

ORIGINAL = ("Return-Path: <{to}>\r\nFrom: Humanitarian updates <updates@news.test>\r\n"
            "To: {reader}\r\nSubject: Kazakhstan: Floods\r\n"
            "Message-ID: <n1.2@news.test>\r\n\r\nFloods hit the north.\r\n")


def dsn(to: str, reader: str, *, status: str = "5.1.1", action: str = "failed",
        diagnostic: str = "smtp; 550 5.1.1 <{reader}>: Recipient address rejected: "
                          "User unknown", human: str = "", charset: str = "us-ascii",
        boundary: str = "B1") -> bytes:
    """An RFC 3464 delivery status notification, as most servers write one."""
    human = human or (f"This is the mail system at host mx.readers.test.\r\n\r\n"
                      f"I'm sorry to have to inform you that your message could not\r\n"
                      f"be delivered to one or more recipients.\r\n\r\n<{reader}>: "
                      f"host mx.readers.test said: 550 {status} User unknown\r\n")
    body = (human.encode(charset) if charset == "us-ascii" else
            base64.encodebytes(human.encode(charset)))
    encoding = "7bit" if charset == "us-ascii" else "base64"
    return (f"Return-Path: <>\r\nDelivered-To: {to}\r\n"
            f"From: MAILER-DAEMON@mx.readers.test (Mail Delivery System)\r\n"
            f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            f"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/report; report-type=delivery-status;\r\n"
            f"\tboundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n"
            f"Content-Type: text/plain; charset={charset}\r\n"
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n").encode() + body + (
        f"\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.readers.test\r\nArrival-Date: Mon,  7 Dec 2026 09:00:00 "
        f"+0000\r\n\r\nFinal-Recipient: rfc822; {reader}\r\n"
        f"Original-Recipient: rfc822;{reader}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: {diagnostic.format(reader=reader)}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
        f"{ORIGINAL.format(to=to, reader=reader)}\r\n--{boundary}--\r\n").encode()


def russian_dsn(to: str, reader: str) -> bytes:
    """A DSN whose human part is Russian (as mail.ru and Yandex write them)."""
    human = ("Это сообщение создано автоматически почтовым сервером.\r\n\r\n"
             f"Не удалось доставить письмо получателю {reader}:\r\n"
             "такого почтового ящика не существует.\r\n")
    return dsn(to, reader, human=human, charset="utf-8",
               diagnostic="smtp; 550 5.1.1 Нет такого пользователя")


def arf(to: str, reader: str, *, feedback: str = "abuse") -> bytes:
    """An RFC 5965 abuse report from a mailbox provider's feedback loop; it comes to a
    feedback address (``to`` names none of our messages): the token is in its
    Original-Mail-From and the returned message's Return-Path."""
    return (f"From: feedback@provider.test\r\nTo: abuse@news.test\r\n"
            f"Subject: FW: Kazakhstan: Floods\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/report; report-type=feedback-report;\r\n"
            f"\tboundary=\"F1\"\r\n\r\n--F1\r\nContent-Type: text/plain\r\n\r\n"
            f"This is an email abuse report for an email message received from IP "
            f"192.0.2.1.\r\n\r\n--F1\r\nContent-Type: message/feedback-report\r\n\r\n"
            f"Feedback-Type: {feedback}\r\nUser-Agent: ProviderFBL/1.0\r\nVersion: 1\r\n"
            f"Original-Mail-From: <{to}>\r\nOriginal-Rcpt-To: <{reader}>\r\n"
            f"Arrival-Date: Mon, 7 Dec 2026 09:00:00 +0000\r\n\r\n"
            f"--F1\r\nContent-Type: message/rfc822\r\n\r\n"
            f"{ORIGINAL.format(to=to, reader=reader)}\r\n--F1--\r\n").encode()


def auto_reply(to: str, reader: str) -> bytes:
    """An out-of-office reply (RFC 3834), to the return path."""
    return (f"From: {reader}\r\nTo: {to}\r\nSubject: Automatic reply: Kazakhstan: Floods\r\n"
            f"Auto-Submitted: auto-replied\r\nX-Autoreply: yes\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"I am out of the office until 14 December.\r\n").encode()


def qmail(to: str, reader: str) -> bytes:
    """A qmail bounce: no report, a text for people (flufl.bounce reads it)."""
    return (f"Return-Path: <>\r\nDelivered-To: {to}\r\nFrom: MAILER-DAEMON@old.test\r\n"
            f"To: {to}\r\nSubject: failure notice\r\n\r\n"
            f"Hi. This is the qmail-send program at old.test.\r\n"
            f"I'm afraid I wasn't able to deliver your message to the following "
            f"addresses.\r\nThis is a permanent error; I've given up. Sorry it didn't "
            f"work out.\r\n\r\n<{reader}>:\r\nSorry, no mailbox here by that name. "
            f"(#5.1.1)\r\n\r\n--- Below this line is a copy of the message.\r\n\r\n"
            f"{ORIGINAL.format(to=to, reader=reader)}").encode()


def exim(to: str, reader: str) -> bytes:
    """An Exim bounce with X-Failed-Recipients."""
    return (f"Return-path: <>\r\nEnvelope-to: {to}\r\nFrom: Mail Delivery System "
            f"<Mailer-Daemon@exim.test>\r\nTo: {to}\r\nX-Failed-Recipients: {reader}\r\n"
            f"Auto-Submitted: auto-replied\r\nSubject: Mail delivery failed: returning "
            f"message to sender\r\n\r\nThis message was created automatically by mail "
            f"delivery software.\r\n\r\nA message that you sent could not be delivered to "
            f"one or more of its\r\nrecipients. This is a permanent error. The following "
            f"address(es) failed:\r\n\r\n  {reader}\r\n    mailbox is full: retry timeout "
            f"exceeded\r\n\r\n------ This is a copy of the message, including all the "
            f"headers. ------\r\n\r\n{ORIGINAL.format(to=to, reader=reader)}").encode()


def huge(to: str, reader: str, megabytes: int = 10) -> bytes:
    """A DSN that returns a 10 MB message (an attachment, base64) after its report."""
    head = dsn(to, reader).rsplit(b"\r\n--B1--", 1)[0]
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"
    return head + line * (megabytes * 1024 * 1024 // len(line)) + b"\r\n--B1--\r\n"


def broken(to: str, reader: str) -> bytes:
    """A bounce whose MIME structure is broken: a multipart/report without its boundary,
    cut off in the middle of the report."""
    return (f"Delivered-To: {to}\r\nTo: {to}\r\nFrom: MAILER-DAEMON@broken.test\r\n"
            f"Subject: Undeliverable\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; "
            f"report-type=delivery-status\r\n\r\n--\r\nContent-Type: message/delivery-status"
            f"\r\n\r\nFinal-Recipient: rfc822; {reader}\r\nAction: fai").encode()


def not_a_bounce(to: str) -> bytes:
    """A reader writing back to the return path: nothing this program understands."""
    return (f"From: someone@readers.test\r\nTo: {to}\r\nSubject: Re: Kazakhstan: Floods\r\n"
            f"\r\nThank you, very useful.\r\n").encode()
