"""Throwaway Postfix and Dovecot instances from the distribution's binaries, for tests that need
a real mail server: a real delivery status notification (DSN) to bounce-handle, a real
mailbox to read it back from over IMAP or POP3.

Nothing here uses, reads or starts the system's services: each instance lives in a folder of
its own made by ``mkdtemp`` and is stopped, with every process it forked, when the ``with``
block ends, and the folder removed.

:class:`Postfix` writes its own ``main.cf`` and ``master.cf`` into that folder and runs
``postfix -c FOLDER/etc start``. Every path of the instance (``queue_directory``,
``data_directory``, the log) is in the folder; only the programs and the read-only
``meta_directory`` (/etc/postfix's ``postfix-files``, ``dynamicmaps.cf``) are shared with the
system's instance, whose queue is never touched. ``postfix start`` creates the queue's
folders (``post-install create-missing``) with the owners Postfix wants: the queue belongs to
root, its subfolders to ``mail_owner`` ``postfix``; so the tests must run as root, which they
do. The temporary folder is opened to everyone (0755): Postfix's daemons run as ``postfix``
and the delivery agent as ``nobody``, and Dovecot's processes as ``dovecot``, ``dovenull`` and
``nobody`` must reach what is inside. Postfix logs to ``postfix.log`` in the folder
(``maillog_file`` through the ``postlog`` service, since there is no syslog daemon here).

Its SMTP server listens on 127.0.0.1 only, on a free port, and takes mail from 127.0.0.0/8
without authentication or TLS, with SMTPUTF8. The test domains (``news.test``, the sender's,
and ``readers.test``, the readers') are virtual mailbox domains delivered by ``virtual(8)``
into Maildirs owned by ``nobody``/``nogroup`` (65534). Recipients are not checked at RCPT
time (``smtpd_reject_unlisted_recipient = no``): an unknown reader is accepted and then
bounced by the delivery agent, so that Postfix itself writes a real RFC 3464 report and
delivers it to the envelope sender, e.g. ``bounces+TOKEN@news.test``, which lands in the
``bounces@news.test`` Maildir (``recipient_delimiter = +``). No DNS is ever asked for (client
names are not looked up, there is no SMTP client: mail for any other domain bounces at once
through the ``error`` transport), so a DSN arrives within a second.

:class:`Dovecot` serves Maildirs (those Postfix delivers into) over IMAP and POP3 with
implicit TLS only (imaps, pop3s), on free ports of 127.0.0.1, with a self-signed certificate
for ``localhost`` and 127.0.0.1 made at start: :attr:`Dovecot.ca_file` lets a client verify
it. It runs in the foreground (``dovecot -F -c FILE``) as a child in a session of its own,
with its own ``base_dir`` and ``state_dir`` in its folder, so it never meets /run/dovecot or
/etc/dovecot. Users and their plain passwords come from a passwd-file; each user's mailbox
runs as uid/gid 65534, the Maildir's owner.

Ports are found by binding port 0 and letting go of it, so another process may take one
before the server binds it: a start that fails because the port is taken is tried again
with fresh ports. A start that fails otherwise raises with the server's log.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.helpers import wait_until
from tests.processes import end

NOBODY = 65534  # uid of nobody and gid of nogroup: the Maildirs' owner
DEFAULT_MAILBOXES = ("bounces@news.test",)
DEFAULT_DOMAINS = ("news.test", "readers.test")
ATTEMPTS = 3  # starts tried when a free port was taken meanwhile
PORT_TAKEN = "Address already in use"


class MailServerError(RuntimeError):
    """A test mail server would not start; the message holds its log."""


def free_ports(count: int) -> list[int]:
    """``count`` different TCP ports of 127.0.0.1 that nothing listens on just now."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def greets(port: int, greeting: bytes, cafile: Path) -> bool:
    """Whether the TLS server on 127.0.0.1:``port`` shows the certificate of ``cafile`` for
    ``localhost`` and says a first line starting with ``greeting``."""
    context = ssl.create_default_context(cafile=str(cafile))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as plain, \
                context.wrap_socket(plain, server_hostname="localhost") as secure:
            return secure.makefile("rb").readline().startswith(greeting)
    except OSError:
        return False


