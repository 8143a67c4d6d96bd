"""The review editor marks what a flag points at, and escapes everything else."""

from __future__ import annotations

from newsletter.translate.core import Flag
from newsletter.web.review import marked, mentioned


def test_numbers_and_quoted_words_of_flags_are_marked_and_the_rest_escaped() -> None:
    flags = (Flag("numbers", "the translation drops the number 1,200"),
             Flag("unknown", "«Astana» was left untranslated"))
    needles = mentioned(flags)
    assert needles == ["1,200", "Astana"]
    shown = str(marked("<b>1,200</b> people left Astana", needles))
    assert shown == "&lt;b&gt;<mark>1,200</mark>&lt;/b&gt; people left <mark>Astana</mark>"
    assert str(marked("a < b", [])) == "a &lt; b"
