"""A finished message as the byte parts it is made of, plain and dot-stuffed for SMTP ``DATA``
(pure).

Why parts: an issue's body (some 18 KB) is the same for every reader of a language and format;
only a few short values differ (the ``To`` field, the Message-ID, the signed links, the
greeting). Joining them into one ``bytes`` per reader and then scanning and copying that again
to dot-stuff it (RFC 5321 4.5.2) cost more CPU than anything else on the way to the relay. So a
:class:`Layout` (one per :class:`~newsletter.mail.compose.MessageTemplate`) keeps the static
chunks between the holes twice, as written and already stuffed, and :meth:`Layout.fill` makes
a :class:`Content` that only *refers* to them, with the reader's values between: no copy of
the body per message. The SMTP session hands :attr:`Content.data` to
``transport.writelines``; what needs the whole message as bytes (the file transport, DKIM
signing, previews, tests) calls ``bytes(content)``, a single join.

How the parts are stuffed, so that ``b"".join(content.data) == stuffed(bytes(content))``
always holds:

* a static chunk's own line starts (after each CRLF inside it) are stuffed once, when the
  layout is built;
* whether the *first* byte of a chunk or of a value starts a line depends on what comes before
  it, which may be a value that is empty or ends a line, so that is decided per message as
  the parts are laid out: a chunk or a value that begins with ``.`` at the start of a line
  gets one more ``.`` before it (a greeting may put a reader's name ``.Eve`` at the start of
  a line);
* a value's own line starts (the continuation lines of a folded ``To``) are stuffed as it is
  spliced in;
* the message ends with CRLF (one is added if not), then the ``.`` line.

:func:`stuffed` is the same transformation on a whole message, which also turns bare CR or LF
line ends into CRLF. Where a chunk or a value has a bare LF (newsletter builds none, but a
translated greeting could hold one), :meth:`Layout.fill` falls back to it, so the two never
differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

CRLF = b"\r\n"
END = b".\r\n"  # the end of DATA, after the message's last CRLF
_DOT = 46  # b"."[0]
_BARE_LINE_ENDS = re.compile(rb"\r\n|\r|\n")


def stuffed(message: bytes) -> bytes:
    """``message`` as the content of ``DATA``: every line ended by CRLF, a dot doubled at the
    start of a line (RFC 5321 4.5.2), and the final ``.`` line."""
    if message.count(b"\n") != message.count(CRLF):  # a line ended by LF alone
        message = _BARE_LINE_ENDS.sub(CRLF, message)
    if not message.endswith(CRLF):
        message += CRLF
    if b"\r\n." in message:
        message = message.replace(b"\r\n.", b"\r\n..")
    if message.startswith(b"."):
        message = b"." + message
    return message + END


class Content:
    """A finished message: :attr:`parts` joined are the message, :attr:`data` joined are what
    SMTP ``DATA`` sends (stuffed, ended by CRLF and the ``.`` line). Both refer to the same
    large chunks; nothing is joined until something asks for the whole (``bytes(content)``).
    """

    __slots__ = ("_data", "parts")

    def __init__(self, parts: Sequence[bytes], data: Sequence[bytes] | None = None) -> None:
        self.parts = parts
        self._data = data  # None: made from the whole message when first asked for

    @classmethod
    def whole(cls, message: bytes) -> Content:
        """A message that is already one ``bytes`` (a test's, or one built elsewhere)."""
        return cls((message,))

    @property
    def data(self) -> Sequence[bytes]:
        """The content of ``DATA``, in parts: ``b"".join(data) == stuffed(bytes(self))``."""
        if self._data is None:
            self._data = (stuffed(bytes(self)),)
        return self._data

    def __bytes__(self) -> bytes:
        parts = self.parts
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def __len__(self) -> int:
        return sum(map(len, self.parts))

    def headed(self, field: bytes) -> Content:
        """The message with the header ``field`` (CRLF-ended, e.g. a DKIM-Signature) on top:
        the parts after it are laid out as before, since a line starts after it too."""
        if (not field.endswith(CRLF) or field.count(b"\n") != field.count(CRLF)
                or self._data is None):
            return Content((field, *self.parts))
        head = field.replace(b"\r\n.", b"\r\n..") if b"\r\n." in field else field
        if head[:1] == b".":
            head = b"." + head
        return Content((field, *self.parts), (head, *self._data))


class Layout:
    """A message's static chunks (bytes) and holes (names, str) in order, prepared once so that
    :meth:`fill` lays out both :class:`Content` lists for a reader without copying a chunk (see
    the module docstring)."""

    __slots__ = ("_exact", "_steps")

    def __init__(self, segments: Iterable[bytes | str]) -> None:
        # Steps of a chunk (maybe empty) and the hole after it: the chunk as written, stuffed
        # within, whether it begins with "." and whether it ends a line; the last chunk has
        # no hole after it (None).
        steps: list[tuple[bytes, bytes, bool, bool, str | None]] = []
        chunk = b""
        for segment in segments:
            if isinstance(segment, str):
                steps.append((*_prepared(chunk), segment))
                chunk = b""
            else:
                chunk += segment
        steps.append((*_prepared(chunk), None))
        self._steps = tuple(steps)
        # False: a chunk has a bare LF, and the whole message is stuffed at once instead
        self._exact = all(raw.count(b"\n") == raw.count(CRLF) for raw, *_ in steps)

    def fill(self, values: Mapping[str, bytes]) -> Content:
        """The message with each hole's value spliced in (UTF-8 bytes, no bare CR or LF
        expected; with a bare LF, the whole message is stuffed when its data is asked for)."""
        parts: list[bytes] = []
        data: list[bytes] = []
        exact = self._exact
        line_start = True  # at the start of a line: the message's, or after a CRLF
        for raw, inner, dot, ends_line, hole in self._steps:
            if raw:
                parts.append(raw)
                if dot and line_start:
                    data.append(b".")
                data.append(inner)
                line_start = ends_line
            if hole is None:
                break  # the last chunk
            value = values[hole]
            if not value:
                continue  # an empty value leaves the line where it was
            parts.append(value)
            if b"\n" in value:  # a folded field: its continuation lines start lines
                exact = exact and value.count(b"\n") == value.count(CRLF)
                if b"\r\n." in value:
                    value = value.replace(b"\r\n.", b"\r\n..")
            if line_start and value[0] == _DOT:
                data.append(b".")
            data.append(value)
            line_start = value.endswith(CRLF)
        if not exact:
            return Content(parts)
        if not (parts and line_start):  # the message does not end with CRLF (or is empty)
            data.append(CRLF)
        data.append(END)
        return Content(parts, data)


def _prepared(chunk: bytes) -> tuple[bytes, bytes, bool, bool]:
    """A static chunk as :class:`Layout` keeps it: as written, with the lines that start inside
    it stuffed, whether it begins with a dot (stuffed per message, at a line start) and
    whether it ends a line."""
    inner = chunk.replace(b"\r\n.", b"\r\n..") if b"\r\n." in chunk else chunk
    return chunk, inner, chunk[:1] == b".", chunk.endswith(CRLF)
