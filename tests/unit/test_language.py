"""Offline language identification."""

from __future__ import annotations

import pytest

from newsletter.reports.language import detect_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The floods damaged roads and schools in the region, the agency said.", "en"),
        ("Наводнения повредили дороги и школы в северном регионе, сообщили в агентстве.", "ru"),
        ("Су тасқыны солтүстік өңірдегі жолдар мен мектептерді зақымдады.", "kk"),
        ("Бұл туралы ол мен олар да айтты", "kk"),  # function words, no Kazakh-only letters
        ("В Казахстане Қазақстан Республикасы упоминается в тексте на русском языке, "
         "который сообщает о наводнениях в северных районах страны и о помощи.", "ru"),
        ("Les inondations ont endommagé les routes et les écoles de la région.", "fr"),
        ("Las inundaciones dañaron las carreteras y las escuelas de la región.", "es"),
        ("Floods", "en"),
        ("12 000 / 2019", "und"),
        ("", "und"),
    ],
)
def test_detects_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected
