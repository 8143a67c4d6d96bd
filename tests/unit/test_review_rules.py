"""What a reader gets while an edition waits for a reviewer, once approved, once rejected."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsletter.reports.model import Report, StoredReport
from newsletter.translate.core import Flag
from newsletter.translate.editions import (
    Edition,
    EditionStatus,
    Policy,
    Review,
    ReviewRule,
    ReviewState,
    edition_view,
)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FLAG = Flag("numbers", "the translation drops the number 340")
FLOODS = StoredReport(1, 1, Report("Floods", "OCHA", None, None, "en", ""), "hash", "floods.txt",
                      "utf-8", AT, AT)


def _edition(flags: tuple[Flag, ...] = (), review: Review | None = None) -> Edition:
    return Edition("kk", "Су тасқыны", ("Су 340 үйді басты.",), None, "en-kk", flags,
                   review=review)


def _view(edition: Edition, policy: Policy, rule: ReviewRule) -> tuple[EditionStatus, str]:
    view = edition_view(FLOODS, edition, "kk", policy=policy,
                        summary=("Floods hit 340 houses.",), review=rule)
    return view.status, view.title


@pytest.mark.parametrize(("flags", "rule", "waits"), [
    ((), ReviewRule.NONE, False), ((FLAG,), ReviewRule.NONE, False),
    ((), ReviewRule.FLAGGED, False), ((FLAG,), ReviewRule.FLAGGED, True),
    ((), ReviewRule.ALL, True), ((FLAG,), ReviewRule.ALL, True),
])
def test_which_editions_wait_for_a_reviewer(flags: tuple[Flag, ...], rule: ReviewRule,
                                            waits: bool) -> None:
    assert _edition(flags).waits_for_review(rule) is waits


def test_a_clean_translation_waits_under_all_and_follows_the_policy_meanwhile() -> None:
    assert _view(_edition(), Policy.HOLD, ReviewRule.ALL)[0] is EditionStatus.HELD
    assert _view(_edition(), Policy.FALLBACK, ReviewRule.ALL) == (EditionStatus.FALLBACK,
                                                                  "Floods")
    assert _view(_edition(), Policy.HOLD, ReviewRule.FLAGGED) == (EditionStatus.TRANSLATED,
                                                                  "Су тасқыны")


def test_an_approved_edition_goes_as_corrected_whatever_its_flags() -> None:
    approved = Review(ReviewState.APPROVED, "Қазақстан: су тасқыны", None, "aigul", AT)
    view = edition_view(FLOODS, _edition((FLAG,), approved), "kk", policy=Policy.HOLD,
                        summary=("Floods hit 340 houses.",), review=ReviewRule.ALL)
    assert (view.status, view.title, view.reviewed) == (
        EditionStatus.TRANSLATED, "Қазақстан: су тасқыны", True)
    assert view.summary == ("Су 340 үйді басты.",)  # the machine's, as the reviewer kept it


def test_an_edited_edition_still_waits_and_a_rejected_one_sends_the_original() -> None:
    edited = Review(ReviewState.EDITED, "Қазақстан", None, "aigul", AT)
    assert _view(_edition((FLAG,), edited), Policy.HOLD, ReviewRule.FLAGGED)[0] is (
        EditionStatus.HELD)
    rejected = Review(ReviewState.REJECTED, None, None, "aigul", AT, "garbled")
    status, title = _view(_edition((), rejected), Policy.HOLD, ReviewRule.ALL)
    assert (status, title) == (EditionStatus.FALLBACK, "Floods")  # never held, never sent
