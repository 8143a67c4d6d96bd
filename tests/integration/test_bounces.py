"""What comes back, read from a Maildir by the CLI: each hand-made kind (a complaint, an
auto-reply, older bounce formats, a Russian DSN, a 10 MB bounce, a broken structure, forged
and damaged tokens) gets a clear outcome, and none changes a reader it should not. The real
DSNs of a real Postfix, and IMAP and POP3, are in ``test_bounces_mailserver.py``."""

from __future__ import annotations

import email
import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import load_instance
from newsletter.bounces.verp import ReturnPath
from newsletter.cli.main import cli
from tests import bounce_mail
from tests.helpers import SAMPLE_REPORT, database_snapshot, drop, wait_until
from tests.office import add_config, run_cli, with_sample

SECRET = "bounces-test-secret-0123456789abcdef"
ENV = {"NEWSLETTER_WEB_SECRET": SECRET, "NEWSLETTER_BOUNCES_RETURN_PATH": "bounces@news.test"}


def invoke(*args: str, code: int = 0, **settings: str) -> str:
    """Run a command with the office's secret and return path (and ``settings``: environment
    variables)."""
    return run_cli(args, {**ENV, **settings}, code)


@pytest.fixture
def office(cli_office: Path) -> Path:
    with_sample(cli_office)
    invoke("ingest")
    return cli_office


