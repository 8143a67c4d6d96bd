"""Text that may go into XML (pure): XML 1.0 has no place for most control characters, and
a report may carry any of them."""

from __future__ import annotations

import re

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (escaping is the writer's)."""
    return _NOT_XML.sub("", text)
