"""Turn the bytes of a report file into text, or say exactly why not (pure; no I/O).

Reports reach an office in UTF-8 (with or without a byte-order mark), UTF-16 (Windows
"Unicode" text, with or without a mark), Windows-1251 and KZ-1048 (the Kazakh variant of
Windows-1251). The two single-byte encodings agree on every byte except sixteen in 0x80-0xBF,
where KZ-1048 has the Kazakh letters (Ә Ғ Қ Ң Ө Ұ Ү Һ) and Windows-1251 has Serbian,
Macedonian, Belarusian and Ukrainian ones; we choose by which reading forms real words.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from newsletter.errors import ReportError

# Magic numbers of files that are often dropped into an inbox by mistake.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "PDF document"),
    (b"PK\x03\x04", "ZIP archive or Office document"),
    (b"\xd0\xcf\x11\xe0", "legacy Office document"),
    (b"\x89PNG", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"\x7fELF", "program"),
    (b"{\\rtf", "RTF document"),
)

# Bytes whose meaning differs between Windows-1251 and KZ-1048.
_KZ_BYTES = re.compile(rb"[\x8d\x8e\x9d\x9e\xa1\xa2\xa3\xa5\xaa\xaf\xb4\xba\xbc-\xbf]")
# Letters that the Windows-1251 reading of those bytes gives and that never occur in Russian,
# Kazakh or Ukrainian words: seeing them means the file was KZ-1048.
_NOT_OURS_IN_1251 = frozenset("ЌЋќћЎўЈѕЅј")


@dataclass(frozen=True)
class Decoded:
    """Text of a file and the encoding it was read with."""

    text: str
    encoding: str


def decode_report(data: bytes) -> Decoded:
    """Decode report bytes; raise :class:`ReportError` (empty, binary, undecodable) otherwise."""
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise ReportError("empty", "the file is empty",
                          hint="save the report again with its text (an export or download may "
                               "have failed)")
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise ReportError(
                "binary",
                f"the file is a {what}, not a text report",
                hint="save the report as plain text (.txt) and drop it in again",
            )
    decoded = _decode(data)
    _reject_control_characters(decoded.text)
    return decoded


def _decode(data: bytes) -> Decoded:
    if data.startswith(codecs.BOM_UTF8):
        return Decoded(_strict(data[3:], "utf-8"), "utf-8-sig")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Decoded(_strict(data, "utf-16"), "utf-16")
    utf16 = _guess_utf16_without_bom(data)
    if utf16 is not None:
        return Decoded(_strict(data, utf16), utf16)
    if b"\x00" in data:
        raise ReportError("binary", "the file contains NUL bytes: it is not a text report",
                          hint="save the report as plain text (.txt) and drop it in again")
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    return _decode_single_byte(data)


def _strict(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ReportError(
            "undecodable",
            f"the file claims to be {encoding} but byte {exc.start} is not valid {encoding}",
            hint="re-save the report as UTF-8 text",
        ) from exc


def _guess_utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text of Latin or Cyrillic script has one byte of each pair nearly constant."""
    if len(data) < 4 or len(data) % 2:
        return None
    even, odd = data[0::2], data[1::2]

    def high_byte_share(half: bytes) -> float:
        return (half.count(0x00) + half.count(0x04)) / len(half)

    if high_byte_share(odd) > 0.9 and high_byte_share(even) < 0.5:
        return "utf-16-le"
    if high_byte_share(even) > 0.9 and high_byte_share(odd) < 0.5:
        return "utf-16-be"
    return None


def _decode_single_byte(data: bytes) -> Decoded:
    text_1251 = data.decode("cp1251", errors="replace")
    encoding = "cp1251"
    if _KZ_BYTES.search(data):
        text_kz = data.decode("kz1048", errors="replace")
        foreign = sum(1 for ch in text_1251 if ch in _NOT_OURS_IN_1251)
        # Ukrainian text in cp1251 uses є ї ґ from those bytes but no ы or э, which Kazakh uses.
        kazakh_vowels = sum(1 for ch in text_kz if ch in "ыэЫЭ")
        if foreign or kazakh_vowels:
            text_1251, encoding = text_kz, "kz1048"
    if "\ufffd" in text_1251 or _mixed_script_share(text_1251) > 0.2:
        raise ReportError(
            "undecodable",
            "the file is neither UTF-8, UTF-16, Windows-1251 nor KZ-1048 text",
            hint="re-save the report as UTF-8 text",
        )
    return Decoded(text_1251, encoding)


_NON_ASCII_WORD = re.compile(r"\w*[^\x00-\x7f]\w*")
_LATIN = re.compile(r"[A-Za-z]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def _mixed_script_share(text: str) -> float:
    """Share of non-ASCII words that mix Latin and Cyrillic letters: mojibake looks like that."""
    words = _NON_ASCII_WORD.findall(text)
    if not words:
        return 0.0
    mixed = sum(1 for w in words if _LATIN.search(w) and _CYRILLIC.search(w))
    return mixed / len(words)


# C0 and C1 control characters other than tab, line feed, carriage return and form feed.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def _reject_control_characters(text: str) -> None:
    sample = text[:20_000]
    controls = len(_CONTROL.findall(sample))
    if controls > max(2, len(sample) // 200):
        raise ReportError(
            "binary",
            f"the file holds {controls} control characters in its first {len(sample)}: "
            "it is not a text report",
        )