def _maildir(root: Path) -> Path:
    for sub in ("tmp", "new", "cur"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def _sent(office: Path, names: list[str]) -> dict[str, str]:
    """``names``@readers.test subscribed to daily (and weekly) and sent the sample report:
    each reader's return path, as the .eml files carry it."""
    for name in names:
        invoke("subscribers", "add", f"{name}@readers.test", "--list", "daily")
        invoke("subscribers", "add", f"{name}@readers.test", "--list", "weekly")
    invoke("send", "--list", "daily", "--report", "1")
    paths = {}
    for path in (office / "var/outbox/mail").glob("*.eml"):
        raw = path.read_bytes()
        assert raw.startswith(b"Return-Path: <bounces+")
        message = email.message_from_bytes(raw)
        paths[str(message["To"]).split("@")[0]] = str(message["Return-Path"]).strip("<>")
    assert sorted(paths) == sorted(names)
    return paths


def _status(office: Path) -> dict[str, tuple[str, dict[str, str]]]:
    seen = {}
    for line in invoke("subscribers", "list", "--json").splitlines():
        data = json.loads(line)
        shown = json.loads(invoke("subscribers", "show", data["email"], "--json"))
        seen[data["email"].split("@")[0]] = (data["status"], shown["lists"])
    return seen


def test_every_kind_of_returned_message_gets_its_outcome(office: Path) -> None:
    names = ["gone", "angry", "away", "oldformat", "victim", "big", "broken", "russian",
             "exim", "delayed", "fine"]
    paths = _sent(office, names)
    forger = ReturnPath("bounces@news.test", ["another-office-key-000000000000"])
    local, domain = paths["fine"].split("@")
    tampered = f"{local[:-4]}{'bbbb' if local.endswith('aaaa') else 'aaaa'}@{domain}"
    made: dict[str, bytes] = {
        "gone": bounce_mail.dsn(paths["gone"], "gone@readers.test"),
        "angry": bounce_mail.arf(paths["angry"], "angry@readers.test"),
        "away": bounce_mail.auto_reply(paths["away"], "away@readers.test"),
        "oldformat": bounce_mail.qmail(paths["oldformat"], "oldformat@readers.test"),
        # A DSN for a message this office never sent, naming a reader it did write to.
        "forged": bounce_mail.dsn(forger.address(1), "victim@readers.test"),
        "tampered": bounce_mail.dsn(tampered, "victim@readers.test"),
        "big": bounce_mail.huge(paths["big"], "big@readers.test"),
        "broken": bounce_mail.broken(paths["broken"], "broken@readers.test"),
        "russian": bounce_mail.russian_dsn(paths["russian"], "russian@readers.test"),
        "exim": bounce_mail.exim(paths["exim"], "exim@readers.test"),
        "delayed": bounce_mail.dsn(paths["delayed"], "delayed@readers.test", status="4.2.2",
                                   action="delayed"),
        "reply": bounce_mail.not_a_bounce(paths["fine"]),
    }
    maildir = _maildir(office / "bounces")
    for name, raw in made.items():
        (maildir / "new" / f"1765098000.{name}.mx").write_bytes(raw)

    out = invoke("bounces", "read", "--maildir", str(maildir))
    assert f"Read {len(made)} returned message(s) from maildir" in out
    assert "bounces list --unmatched" in out

    status = _status(office)
    stopped = {name for name, (state, _) in status.items() if state == "bounced"}
    assert stopped == {"gone", "oldformat", "big", "russian"}
    assert status["angry"] == ("active", {"daily": "unsubscribed", "weekly": "active"})
    for name in ("away", "victim", "fine", "broken", "exim", "delayed"):
        assert status[name] == ("active", {"daily": "active", "weekly": "active"}), name

    every = [json.loads(line) for line in invoke("bounces", "list", "--json").splitlines()]
    by_address: dict[str, list[dict[str, object]]] = {}
    for entry in every:
        by_address.setdefault(entry["address"], []).append(entry)
    assert len(every) == len(made)
    outcome = {name: {e["outcome"] for e in by_address.get(f"{name}@readers.test", [])}
               for name in names}
    assert outcome["gone"] == {"disabled"}
    assert outcome["angry"] == {"unsubscribed"}
    assert outcome["away"] == {"ignored"}
    assert outcome["victim"] == {"unmatched"}  # the forged one and the tampered one
    assert outcome["exim"] == {"scored"}  # a full mailbox, not a dead address
    assert outcome["delayed"] == {"scored"}
    assert Counter(e["outcome"] for e in every) == {
        "disabled": 4, "unsubscribed": 1, "ignored": 1, "scored": 2,
        "unmatched": 2,  # the forged one and the tampered one
        "unrecognised": 2}  # the broken one and the reader's reply: ours, not understood
    unmatched = [json.loads(line) for line in
                 invoke("bounces", "list", "--unmatched", "--json").splitlines()]
    details = " | ".join(e["detail"] for e in unmatched)
    assert "key this office does not have" in details
    assert "wrong signature" in details
    assert "no return-path token" not in details  # the reply came to a return path too
    assert len(unmatched) == 4  # forged, tampered, the broken one, the reader's reply
    gone = next(e for e in every if e["address"] == "gone@readers.test")
    assert (gone["status"], gone["list"], gone["language"]) == ("5.1.1", "daily", "en")

    # Each message is marked read; reading again finds nothing new.
    assert list((maildir / "new").iterdir()) == []
    assert all(name.name.endswith(":2,S") for name in (maildir / "cur").iterdir())
    assert "Read 0 returned message(s)" in invoke("bounces", "read", "--maildir", str(maildir))


def test_what_came_back_is_shown_and_a_reader_can_be_reactivated(office: Path) -> None:
    paths = _sent(office, ["gone", "angry", "fine"])
    maildir = _maildir(office / "bounces")
    (maildir / "new" / "a.mx").write_bytes(bounce_mail.dsn(paths["gone"], "gone@readers.test"))
    (maildir / "new" / "b.mx").write_bytes(bounce_mail.arf(paths["angry"],
                                                           "angry@readers.test"))
    invoke("bounces", "read", "--maildir", str(maildir))

    database = office / "var/newsletter.db"
    before = database_snapshot(database)
    listed = invoke("subscribers", "list", "--status", "bounced")
    assert "gone@readers.test" in listed
    assert "5.1.1" in listed
    assert "REASON" in listed
    assert "angry@readers.test" in invoke("subscribers", "list", "--status", "complained")
    shown = json.loads(invoke("lists", "show", "daily", "--json"))
    assert shown["mail"] == {"daily": {"en": {"sent": 3, "delivered": 0, "bounced": 1,
                                              "complained": 1}}}
    status = json.loads(invoke("status", "--json"))
    assert status["mail"]["daily"]["en"]["bounced"] == 1
    assert status["bounces"] == {"disabled": 1, "unsubscribed": 1}
    assert "Mail         daily/en: 3 sent, 0 delivered, 1 bounced, 1 complained" in invoke(
        "status")
    invoke("bounces", "list")
    invoke("bounces", "list", "--since", "7d", "--unmatched")
    assert database_snapshot(database) == before  # the commands that only look wrote nothing

    assert "active again" in invoke("subscribers", "reactivate", "gone@readers.test")
    assert json.loads(invoke("subscribers", "show", "gone@readers.test",
                             "--json"))["status"] == "active"
    out = invoke("subscribers", "reactivate", "fine@readers.test", code=1)
    assert "Error: fine@readers.test is active, not bounced or complained" in out
    assert "Hint:" in out


def test_a_complaint_with_complaint_all_stops_every_list(office: Path) -> None:
    paths = _sent(office, ["angry"])
    maildir = _maildir(office / "bounces")
    (maildir / "new" / "b.mx").write_bytes(bounce_mail.arf(paths["angry"],
                                                           "angry@readers.test"))
    invoke("bounces", "read", "--maildir", str(maildir), NEWSLETTER_BOUNCES_COMPLAINT="all")
    assert _status(office)["angry"] == ("complained", {"daily": "unsubscribed",
                                                       "weekly": "unsubscribed"})


@pytest.mark.parametrize(("args", "words"), [
    (["bounces", "read"], "no source of returned mail is set"),
    (["bounces", "read", "--maildir", "nowhere"], "is not a Maildir"),
    (["bounces", "read", "--imap"], "no IMAP login for returned mail"),
    (["bounces", "read", "--mbox", "missing.mbox"], "is not a file"),
    (["bounces", "list", "--since", "yesterday-ish"], "is not a date"),
])
def test_a_source_that_cannot_be_read_is_a_clear_error(office: Path, args: list[str],
                                                       words: str) -> None:
    result = CliRunner().invoke(cli, args, env=ENV)
    assert result.exit_code in (1, 2), result.output
    assert words in result.output
    assert "Traceback" not in result.output


def test_an_mbox_is_read_and_what_was_recorded_is_not_counted_again(office: Path) -> None:
    paths = _sent(office, ["gone"])
    mbox = office / "bounces.mbox"
    raw = bounce_mail.dsn(paths["gone"], "gone@readers.test")
    mbox.write_bytes(b"From MAILER-DAEMON Mon Dec  7 09:00:00 2026\n"
                     + raw.replace(b"\r\n", b"\n") + b"\n")
    assert "1 disabled" in invoke("bounces", "read", "--mbox", str(mbox))
    again = invoke("bounces", "read", "--mbox", str(mbox))
    assert "Read 1 returned message(s) from mbox; 1 recorded before" in again


def test_without_a_return_path_mail_goes_out_as_before(cli_office: Path) -> None:
    add_config(cli_office / "newsletter.toml", '[lists.daily]\ntitle = "Daily"\n')
    drop(cli_office / "seeds", "sample.txt", SAMPLE_REPORT.read_bytes())
    plain = {"NEWSLETTER_BOUNCES_RETURN_PATH": ""}
    invoke("ingest", **plain)
    invoke("subscribers", "add", "a@readers.test", "--list", "daily", **plain)
    invoke("send", "--list", "daily", "--report", "1", **plain)
    [path] = (cli_office / "var/outbox/mail").glob("*.eml")
    assert not path.read_bytes().startswith(b"Return-Path:")
    instance = load_instance(cli_office, cwd=cli_office, environ={**ENV, **plain})
    assert instance.return_path() is None
    assert instance.envelope_sender() == instance.settings.mail.from_address


@pytest.mark.parametrize("bad", ["bounces+x@news.test", "no-at-sign", "@news.test"])
def test_a_return_path_that_is_no_address_is_refused(cli_office: Path, bad: str) -> None:
    out = invoke("deliver", code=1, NEWSLETTER_BOUNCES_RETURN_PATH=bad)
    assert "[bounces] return_path" in out
    assert "Hint:" in out



def test_a_soft_suppression_ends_by_itself(office: Path) -> None:
    paths = _sent(office, ["full"])
    maildir = _maildir(office / "bounces")
    (maildir / "new" / "a.mx").write_bytes(bounce_mail.dsn(
        paths["full"], "full@readers.test", status="5.2.2",
        diagnostic="smtp; 552 5.2.2 Mailbox full"))
    # One permanent failure that is not "user unknown" reaches a threshold of 1.
    invoke("bounces", "read", "--maildir", str(maildir),
           NEWSLETTER_DELIVERY_BOUNCE_THRESHOLD="1", NEWSLETTER_BOUNCES_SUPPRESS_DAYS="0.00002")
    shown = json.loads(invoke("subscribers", "show", "full@readers.test", "--json"))
    assert shown["status"] == "bounced"
    assert shown["suppressed_until"] is not None
    instance = load_instance(office, cwd=office, environ=ENV)
    with instance.open_store() as store:
        until = store.subscribers.get("full@readers.test").suppressed_until
        assert until is not None
        wait_until(lambda: store.clock()() >= until, "the suppression's end")
    invoke("run", "--once")  # the service's poll lets it go
    shown = json.loads(invoke("subscribers", "show", "full@readers.test", "--json"))
    assert (shown["status"], shown["status_reason"]) == ("active", "a soft suppression ended")
