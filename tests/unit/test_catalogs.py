"""Every word of the templates is translated into Russian and Kazakh, with correct plurals."""

from __future__ import annotations

import re

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from tests.helpers import REPO

PLACEHOLDER = re.compile(r"%\(\w+\)s")


def _template_messages() -> set[str]:
    """What `pybabel extract -F translations/babel.cfg -k N_` finds, computed afresh."""
    with (REPO / "translations" / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options = parse_mapping_cfg(config)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(REPO), method_map, options, keywords=keywords):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


@pytest.mark.parametrize("locale", ["ru", "kk", "en"])
def test_every_ui_string_is_translated(locale: str) -> None:
    with (REPO / "translations" / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    translated = {}
    for message in catalog:
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert not message.fuzzy, key
        assert all(strings), f"{locale}: {key!r} has an empty translation"
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(key)), (locale, key)
        translated[key] = strings
    missing = _template_messages() - set(translated)
    assert not missing, f"{locale} lacks {sorted(missing)}: run pybabel update (see README)"
    plural = next(m for m in catalog if isinstance(m.id, tuple))
    assert len(plural.string) == catalog.num_plurals == {"ru": 3, "kk": 2, "en": 2}[locale]


def test_kazakh_and_russian_texts_are_written_in_their_own_letters() -> None:
    for locale, letters in (("kk", "әғқңөұүһі"), ("ru", "ыэъё")):
        with (REPO / "translations" / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        text = " ".join(str(m.string) for m in catalog if m.id)
        assert any(ch in text for ch in letters), locale
