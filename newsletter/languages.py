"""The languages newsletter speaks, declared once (pure).

Every list of languages (settings, subscriber and list validation, catalogs, glossary columns,
command-line choices, model package names) is taken from here. Adding a language means a
catalog in ``translations/``, models for it, and a line below.
"""

from __future__ import annotations

NAMES = {"en": "English", "ru": "Russian", "kk": "Kazakh"}
LANGUAGES: tuple[str, ...] = tuple(NAMES)  # in the order editions and previews list them
DEFAULT = "en"  # what a new subscriber reads when no language is given
