"""Where returned mail is read from: a Maildir, an mbox file, an IMAP or a POP3 mailbox (I/O).

Every source yields :class:`Incoming` messages (their first ``limit`` bytes: memory stays
bounded whatever arrives) and is told when one has been recorded, so it can mark it read:

* **Maildir**: the message moves to ``cur/`` with the ``S`` (seen) flag. Messages already
  in ``cur/`` without it are read too (a mail client may have moved them).
* **IMAP**: the message is flagged ``\\Seen`` and moved (``MOVE``, or copy and expunge) to
  ``done_folder``, which is made when missing. Only ``BODY.PEEK[]<0.limit>`` is fetched. Two
  readers moving one message at the same moment may each leave a copy there.
* **POP3**: the message is deleted when the session ends well (``QUIT``); a message larger
  than ``limit`` is read with ``TOP`` (its head).
* **mbox**: nothing is changed in the file (the mail server appends to it): a message already
  recorded is recognised by its fingerprint and skipped. Rotate the file now and then.

Marking read is housekeeping: a message is counted once because its fingerprint is recorded
in the same transaction as what it did (:meth:`newsletter.store.bounces.Bounces.record`).
Two readers at once, or one killed between recording and marking, read it again and count
it once.
"""

from __future__ import annotations

import contextlib
import imaplib
import mailbox
import os
import poplib
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from newsletter.errors import BounceSourceError


@dataclass(frozen=True)
class Incoming:
    raw: bytes  # its first ``limit`` bytes
    size: int  # its whole size
    key: str  # how the source names it


