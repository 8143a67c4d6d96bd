"""TMX files are read without DTDs or entities, whatever their encoding."""

from __future__ import annotations

import pytest

from newsletter.errors import NewsletterError
from newsletter.translate.tmx import read_tmx

BOMB = ('<?xml version="1.0" encoding="{encoding}"?>\n'
        '<!DOCTYPE tmx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
        '<tmx version="1.4"><header/><body><tu><tuv xml:lang="en"><seg>&b;</seg></tuv>'
        '<tuv xml:lang="ru"><seg>x</seg></tuv></tu></body></tmx>')


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-be", "utf-32"])
def test_a_doctype_with_entities_is_refused_in_any_encoding(encoding: str) -> None:
    data = BOMB.format(encoding=encoding).encode(encoding)
    assert b"<!DOCTYPE" not in data.upper() or encoding == "utf-8"  # hidden from a byte search
    with pytest.raises(NewsletterError, match="DOCTYPE or entities|not well-formed"):
        list(read_tmx(data))


def test_a_plain_tmx_in_utf16_is_read() -> None:
    text = ('<?xml version="1.0" encoding="utf-16"?><tmx version="1.4"><header/><body><tu>'
            '<tuv xml:lang="en"><seg>Floods</seg></tuv><tuv xml:lang="ru"><seg>Паводки</seg>'
            '</tuv></tu></body></tmx>')
    [unit] = read_tmx(text.encode("utf-16"))
    assert (unit.source, unit.target, unit.target_language) == ("Floods", "Паводки", "ru")
