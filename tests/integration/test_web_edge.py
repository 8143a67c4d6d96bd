"""The web edge under hostile and heavy use, served as ``newsletter serve`` serves it: bodies
and fields within limits, slow clients and connection floods cut off and logged once, the
login's CSRF, hashed and bounded failed names, sessions that end with the password, forwarded
addresses believed only from trusted proxies, IDs too long for the database, the response
headers, health answered while passwords are hashed, and an unsubscribe that a locked
database cannot lose."""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.app import Instance
from newsletter.cli.main import cli
from newsletter.subscribers.tokens import sign_token
from newsletter.web import create_app
from tests.browser import serving
from tests.helpers import wait_until
from tests.office import DAILY, ingest_sample, queue_alert, relay_env, subscribe, with_config
from tests.processes import children, started
from tests.smtp_server import free_port, smtp_sink
from tests.web_client import Client

SECRET = "web-edge-secret-0123456789-abcdef"
PASSWORD = "correct horse battery staple"
LIMITS = {"NEWSLETTER_WEB_SECRET": SECRET, "NEWSLETTER_WEB_MAX_BODY_BYTES": "4096"}


def _office(instance: Instance, **environ: str) -> Instance:
    office = with_config(instance, DAILY, {**LIMITS, **environ})
    _reviewer(office, PASSWORD)
    return office


def _reviewer(office: Instance, password: str) -> None:
    added = CliRunner().invoke(cli, ["--config", str(office.config_path), "reviewers", "add",
                                     "aigul"], env={"NEWSLETTER_REVIEWER_PASSWORD": password,
                                                    "NEWSLETTER_WEB_SECRET": SECRET})
    assert added.exit_code == 0, added.output


