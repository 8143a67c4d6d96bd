"""Property: any bytes give a report or a clear ReportError, never a crash."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.errors import ReportError
from newsletter.reports.decode import decode_report
from newsletter.reports.model import Report
from newsletter.reports.parse import parse_report
from tests.helpers import SAMPLE_REPORT

SAMPLE = SAMPLE_REPORT.read_bytes()
HEADER_WORDS = [" date 2019-06-12 12 Jun 2019", "Report", "from OCHA", "Published on 1 Jun 2019",
                "Originally published 2 Jun 2019", "Informing humanitarians worldwide.",
                "ASTANA, 31 January 2013 –", "View Original", "•", "\r\n", "\n\n", "\ufeff"]


def _outcome(data: bytes) -> Report | ReportError:
    try:
        return parse_report(decode_report(data).text)
    except ReportError as caught:
        error = caught
    assert error.reason in {"empty", "binary", "undecodable", "missing_title", "missing_body"}
    assert error.message
    return error


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    result = _outcome(data)
    if isinstance(result, Report):
        assert result.title.strip()
        assert result.body.strip()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(HEADER_WORDS) | st.text(max_size=60), max_size=25),
       st.sampled_from(["utf-8", "utf-16", "cp1251", "kz1048"]))
def test_report_shaped_text_in_any_encoding(parts: list[str], encoding: str) -> None:
    text = "\n".join(parts)
    _outcome(text.encode(encoding, errors="replace"))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(SAMPLE)), st.binary(max_size=50))
def test_damaged_sample_report(cut: int, noise: bytes) -> None:
    _outcome(SAMPLE[:cut] + noise + SAMPLE[cut:])
