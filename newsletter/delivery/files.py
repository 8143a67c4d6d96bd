"""A folder of ``.eml`` files (or one ``outbox.mbox``) as the outbox's far end: for previews
and for air-gapped offices that carry their mail to a connected machine (I/O)."""

from __future__ import annotations

import mailbox
import os
from pathlib import Path

from newsletter.delivery.transport import Outcome
from newsletter.errors import DeliveryError


class FileTransport:
    """Writes each message as ``NAME.eml`` in a folder, atomically (a reader never sees half a
    message), or appends it to ``outbox.mbox``: for previews and for offices that carry the
    outbox to a connected machine. With ``return_path``, each ``.eml`` starts with the
    message's envelope sender as a ``Return-Path:`` line (in an mbox it is the ``From `` line)."""

    def __init__(self, folder: Path, file_format: str = "eml", *,
                 return_path: bool = False) -> None:
        self.folder = folder
        self.file_format = file_format
        self.return_path = return_path  # write the envelope sender as a Return-Path: line

    def deliver(self, sender: str, recipient: str, message: bytes, name: str) -> Outcome:
        if self.file_format == "mbox":
            return self._append_mbox(sender, message)
        if self.return_path:  # as a local delivery agent would: the envelope sender, on top
            newline = b"\r\n" if b"\r\n" in message[:2000] else b"\n"
            message = b"Return-Path: <" + sender.encode("ascii") + b">" + newline + message
        safe = "".join(ch if ch.isalnum() or ch in "-._@" else "_" for ch in name)[:150]
        target = self.folder / f"{safe}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".eml.part")
            with partial.open("wb") as handle:
                handle.write(message)
                handle.flush()
                os.fsync(handle.fileno())
            partial.replace(target)
        except OSError as exc:
            raise DeliveryError(f"cannot write {target}: {exc.strerror}",
                                hint="check [delivery] folder and its permissions") from exc
        return Outcome(True, None, str(target))

    def _append_mbox(self, sender: str, message: bytes) -> Outcome:
        path = self.folder / "outbox.mbox"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            box = mailbox.mbox(str(path))
            box.lock()
            try:
                entry = mailbox.mboxMessage(message)
                entry.set_from(sender)
                box.add(entry)
                box.flush()
            finally:
                box.unlock()
                box.close()
        except (OSError, mailbox.Error) as exc:
            raise DeliveryError(f"cannot append to {path}: {exc}",
                                hint="check [delivery] folder and its permissions") from exc
        return Outcome(True, None, str(path))


