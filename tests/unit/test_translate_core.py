"""Translation core: masking round trips, glossary, number and date rendering, flags, routes."""

from __future__ import annotations

import pytest

from newsletter.errors import GlossaryFormatError
from newsletter.lists.spec import Policy
from newsletter.translate.core import (
    Flag,
    ModelRef,
    SpanKind,
    flag_counts,
    flags_text,
    mask,
    parse_glossary,
    plan_route,
    quality_flags,
    render_number,
    unmask,
)
from newsletter.translate.editions import EditionStatus, edition_status
from newsletter.translate.engine import batch_size_for, max_decoding_length
from tests.helpers import REPO

GLOSSARY = parse_glossary(
    "en,ru,kk\n"
    "UN Human Rights Office,Управление ООН по правам человека,БҰҰ Адам құқықтары жөніндегі басқармасы\n"
    "Human Rights,права человека,адам құқықтары\n"
    "Nur-Sultan,Нур-Султан,Нұр-Сұлтан\n"
    "IPC Phase 3,Фаза 3 по IPC,IPC 3-фазасы\n"
)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("12,000", SpanKind.NUMBER), ("3.5", SpanKind.NUMBER), ("1000", SpanKind.NUMBER),
        ("41%", SpanKind.PERCENT), ("CHF 148,000", SpanKind.MONEY), ("US$ 6.2", SpanKind.MONEY),
        ("-15°C", SpanKind.TEMPERATURE), ("31 January 2013", SpanKind.DATE),
        ("June 9, 2019", SpanKind.DATE), ("2019-06-12", SpanKind.DATE), ("9 June", SpanKind.DATE),
        ("MDRKZ013", SpanKind.CODE), ("FL-2008-000032-KAZ", SpanKind.CODE),
        ("COVID-19", SpanKind.CODE), ("https://reliefweb.int/report/kazakhstan", SpanKind.URL),
        ("pnaderer@ohchr.org", SpanKind.EMAIL), ("+996 (0) 770 70 10 36", SpanKind.PHONE),
        ("Nur-Sultan", SpanKind.TERM), ("IPC Phase 3", SpanKind.TERM),
    ],
)
def test_each_kind_of_fact_is_masked_whole(text: str, kind: SpanKind) -> None:
    masked = mask(f"Before {text} after.", "en", GLOSSARY)
    [span] = masked.spans
    assert (span.kind, span.text) == (kind, text)
    assert masked.text == f"Before {span.placeholder} after."
    assert span.placeholder.isdigit()


def test_no_digit_survives_masking_except_placeholders() -> None:
    text = ("On 9 and 10 June 2019, 1,000 people (41%) in Nur-Sultan got CHF 148,000 under "
            "MDRKZ013; call +7 727 291 6012 or see https://example.org/a1 by 2020-01-05.")
    masked = mask(text, "en", GLOSSARY)
    placeholders = {span.placeholder for span in masked.spans}
    digits = {token for token in masked.text.replace(",", " ").replace(";", " ").split()
              if any(ch.isdigit() for ch in token)}
    assert {d.strip(".()") for d in digits} <= placeholders


def test_identity_translation_restores_the_text_exactly() -> None:
    text = ("IFRC allocated CHF 148,000 (DREF MDRKZ013, GLIDE FL-2013-000012-KAZ) to 6,000 "
            "people; 41% funded; -15°C; contact info@redcrescent.kz or https://ifrc.org/x.")
    masked = mask(text, "en", GLOSSARY)
    restored, flags = unmask(masked.text, masked, "en")
    assert restored == text
    assert flags == []


def test_restoring_into_russian_and_kazakh_localises_numbers_dates_and_terms() -> None:
    masked = mask("The UN Human Rights Office counted 12,000 people and 3.5 tonnes in "
                  "Nur-Sultan on 31 January 2013 (1000 arrests).", "en", GLOSSARY)
    ru, ru_flags = unmask(masked.text, masked, "ru")
    kk, kk_flags = unmask(masked.text, masked, "kk")
    assert ru_flags == kk_flags == []
    assert "Управление ООН по правам человека" in ru
    assert "Нур-Султан" in ru
    assert "12\u00a0000" in ru
    assert "3,5" in ru
    assert "1000 arrests" in ru
    assert "31 января 2013\u202fг. (1000" in ru
    assert "БҰҰ Адам құқықтары жөніндегі басқармасы" in kk
    assert "Нұр-Сұлтан" in kk
    assert "қаңтар" in kk


def test_longer_glossary_terms_win() -> None:
    masked = mask("The UN Human Rights Office defends Human Rights.", "en", GLOSSARY)
    assert [span.text for span in masked.spans] == ["UN Human Rights Office", "Human Rights"]


def test_russian_numbers_read_back_into_english() -> None:
    masked = mask("Выделено 4,5 млрд тенге для 7 000 человек.", "ru", GLOSSARY)
    en, _ = unmask(masked.text, masked, "en")
    assert "4.5" in en
    assert "7,000" in en
    assert render_number("2019", "en", "ru") == "2019"  # ungrouped numbers stay as written


