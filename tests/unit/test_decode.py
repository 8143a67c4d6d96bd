"""Decoding report bytes: every supported encoding, and a clear error for everything else."""

from __future__ import annotations

import codecs

import pytest

from newsletter.errors import ReportError
from newsletter.reports.decode import decode_report

RUSSIAN = "Наводнения повредили дороги, школы и больницы в северном регионе."
KAZAKH = "Су тасқыны солтүстік өңірдегі жолдарды, мектептер мен ауруханаларды зақымдады."
ENGLISH = "Floods damaged roads, schools and hospitals in the northern region."
UKRAINIAN = "Повені пошкодили дороги, її школи та лікарні є в регіоні ґрунтовно."


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        pytest.param(ENGLISH.encode("utf-8"), ENGLISH, "utf-8", id="utf-8"),
        pytest.param(codecs.BOM_UTF8 + KAZAKH.encode("utf-8"), KAZAKH, "utf-8-sig", id="utf-8-bom"),
        pytest.param(RUSSIAN.encode("utf-16"), RUSSIAN, "utf-16", id="utf-16-bom"),
        pytest.param(codecs.BOM_UTF16_BE + KAZAKH.encode("utf-16-be"), KAZAKH, "utf-16",
                     id="utf-16-be-bom"),
        pytest.param(ENGLISH.encode("utf-16-le"), ENGLISH, "utf-16-le", id="utf-16-le-no-bom"),
        pytest.param(RUSSIAN.encode("utf-16-be"), RUSSIAN, "utf-16-be", id="utf-16-be-no-bom"),
        pytest.param(RUSSIAN.encode("cp1251"), RUSSIAN, "cp1251", id="windows-1251"),
        pytest.param(KAZAKH.encode("kz1048"), KAZAKH, "kz1048", id="kz-1048"),
        pytest.param(UKRAINIAN.encode("cp1251"), UKRAINIAN, "cp1251", id="windows-1251-ukrainian"),
    ],
)
def test_supported_encodings_decode_to_the_original_text(
    data: bytes, text: str, encoding: str
) -> None:
    decoded = decode_report(data)
    assert decoded.text == text
    assert decoded.encoding == encoding


def test_kazakh_upper_case_letters_in_kz1048_are_read_as_kazakh() -> None:
    text = "ҚАЗАҚСТАН ҰЛТТЫҚ ҚОҒАМЫ: Өңірде Үкімет Һәм Ғылым әрекет етті, ықпал"
    assert decode_report(text.encode("kz1048")).text == text


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"  \r\n\t\n", "empty", id="whitespace-only"),
        pytest.param(codecs.BOM_UTF8, "empty", id="bom-only"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "binary", id="pdf"),
        pytest.param(b"PK\x03\x04\x14\x00\x06\x00", "binary", id="zip-docx"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00", "binary", id="png"),
        pytest.param(b"title\x00\x01\x02\x03\x00\xff body", "binary", id="nul-bytes"),
        pytest.param(b"Title\n" + bytes(range(1, 9)) * 20 + b" body", "binary", id="control-chars"),
        pytest.param("Le café est fermé à Genève.".encode("latin-1"), "undecodable",
                     id="latin-1"),
        pytest.param(b"\xff\xfe" + b"\x00\xd8", "undecodable", id="broken-utf-16"),
    ],
)
def test_unusable_bytes_raise_a_report_error_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ReportError) as caught:
        decode_report(data)
    assert caught.value.reason == reason
    assert caught.value.message
