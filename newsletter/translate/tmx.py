"""Translation memory as TMX 1.4, for CAT tools (pure).

Each approved pair is one ``<tu>`` with a ``<tuv>`` per language. The segments are the
memory's own: the source's facts (numbers, dates, codes, glossary terms) appear as numeric
placeholders in both, as our model sees them. Reading parses with defusedxml, which refuses a
DOCTYPE, entities and external references in whatever encoding the document is in (a UTF-16
file hid its DOCTYPE from a byte search), and refuses anything that is not TMX.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import fromstring as safe_fromstring

from newsletter.errors import NewsletterError

_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True)
class Unit:
    source_language: str
    target_language: str
    source: str
    target: str
    creator: str
    created: datetime
    masked: bool = False  # written by newsletter: the facts are placeholders already


def write_tmx(units: Iterable[Unit], *, tool_version: str) -> bytes:
    root = ET.Element("tmx", version="1.4")
    header: dict[str, str] = {"creationtool": "newsletter", "creationtoolversion": tool_version,
                              "segtype": "sentence", "adminlang": "en", "srclang": "*all*",
                              "datatype": "plaintext", "o-tmf": "newsletter"}
    ET.SubElement(root, "header", header)
    body = ET.SubElement(root, "body")
    for unit in units:
        tu = ET.SubElement(body, "tu", creationid=unit.creator,
                           creationdate=unit.created.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"))
        for language, text in ((unit.source_language, unit.source),
                               (unit.target_language, unit.target)):
            tuv = ET.SubElement(tu, "tuv", {_LANG: language})
            ET.SubElement(tuv, "seg").text = text
    ET.indent(root)
    buffer = io.BytesIO()
    ET.ElementTree(root).write(buffer, encoding="utf-8", xml_declaration=True)
    return buffer.getvalue() + b"\n"


def read_tmx(data: bytes, *, source_language: str = "en") -> Iterator[Unit]:
    """The pairs of a TMX document, from ``source_language`` to each other language."""
    try:
        root = safe_fromstring(data, forbid_dtd=True)
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) as exc:
        raise NewsletterError("the TMX file declares a DOCTYPE or entities: refused",
                              hint="export it again without a DOCTYPE") from exc
    except (ET.ParseError, ValueError) as exc:  # ValueError: an encoding expat cannot read
        raise NewsletterError(f"the file is not well-formed XML: {exc}",
                              hint="give a TMX 1.4 file") from exc
    if root.tag != "tmx" or root.find("body") is None:
        raise NewsletterError("the file is not TMX (no <tmx><body>)", hint="give a TMX 1.4 file")
    header = root.find("header")
    ours = header is not None and header.get("o-tmf") == "newsletter"
    for tu in root.iter("tu"):
        segments = {}
        for tuv in tu.findall("tuv"):
            language = (tuv.get(_LANG) or tuv.get("lang") or "").split("-")[0].lower()
            seg = tuv.find("seg")
            if language and seg is not None:
                segments[language] = "".join(seg.itertext()).strip()
        source = segments.pop(source_language, None)
        if not source:
            continue
        when = tu.get("creationdate") or ""
        try:
            created = datetime.strptime(when, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            created = datetime.now(UTC)
        for language, target in segments.items():
            if target:
                yield Unit(source_language, language, source, target,
                           tu.get("creationid") or "import", created, masked=ours)