@pytest.fixture
def office(instance: Instance) -> Instance:
    return _office(instance)


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def _reply(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def _unsubscribe_token(office: Instance, email: str) -> str:
    with office.open_store() as store:
        reader = store.subscribers.get(email)
    return sign_token(reader.id, "daily", datetime.now(UTC).date(), SECRET)


# -- bodies and fields -------------------------------------------------------------------------


def test_a_body_over_the_limit_is_answered_413_before_it_is_read(office: Instance) -> None:
    with serving(create_app(office)) as base:
        with socket.create_connection(("127.0.0.1", _port(base)), timeout=30) as sock:
            sock.sendall(b"POST /unsubscribe/x HTTP/1.1\r\nHost: a\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n"
                         b"Content-Length: 314572800\r\n\r\n")  # 300 MiB announced, none sent
            reply = _reply(sock)
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert b"larger than 4,096 bytes" in reply
        assert b"content-security-policy" in reply.lower()

        # A chunked body declares no length: it is cut off once it passes the limit.
        with socket.create_connection(("127.0.0.1", _port(base)), timeout=30) as sock:
            sock.sendall(b"POST /review/login HTTP/1.1\r\nHost: a\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"name=" + b"a" * 995
            sent = 0
            while not select.select([sock], [], [], 0.05)[0]:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                assert sent < 1_000_000, "the server read a megabyte without answering"
            reply = _reply(sock)
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert sent < 100_000


def test_a_form_field_over_its_length_is_refused_and_a_failed_name_is_stored_hashed(
        office: Instance) -> None:
    with serving(create_app(office)) as base:
        client = Client(base)
        status, page = client.login("n" * 81, "wrong password")
        assert status == 400
        assert "the name field is longer than 80 characters" in page
        assert client.login("Ä" * 80, "wrong password")[0] == 401
    with office.open_store() as store:
        subjects = [str(row[0]) for row in store.db.all("SELECT subject FROM login_failures")]
    assert len(subjects) == 2  # the name's, and the client's
    assert not any("Ä" in subject or "nnnn" in subject for subject in subjects)
    assert max(len(subject) for subject in subjects) <= 40


def test_an_id_too_long_for_the_database_is_no_page(office: Instance) -> None:
    ingest_sample(office)
    huge = "9" * 23
    with serving(create_app(office)) as base:
        client = Client(base)
        for path in (f"/issues/{huge}", f"/reports/{huge}", f"/preview/alert/{huge}",
                     f"/review/{huge}/kk", "/issues/999999999999999999"):
            status, _ = client.request(path)
            assert status == 404, path


def test_every_response_carries_the_security_headers_and_mail_frames_are_sandboxed(
        office: Instance) -> None:
    ingest_sample(office)
    with serving(create_app(office)) as base:
        client = Client(base)
        for path, expected in (("/", 200), ("/preview/alert/1", 200), ("/issues/77", 404),
                               ("/review/login", 200), ("/review", 303)):
            status, page = client.request(path)
            assert status == expected, path
            headers = {name.lower(): value for name, value in client.last_headers.items()}
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert "script-src" not in headers["content-security-policy"]  # no script at all
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["x-frame-options"] == "DENY"
            assert "server" not in headers
            if path == "/preview/alert/1":
                frames = page.count("<iframe")
                assert frames >= 1
                assert page.count('<iframe sandbox="allow-same-origin"') == frames


# -- logging in --------------------------------------------------------------------------------


def test_the_login_form_needs_its_own_token_bound_to_the_browser(office: Instance) -> None:
    with serving(create_app(office)) as base:
        attacker, victim = Client(base), Client(base)
        forged = attacker.csrf("/review/login")  # a token the attacker's page could carry
        victim.csrf("/review/login")  # the victim's browser has a login cookie of its own
        fields = {"name": "aigul", "password": PASSWORD}
        for client, token in ((victim, forged), (victim, ""), (Client(base), forged)):
            status, page = client.request("/review/login", {**fields, "csrf": token})
            assert status == 403
            assert "The form has expired" in page
            assert "newsletter_review=" not in client.last_headers.get("set-cookie", "")
        assert victim.login("aigul", PASSWORD)[0] == 303  # with its own token, it logs in
        assert victim.request("/review")[0] == 200


def test_a_new_password_or_a_removed_reviewer_ends_every_session(office: Instance) -> None:
    with serving(create_app(office)) as base:
        laptop, phone = Client(base), Client(base)
        for device in (laptop, phone):
            assert device.login("aigul", PASSWORD)[0] == 303
            assert device.request("/review")[0] == 200
        _reviewer(office, "a brand new passphrase")
        for device in (laptop, phone):
            assert device.request("/review")[0] == 303  # logged out everywhere
        assert laptop.login("aigul", PASSWORD)[0] == 401
        assert laptop.login("aigul", "a brand new passphrase")[0] == 303
        removed = CliRunner().invoke(cli, ["--config", str(office.config_path), "reviewers",
                                           "remove", "aigul"])
        assert removed.exit_code == 0, removed.output
        assert laptop.request("/review")[0] == 303


def test_forwarded_addresses_are_believed_only_from_trusted_proxies(
        office: Instance) -> None:
    with serving(create_app(office)) as base:
        client = Client(base)
        for n in range(5):  # each failure claims another client and another name
            spoofed = {"X-Forwarded-For": f"198.51.100.{n}"}
            assert client.login(f"guess{n}", "wrong password", headers=spoofed)[0] == 401
        status, page = client.login("aigul", PASSWORD, headers={"X-Forwarded-For": "1.2.3.4"})
        assert status == 429  # the lockout counts the real peer, 127.0.0.1
        assert "Too many failed logins" in page

    behind_proxy = with_config(office, "", {**LIMITS,
                                            "NEWSLETTER_WEB_TRUSTED_PROXIES": "127.0.0.1"})
    with behind_proxy.open_store() as store:
        store.db.execute("DELETE FROM login_failures")
    with serving(create_app(behind_proxy)) as base:
        client = Client(base)
        attacker = {"X-Forwarded-For": "203.0.113.7"}
        for n in range(5):
            assert client.login(f"guess{n}", "wrong password", headers=attacker)[0] == 401
        assert client.login("guess5", "wrong password", headers=attacker)[0] == 429
        # Another client behind the same proxy is not locked out by the attacker.
        reviewer = {"X-Forwarded-For": "203.0.113.8"}
        assert client.login("aigul", PASSWORD, headers=reviewer)[0] == 303


def test_health_and_readers_pages_answer_while_logins_are_hashed(office: Instance) -> None:
    with office.open_store() as store:
        subscribe(store, "daily", ["reader@example.org"])
    token = _unsubscribe_token(office, "reader@example.org")
    behind_proxy = with_config(office, "", {**LIMITS,
                                            "NEWSLETTER_WEB_TRUSTED_PROXIES": "127.0.0.1"})
    statuses: list[int] = []
    logins = 8 * 3
    with serving(create_app(behind_proxy)) as base:
        def log_in_badly(n: int) -> None:
            client = Client(base)
            for attempt in range(3):
                status, _ = client.login(f"guess{n}-{attempt}", "wrong password",
                                         headers={"X-Forwarded-For": f"192.0.2.{n}"})
                statuses.append(status)

        threads = [threading.Thread(target=log_in_badly, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(statuses) >= 1, "a first login to be answered")
        answered_during: list[bool] = []
        probe = Client(base)
        for _ in range(5):
            assert probe.request("/healthz") == (200, "ok")
            assert probe.request(f"/unsubscribe/{token}")[0] == 200
            answered_during.append(len(statuses) < logins)
        for thread in threads:
            thread.join(timeout=120)
    assert set(statuses) <= {401, 429}  # wrong, or too many at once: never an error
    assert statuses.count(401) >= 8
    assert all(answered_during)  # every probe was answered while logins were still hashing


# -- slow clients and floods -------------------------------------------------------------------


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def _server_log() -> Iterator[list[str]]:
    """The lines the web server logs (whatever the CLI's logging setup did to propagation)."""
    logger, handler = logging.getLogger("newsletter.web.server"), _Lines()
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


def test_a_slow_client_is_disconnected_and_refusals_are_logged_once(
        instance: Instance) -> None:
    office = _office(instance, NEWSLETTER_WEB_REQUEST_TIMEOUT="1",
                     NEWSLETTER_WEB_MAX_CONNECTIONS="5")
    with _server_log() as lines, serving(create_app(office)) as base:
        address = ("127.0.0.1", _port(base))
        # Slowloris: headers that never end, and a body that stalls.
        with socket.create_connection(address, timeout=30) as headers_only, \
                socket.create_connection(address, timeout=30) as stalled_body:
            headers_only.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: 1\r\n")
            stalled_body.sendall(b"POST /review/login HTTP/1.1\r\nHost: a\r\n"
                                 b"Content-Length: 100\r\n\r\nname=")
            assert _reply(headers_only) == b""  # closed without an answer
            assert _reply(stalled_body) == b""

        # A flood: five connections are held open; every one more is closed at once.
        with _connections(address, 5) as held:
            for sock in held:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
                assert b"200 OK" in sock.recv(4096)  # kept alive, within the limit
            for _ in range(20):
                with socket.create_connection(address, timeout=30) as extra:
                    try:
                        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    assert _reply(extra) == b""
        # Once they are gone, clients are served again.
        wait_until(lambda: Client(base).request("/healthz") == (200, "ok"),
                   "the server to serve again")
    refused = [line for line in lines if "web clients refused" in line]
    assert len(refused) == 1, lines  # 22 refusals, one line


@contextmanager
def _connections(address: tuple[str, int], count: int) -> Iterator[list[socket.socket]]:
    sockets = [socket.create_connection(address, timeout=30) for _ in range(count)]
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


# -- an unsubscribe the database cannot take at once -------------------------------------------


@contextmanager
def _locked(database: os.PathLike[str]) -> Iterator[None]:
    """Another process holds the SQLite database's write lock."""
    with started(
            [sys.executable, "-c",
             "import sqlite3, sys\n"
             f"db = sqlite3.connect({os.fspath(database)!r}, isolation_level=None)\n"
             "db.execute('BEGIN IMMEDIATE')\nprint('locked', flush=True)\n"
             "sys.stdin.readline()\ndb.execute('ROLLBACK')\n"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield
        assert holder.stdin is not None
        holder.stdin.close()  # the holder rolls back and ends
        holder.wait(timeout=30)


def test_an_unsubscribe_during_a_long_lock_is_kept_and_applied_before_the_next_send(
        office: Instance) -> None:
    ingest_sample(office)
    with office.open_store() as store:
        subscribe(store, "daily", ["leaving@example.org", "staying@example.org"])
        queue_alert(office, store)
    token = _unsubscribe_token(office, "leaving@example.org")
    database = office.settings.database_target
    assert isinstance(database, Path)
    journal = office.unsubscribe_journal().path
    with serving(create_app(office)) as base:
        client = Client(base)
        with _locked(database):
            assert client.request("/healthz") == (200, "ok")
            status, page = client.request(f"/unsubscribe/{token}",
                                          {"List-Unsubscribe": "One-Click"})
            assert status == 200
            assert "We have received your request to unsubscribe" in page
            assert journal.read_text().count("\n") == 1  # durable before the answer
    with sqlite3.connect(database) as db:  # not yet in the database
        assert db.execute("SELECT COUNT(*) FROM unsubscribe_events").fetchone()[0] == 0

    with smtp_sink() as (sink, port):
        env = {**os.environ, **LIMITS, **relay_env(port)}
        sent = subprocess.run([sys.executable, "-m", "newsletter", "--config",
                               str(office.config_path), "deliver"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert sent.returncode == 0, sent.stderr
        recipients = {rcpt for message in sink.messages for rcpt in message.recipients}
    assert recipients == {"staying@example.org"}  # the kept unsubscribe came first
    assert journal.read_text() == ""
    with office.open_store() as store:
        leaving = store.subscribers.get("leaving@example.org")
        assert store.subscribers.memberships(leaving.id) == {"daily": "unsubscribed"}


def test_the_journal_keeps_every_entry_of_two_processes_writing_at_once(
        office: Instance) -> None:
    journal = office.unsubscribe_journal()
    script = (
        "import sys\nfrom datetime import UTC, datetime\n"
        "from pathlib import Path\n"
        "from newsletter.subscribers.pending import PendingUnsubscribe, UnsubscribeJournal\n"
        "journal = UnsubscribeJournal(Path(sys.argv[1]))\n"
        "for n in range(200):\n"
        "    journal.record(PendingUnsubscribe(int(sys.argv[2]) + n, 'daily', 'web',"
        " datetime.now(UTC)))\n")
    with ExitStack() as running:
        writers = [running.enter_context(started(
            [sys.executable, "-c", script, str(journal.path), str(start)]))
            for start in (1, 1001)]
        for writer in writers:
            assert writer.wait(timeout=120) == 0
    lines = journal.path.read_text().splitlines()
    ids = sorted(json.loads(line)["subscriber_id"] for line in lines)
    assert ids == [*range(1, 201), *range(1001, 1201)]  # no entry lost or torn


@pytest.mark.slow
def test_serve_with_two_workers_answers_with_the_same_limits(instance: Instance) -> None:
    office = _office(instance)
    port = free_port()
    env = {**os.environ, **LIMITS, "NEWSLETTER_WEB_REQUEST_TIMEOUT": "1"}
    with started([sys.executable, "-m", "newsletter", "--config", str(office.config_path),
                  "serve", "--port", str(port), "--workers", "2"], env=env,
                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as server:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return Client(base).request("/healthz") == (200, "ok")
            except OSError:
                return False

        wait_until(up, "the workers to answer")
        assert len(children(server.pid)) >= 2  # the supervisor's worker processes
        assert Client(base).request("/")[0] == 200
        with socket.create_connection(("127.0.0.1", port), timeout=30) as slow:
            slow.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")  # never finished
            assert _reply(slow) == b""  # a worker closed it after request_timeout
        with socket.create_connection(("127.0.0.1", port), timeout=30) as big:
            big.sendall(b"POST /unsubscribe/x HTTP/1.1\r\nHost: a\r\n"
                        b"Content-Length: 314572800\r\n\r\n")
            assert _reply(big).startswith(b"HTTP/1.1 413")
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