def group(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``, from /proc: what an instance still runs
    (its ``pid`` is its process group)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(stat.parent.name))
    return found


def _end_group(pgid: int, timeout: float = 20) -> None:
    """Wait for process group ``pgid`` to be gone; SIGKILL to what is left after ``timeout``."""
    try:
        wait_until(lambda: not group(pgid), f"process group {pgid} to end", timeout)
    except AssertionError:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        wait_until(lambda: not group(pgid), f"process group {pgid} to be killed", timeout)


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path.name})"


def _program(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise MailServerError(f"{name} is not installed (the postfix and dovecot-imapd, "
                              "dovecot-pop3d packages)")
    return found


def _split(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        raise ValueError(f"not an address: {address!r}")
    return local, domain.lower()


class Postfix:
    """A private Postfix: ``with Postfix(mailboxes=[...]) as postfix:`` then SMTP to
    127.0.0.1:``postfix.port``; mail for the listed addresses lands in
    ``postfix.maildir(address)``, mail for an unknown address of a test domain is accepted and
    bounced with a DSN to the envelope sender.

    ``mailboxes`` are the addresses with a Maildir (``bounces@news.test`` by default);
    ``domains`` the virtual mailbox domains (``news.test`` and ``readers.test`` by default, and
    those of the mailboxes)."""

    def __init__(self, mailboxes: Iterable[str] = DEFAULT_MAILBOXES,
                 domains: Iterable[str] = DEFAULT_DOMAINS) -> None:
        self.mailboxes = [address.lower() for address in mailboxes]
        self.domains = sorted({d.lower() for d in domains} |
                              {_split(a)[1] for a in self.mailboxes})
        self.root = Path(tempfile.mkdtemp(prefix="newsletter-postfix-"))
        self.config = self.root / "etc"
        self.queue = self.root / "queue"
        self.data = self.root / "data"
        self.mail = self.root / "mail"
        self.log = self.root / "postfix.log"
        self.port = 0
        self.pid: int | None = None  # the master's, and its process group; kept after stop

    # -- life ------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Write the configuration and Maildirs and start the instance; raise
        :class:`MailServerError` with the log if it does not start."""
        try:
            self._lay_out()
            for attempt in range(1, ATTEMPTS + 1):
                [self.port] = free_ports(1)
                self._write_config()
                started = self._postfix("start")
                if started.returncode == 0:
                    self.pid = int((self.queue / "pid" / "master.pid").read_text().split()[0])
                    return
                log = _tail(self.log)
                if PORT_TAKEN not in log or attempt == ATTEMPTS:
                    raise MailServerError(f"postfix would not start:\n{started.stdout}"
                                          f"{started.stderr}\n--- {self.log}:\n{log}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the master and every process it started, and remove the folder."""
        try:
            pid = self.pid
            if pid is None:
                try:
                    pid = int((self.queue / "pid" / "master.pid").read_text().split()[0])
                except (OSError, ValueError, IndexError):
                    pid = None
            if pid is not None and group(pid):
                # What `postfix abort` does (SIGTERM to the master, which passes it on to its
                # process group), without `postfix stop`'s one-second naps.
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                _end_group(pid)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _postfix(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([_program("postfix"), "-c", str(self.config), command], capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)

    # -- mailboxes -------------------------------------------------------------------------

    def maildir(self, address: str) -> Path:
        """The Maildir of ``address`` (one of ``mailboxes``, or one with an extension such as
        ``bounces+TOKEN@news.test``, delivered where Postfix does), with cur/, new/ and
        tmp/."""
        local, domain = _split(address.lower())
        if f"{local}@{domain}" not in self.mailboxes:
            local = local.split("+", 1)[0]
        if f"{local}@{domain}" not in self.mailboxes:
            raise KeyError(f"{address} has no mailbox here: {self.mailboxes}")
        return self.mail / domain / local

    def messages(self, address: str) -> list[Path]:
        """The messages delivered to ``address``'s Maildir (new/ and cur/), oldest first."""
        folder = self.maildir(address)
        found = [p for sub in ("new", "cur") for p in (folder / sub).iterdir() if p.is_file()]
        return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))

    def wait_for_mail(self, address: str, count: int = 1, timeout: float = 60) -> list[Path]:
        """Wait until ``address``'s Maildir holds at least ``count`` messages; return them
        (all there are, oldest first). Fail with the end of Postfix's log after ``timeout``
        seconds."""
        try:
            wait_until(lambda: len(self.messages(address)) >= count,
                       f"{count} message(s) in {address}'s Maildir", timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {len(self.messages(address))} there\n"
                                 f"--- {self.log}:\n{_tail(self.log)}") from None
        return self.messages(address)

    # -- configuration ---------------------------------------------------------------------

    def _lay_out(self) -> None:
        self.root.chmod(0o755)
        for folder in (self.config, self.queue, self.mail):
            folder.mkdir(mode=0o755)
        for address in self.mailboxes:
            maildir = self.maildir(address)
            maildir.parent.mkdir(mode=0o755, exist_ok=True)
            maildir.mkdir(mode=0o700)
            os.chown(maildir, NOBODY, NOBODY)
            for sub in ("cur", "new", "tmp"):
                (maildir / sub).mkdir(mode=0o700)
                os.chown(maildir / sub, NOBODY, NOBODY)
        table = "".join(f"{a} {_split(a)[1]}/{_split(a)[0]}/\n" for a in self.mailboxes)
        (self.config / "virtual_mailboxes").write_text(table)

    def _write_config(self) -> None:
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue),
            "data_directory": str(self.data),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "syslog_name": f"postfix-{self.root.name}",
            "maillog_file": str(self.log),
            "maillog_file_prefixes": str(self.root),
            "myhostname": "mail.news.test",
            "mydomain": "news.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "relayhost": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_peername_lookup": "no",
            "smtputf8_enable": "yes",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject",
            "smtpd_reject_unlisted_recipient": "no",
            "smtpd_reject_unlisted_sender": "no",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "default_transport": "error:no mail leaves the test server",
            "relay_transport": "error:no mail leaves the test server",
            "recipient_delimiter": "+",
            "virtual_mailbox_domains": ", ".join(self.domains),
            "virtual_mailbox_base": str(self.mail),
            "virtual_mailbox_maps": f"texthash:{self.config / 'virtual_mailboxes'}",
            "virtual_alias_maps": "",
            "virtual_uid_maps": f"static:{NOBODY}",
            "virtual_gid_maps": f"static:{NOBODY}",
            "virtual_minimum_uid": "100",
            "in_flow_delay": "0",
            "biff": "no",
            "append_dot_mydomain": "no",
            "smtpd_banner": "$myhostname ESMTP test",
        }
        (self.config / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        services = [
            # service type private unpriv chroot wakeup maxproc command
            f"127.0.0.1:{self.port} inet n - n - - smtpd",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "proxywrite unix - - n - 1 proxymap",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "virtual unix - n n - - virtual",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ]
        (self.config / "master.cf").write_text("".join(f"{s}\n" for s in services))
        # Postfix waits for a file it reads to "settle" (0.3 s naps until its modification time
        # is a second old): dating the fresh files back saves seconds at each start.
        past = time.time() - 60
        for written in self.config.iterdir():
            os.utime(written, (past, past))


class Dovecot:
    """A private Dovecot serving Maildirs over IMAPS (``imap_port``) and POP3S (``pop3_port``)
    on 127.0.0.1: ``with Dovecot(users={"bounces@news.test": ("secret", maildir)}) as
    dovecot:``. Clients verify its certificate with ``ssl.create_default_context(
    cafile=dovecot.ca_file)`` and the server name ``localhost``."""

    def __init__(self, users: Mapping[str, tuple[str, Path]]) -> None:
        for name, (password, _) in users.items():
            if ":" in name + password or "\n" in name + password:
                raise ValueError(f"no ':' or newline in a passwd-file user: {name!r}")
        self.users = dict(users)
        self.root = Path(tempfile.mkdtemp(prefix="newsletter-dovecot-"))
        self.config = self.root / "dovecot.conf"
        self.log = self.root / "dovecot.log"
        self.ca_file = self.root / "cert.pem"
        self.key_file = self.root / "key.pem"
        self.imap_port = 0
        self.pop3_port = 0
        self.pid: int | None = None  # the master's, and its process group; kept after stop
        self._process: subprocess.Popen[Any] | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Write the configuration, certificate and users and start Dovecot; return once both
        ports take connections. Raise :class:`MailServerError` with the log otherwise."""
        try:
            self.root.chmod(0o755)
            self._write_certificate()
            self._write_users()
            for attempt in range(1, ATTEMPTS + 1):
                self.imap_port, self.pop3_port = free_ports(2)
                self._write_config()
                self.log.unlink(missing_ok=True)
                with (self.root / "stderr").open("wb") as stderr:
                    self._process = subprocess.Popen(
                        [_program("dovecot"), "-F", "-c", str(self.config)],
                        start_new_session=True,
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
                self.pid = self._process.pid
                wait_until(self._started_or_ended, "Dovecot to listen", 60)
                if self._process.poll() is None:
                    return
                self._end_process()
                log = f"{_tail(self.log)}\n--- its standard error:\n{_tail(self.root / 'stderr')}"
                if PORT_TAKEN not in log or attempt == ATTEMPTS:
                    raise MailServerError(f"dovecot would not start:\n--- {self.log}:\n{log}")
        except BaseException:
            self.stop()
            raise

    def _started_or_ended(self) -> bool:
        # The master logs "starting up" once it has bound every listener, and exits if it
        # cannot bind one. A login process greets a client once it has its configuration and
        # the auth process is ready: then everything is up (and can be stopped at once).
        assert self._process is not None
        return self._process.poll() is not None or (
            "starting up" in _tail(self.log)
            and greets(self.imap_port, b"* OK", self.ca_file)
            and greets(self.pop3_port, b"+OK", self.ca_file))

    def stop(self) -> None:
        """Stop Dovecot and every process it started, and remove the folder."""
        try:
            self._end_process()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _end_process(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            # SIGTERM to its session (the master and its services), SIGKILL to what is left
            # once the master is gone. The master naps a second before it exits.
            end(process)
            _end_group(process.pid)

    def _write_certificate(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
        self.ca_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        self.key_file.touch(mode=0o600)
        self.key_file.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))

    def _write_users(self) -> None:
        # user:password:uid:gid:gecos:home:shell:extra fields; the auth process reads it as
        # the dovecot user.
        passwd = self.root / "passwd"
        passwd.touch(mode=0o640)
        shutil.chown(passwd, "root", "dovecot")
        passwd.write_text("".join(
            f"{name}:{{PLAIN}}{password}:{NOBODY}:{NOBODY}::{maildir}::"
            f"userdb_mail=maildir:{maildir}\n"
            for name, (password, maildir) in self.users.items()))

    def _write_config(self) -> None:
        passwd = self.root / "passwd"
        self.config.write_text(f"""\
base_dir = {self.root}/run
state_dir = {self.root}/state
instance_name = {self.root.name}
log_path = {self.log}
stats_writer_socket_path =
protocols = imap pop3
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = {NOBODY}
last_valid_uid = {NOBODY}
first_valid_gid = {NOBODY}
last_valid_gid = {NOBODY}
ssl = required
ssl_cert = <{self.ca_file}
ssl_key = <{self.key_file}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {passwd}
}}
namespace inbox {{
  inbox = yes
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imap_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {self.pop3_port}
    ssl = yes
  }}
}}
""")