class Source(Protocol):
    name: str  # maildir, mbox, imap, pop3

    def messages(self) -> Iterator[Incoming]: ...

    def done(self, incoming: Incoming) -> None:
        """``incoming`` is recorded: mark it read so it is not read again."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Server:
    """An IMAP or POP3 server and how to log in (the password comes from the environment)."""

    host: str
    port: int
    security: str  # tls, starttls, none
    username: str
    password: str
    ca_file: str = ""
    timeout: float = 60.0

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_file:
            context.load_verify_locations(self.ca_file)
        return context


class MaildirSource:
    name = "maildir"

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder = folder
        self.limit = limit
        if not (folder / "new").is_dir() or not (folder / "cur").is_dir():
            raise BounceSourceError(f"{folder} is not a Maildir (it has no new/ and cur/)",
                                    hint="give the folder that holds cur/, new/ and tmp/")

    def messages(self) -> Iterator[Incoming]:
        for sub in ("new", "cur"):
            try:
                names = sorted(os.listdir(self.folder / sub))
            except OSError as exc:
                raise BounceSourceError(f"cannot read {self.folder / sub}: {exc.strerror}",
                                        hint="check the folder and this user's rights") from exc
            for name in names:
                if name.startswith(".") or (sub == "cur" and "S" in _flags(name)):
                    continue
                path = self.folder / sub / name
                try:
                    with path.open("rb") as handle:
                        size = os.fstat(handle.fileno()).st_size
                        raw = handle.read(self.limit)
                except FileNotFoundError:
                    continue  # another reader marked it read meanwhile
                yield Incoming(raw, size, f"{sub}/{name}")

    def done(self, incoming: Incoming) -> None:
        sub, _, name = incoming.key.partition("/")
        base, _, info = name.partition(":2,")
        flags = "".join(sorted(set(info) | {"S"}))
        with contextlib.suppress(FileNotFoundError):  # another reader moved it first
            os.rename(self.folder / sub / name, self.folder / "cur" / f"{base}:2,{flags}")

    def close(self) -> None:
        return None


def _flags(name: str) -> str:
    return name.partition(":2,")[2]


class MboxSource:
    name = "mbox"

    def __init__(self, path: Path, limit: int) -> None:
        if not path.is_file():
            raise BounceSourceError(f"{path} is not a file", hint="give the mbox file itself")
        self.path = path
        self.limit = limit
        self.box = mailbox.mbox(str(path), create=False)

    def messages(self) -> Iterator[Incoming]:
        try:
            keys = list(self.box.iterkeys())
        except (OSError, mailbox.Error) as exc:
            raise BounceSourceError(f"cannot read {self.path}: {exc}",
                                    hint="check the file and this user's rights") from exc
        for key in keys:
            with self.box.get_file(key) as handle:
                raw = handle.read(self.limit)
                size = len(raw) + len(handle.read()) if len(raw) == self.limit else len(raw)
            yield Incoming(raw, size, str(key))

    def done(self, incoming: Incoming) -> None:
        return None  # the fingerprint recognises it next time

    def close(self) -> None:
        self.box.close()


class ImapSource:
    name = "imap"

    def __init__(self, server: Server, folder: str, done_folder: str, limit: int) -> None:
        self.server = server
        self.folder = folder
        self.done_folder = done_folder
        self.limit = limit
        self.imap = self._connect()

    def _connect(self) -> imaplib.IMAP4:
        server = self.server
        try:
            if server.security == "tls":
                imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    server.host, server.port or 993, ssl_context=server.context(),
                    timeout=server.timeout)
            else:
                imap = imaplib.IMAP4(server.host, server.port or 143, timeout=server.timeout)
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            raise _server_error("IMAP", server, exc) from exc
        try:
            if server.security == "starttls":
                imap.starttls(ssl_context=server.context())
            imap.login(server.username, server.password)
            status, _ = imap.select(_quoted(self.folder))
            if status != "OK":
                raise BounceSourceError(f"the IMAP folder {self.folder!r} cannot be opened",
                                        hint="check [bounces] folder")
            made, _ = imap.create(_quoted(self.done_folder))  # NO when it exists already
            del made
            self.move = b"MOVE" in b" ".join(
                cap.encode() if isinstance(cap, str) else cap for cap in imap.capabilities)
            return imap
        except (OSError, imaplib.IMAP4.error, ssl.SSLError, BounceSourceError) as exc:
            with contextlib.suppress(OSError):
                imap.shutdown()
            if isinstance(exc, BounceSourceError):
                raise
            raise _server_error("IMAP", server, exc) from exc

    def messages(self) -> Iterator[Incoming]:
        try:
            status, data = self.imap.uid("SEARCH", "UNDELETED")
            uids = data[0].split() if status == "OK" and data and data[0] else []
            for uid in uids:
                status, parts = self.imap.uid(
                    "FETCH", uid, f"(RFC822.SIZE BODY.PEEK[]<0.{self.limit}>)")
                if status != "OK":
                    continue
                for part in parts:
                    if isinstance(part, tuple):
                        size = re.search(rb"RFC822\.SIZE (\d+)", part[0])
                        raw = part[1]
                        yield Incoming(raw, int(size.group(1)) if size else len(raw),
                                       uid.decode())
                        break
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            raise _server_error("IMAP", self.server, exc) from exc

    def done(self, incoming: Incoming) -> None:
        uid = incoming.key
        try:
            self.imap.uid("STORE", uid, "+FLAGS.SILENT", r"(\Seen)")
            if self.move:
                self.imap.uid("MOVE", uid, _quoted(self.done_folder))
            else:
                status, _ = self.imap.uid("COPY", uid, _quoted(self.done_folder))
                if status == "OK":
                    self.imap.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")
                    self.imap.expunge()
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            raise _server_error("IMAP", self.server, exc) from exc

    def close(self) -> None:
        with contextlib.suppress(OSError, imaplib.IMAP4.error, ssl.SSLError):
            self.imap.logout()


class Pop3Source:
    name = "pop3"
    HEAD_LINES = 2_000  # body lines TOP reads of a message over the limit

    def __init__(self, server: Server, limit: int) -> None:
        self.server = server
        self.limit = limit
        try:
            if server.security == "tls":
                self.pop: poplib.POP3 = poplib.POP3_SSL(
                    server.host, server.port or 995, timeout=server.timeout,
                    context=server.context())
            else:
                self.pop = poplib.POP3(server.host, server.port or 110, timeout=server.timeout)
                if server.security == "starttls":
                    self.pop.stls(context=server.context())
        except (OSError, poplib.error_proto, ssl.SSLError) as exc:
            raise _server_error("POP3", server, exc) from exc
        try:
            self.pop.user(server.username)
            self.pop.pass_(server.password)
        except (OSError, poplib.error_proto, ssl.SSLError) as exc:
            self.pop.close()
            raise _server_error("POP3", server, exc) from exc

    def messages(self) -> Iterator[Incoming]:
        try:
            _, listing, _ = self.pop.list()
        except (OSError, poplib.error_proto, ssl.SSLError) as exc:
            raise _server_error("POP3", self.server, exc) from exc
        for line in listing:
            number, _, size_text = line.decode("ascii", "replace").partition(" ")
            size = int(size_text or 0)
            try:
                if size <= self.limit:
                    _, lines, _ = self.pop.retr(int(number))
                else:
                    _, lines, _ = self.pop.top(int(number), self.HEAD_LINES)
            except poplib.error_proto as exc:  # a line over poplib's limit: unreadable
                yield Incoming(f"X-Unreadable: {exc}".encode()[:200], size, number)
                continue
            except (OSError, ssl.SSLError) as exc:
                raise _server_error("POP3", self.server, exc) from exc
            yield Incoming(b"\r\n".join(lines)[:self.limit], size, number)

    def done(self, incoming: Incoming) -> None:
        try:
            self.pop.dele(int(incoming.key))
        except (OSError, poplib.error_proto, ssl.SSLError) as exc:
            raise _server_error("POP3", self.server, exc) from exc

    def close(self) -> None:
        with contextlib.suppress(OSError, poplib.error_proto, ssl.SSLError):
            self.pop.quit()  # the deletions take effect only now


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _server_error(protocol: str, server: Server, exc: BaseException) -> BounceSourceError:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, bytes | bytearray):
        text = exc.decode("utf-8", "replace")
    return BounceSourceError(
        f"{protocol} server {server.host}:{server.port or 'default'}: {text}",
        hint=f"check [bounces] host, port, security, username and "
             f"NEWSLETTER_BOUNCES_PASSWORD; the server must be reachable ({protocol} over "
             f"{server.security})")
