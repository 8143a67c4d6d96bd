"""CAP 1.2 (OASIS Common Alerting Protocol) documents for an alert issue (pure: values in,
bytes out). One ``<info>`` per language the alert went out in, each saying with a
``parameter`` whether its text is the original, a machine translation or a reviewed one."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from newsletter.feeds.xml import xml_text

NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
LOCALES = {"en": "en-US", "ru": "ru-RU", "kk": "kk-KZ"}


def cap_time(moment: datetime) -> str:
    """A CAP date and time: seconds, and "-00:00" for UTC (CAP 1.2, 3.3.2)."""
    text = moment.astimezone(UTC).replace(microsecond=0).isoformat()
    return text.replace("+00:00", "-00:00")


@dataclass(frozen=True)
class Info:
    """One language's block of an alert."""

    language: str  # en, ru, kk
    category: str
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str
    description: str
    web: str
    translation: str  # original, machine or reviewed
    model: str | None
    area: str  # the places' names in this language
    geocodes: Sequence[str]  # ISO 3166 codes


@dataclass(frozen=True)
class Alert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    references: Sequence[tuple[str, str, datetime]]  # (sender, identifier, sent) updated
    infos: Sequence[Info]


def cap_document(alert: Alert) -> bytes:
    """The CAP 1.2 XML of ``alert``: an Update of the alerts it references, else an Alert."""
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(f"{{{NAMESPACE}}}alert")

    def add(parent: ET.Element, name: str, text: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{NAMESPACE}}}{name}")
        element.text = xml_text(text)
        return element

    add(root, "identifier", alert.identifier)
    add(root, "sender", alert.sender)
    add(root, "sent", cap_time(alert.sent))
    add(root, "status", alert.status)
    add(root, "msgType", "Update" if alert.references else "Alert")
    add(root, "scope", "Public")
    if alert.references:
        add(root, "references", " ".join(f"{sender},{identifier},{cap_time(sent)}"
                                         for sender, identifier, sent in alert.references))
    for info in alert.infos:
        block = ET.SubElement(root, f"{{{NAMESPACE}}}info")
        add(block, "language", LOCALES.get(info.language, info.language))
        add(block, "category", info.category)
        add(block, "event", info.event)
        add(block, "urgency", info.urgency)
        add(block, "severity", info.severity)
        add(block, "certainty", info.certainty)
        add(block, "headline", info.headline)
        add(block, "description", info.description)
        add(block, "web", info.web)
        for name, value in (("translation", info.translation), ("model", info.model)):
            if value:
                parameter = ET.SubElement(block, f"{{{NAMESPACE}}}parameter")
                add(parameter, "valueName", name)
                add(parameter, "value", value)
        if info.geocodes:
            area = ET.SubElement(block, f"{{{NAMESPACE}}}area")
            add(area, "areaDesc", info.area)
            for code in info.geocodes:
                geocode = ET.SubElement(area, f"{{{NAMESPACE}}}geocode")
                add(geocode, "valueName", "ISO3166-2" if "-" in code else "ISO3166-1")
                add(geocode, "value", code)
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body