def test_lost_duplicated_and_invented_numbers_are_flagged() -> None:
    masked = mask("Floods hit 340 houses and 12 villages in Nur-Sultan.", "en", GLOSSARY)
    first, second, term = (span.placeholder for span in masked.spans)
    _, lost = unmask(f"Наводнения {first} домов в {term}.", masked, "ru")
    assert [f.code for f in lost] == ["numbers"]
    assert "'12'" in lost[0].detail
    _, twice = unmask(f"{first} {first} {second} {term}", masked, "ru")
    assert [f.code for f in twice] == ["numbers"]
    _, invented = unmask(f"{first} {second} 55 {term}", masked, "ru")
    assert [f.code for f in invented] == ["numbers"]
    _, no_term = unmask(f"{first} {second}", masked, "ru")
    assert [f.code for f in no_term] == ["glossary"]


@pytest.mark.parametrize(
    ("source", "output", "target", "codes"),
    [
        ("Floods damaged roads in the region.", "Наводнения повредили дороги в регионе.", "ru", []),
        ("Floods damaged roads in the region.", "Су тасқыны өңірдегі жолдарды зақымдады.", "kk", []),
        ("Floods damaged roads in the region.", "Наводнения повредили дороги в регионе.", "kk",
         ["kazakh_letters"]),
        ("Floods damaged roads in the region.", "Floods damaged roads in the region.", "ru",
         ["untranslated", "script"]),
        ("Floods damaged roads.", " ".join(["дороги"] * 12), "ru",
         ["length", "repetition"]),
        ("Floods damaged roads in the whole region this week.", "Да.", "ru", ["length"]),
        ("Наводнения повредили дороги.", "Floods damaged roads.", "en", []),
        ("Наводнения повредили дороги.", "Наводнения damaged дороги.", "en", ["script"]),
    ],
)
def test_quality_flags(source: str, output: str, target: str, codes: list[str]) -> None:
    masked = mask(source, "en", GLOSSARY)
    assert [flag.code for flag in quality_flags(masked, output, target)] == codes


def test_routes_prefer_a_direct_pair_then_a_pivot() -> None:
    en_ru, ru_kk, en_kk = (ModelRef("en", "ru", "a"), ModelRef("ru", "kk", "b"),
                           ModelRef("en", "kk", "c"))
    assert plan_route([en_ru, ru_kk, en_kk], "en", "kk") == (en_kk,)
    assert plan_route([en_ru, ru_kk], "en", "kk") == (en_ru, ru_kk)
    assert plan_route([en_ru], "en", "kk") is None
    assert plan_route([], "en", "en") == ()


def test_edition_status_follows_the_policy() -> None:
    flag = Flag("numbers", "'12' is missing")
    assert edition_status([], Policy.HOLD) is EditionStatus.TRANSLATED
    assert edition_status([flag], Policy.HOLD) is EditionStatus.HELD
    assert edition_status([flag], Policy.FALLBACK) is EditionStatus.FALLBACK


def test_glossary_format_errors_are_reported() -> None:
    with pytest.raises(GlossaryFormatError, match="no column for kk"):
        parse_glossary("en,ru\nA,B\n")
    with pytest.raises(GlossaryFormatError, match="row 2"):
        parse_glossary("en,ru,kk\nonly english,,\n")


def test_the_repository_glossary_covers_the_sample_reports_names() -> None:
    glossary = parse_glossary((REPO / "translations" / "glossary.csv").read_text("utf-8"))
    english = {row["en"] for row in glossary.rows}
    for name in ("UN Human Rights Office", "Nur-Sultan", "Red Crescent Society of Kazakhstan",
                 "IPC Phase 3", "Almaty", "Shymkent", "Kazakhstan"):
        assert name in english
    assert all(set(row) >= {"en", "ru", "kk"} for row in glossary.rows)


def test_a_models_output_is_capped_relative_to_its_longest_source() -> None:
    assert max_decoding_length(10) == 46  # three times the source, and 16 more
    assert max_decoding_length(0) == 16
    assert max_decoding_length(5_000) == 1024  # never more


@pytest.mark.parametrize(("sentences", "expected"), [
    (1, 1), (4, 2), (5, 3),  # a title and summary: shared by both workers
    (64, 32), (300, 32),  # enough for both: full batches
])
def test_small_inputs_are_spread_over_the_parallel_batches(sentences: int, expected: int) -> None:
    assert batch_size_for(sentences, 32, 2) == expected
    assert batch_size_for(sentences, 32, 1) == min(sentences, 32)


def test_flags_are_said_once_each_with_their_count() -> None:
    flags = [Flag("numbers", "a"), Flag("script", "b"), Flag("numbers", "c"),
             Flag("numbers", "d")]
    assert flag_counts(flags) == [("numbers", 3), ("script", 1)]
    assert flags_text(flags) == "numbers ×3, script"
    assert flags_text([]) == ""
