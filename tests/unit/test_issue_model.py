"""Which edition a reader of a language chain gets (pure)."""

from __future__ import annotations

import pytest

from newsletter.issues.model import edition_for

OFFERED = ("en", "ru", "kk")


@pytest.mark.parametrize(("chain", "ready", "complete", "expected"), [
    (("kk", "ru", "en"), {"en", "ru", "kk"}, {"en", "ru", "kk"}, ("kk", "kk")),
    (("kk", "ru", "en"), {"en", "ru"}, {"en", "ru"}, ("ru", "kk")),  # kk held: the next
    (("kk", "ru"), {"en"}, {"en"}, (None, "kk")),  # nothing of theirs is ready: it waits
    (("kk", "ru", "en"), {"en", "kk"}, {"en"}, ("en", "kk")),  # kk only in part: en whole
    (("kk", "ru"), {"en", "kk"}, {"en"}, ("kk", "kk")),  # … none whole: kk as it is
    (("kk",), {"en"}, {"en"}, (None, "kk")),  # one language: as before, held
    (("de",), {"en"}, {"en"}, ("en", "en")),  # none offered: the list's first
])
def test_the_first_ready_language_of_the_chain(chain: tuple[str, ...], ready: set[str],
                                               complete: set[str],
                                               expected: tuple[str | None, str]) -> None:
    assert edition_for(chain, OFFERED, ready, complete) == expected
