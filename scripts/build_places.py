"""Regenerate newsletter/reports/places.csv from Debian's iso-codes and the curated rows.

    .venv/bin/python scripts/build_places.py [--check] [--iso-codes DIR] [--locale DIR]

Reads iso_3166-1.json and iso_3166-2.json (``--iso-codes``, default /usr/share/iso-codes/json),
the ru and kk gettext catalogs iso_3166-1.mo and iso_3166-2.mo (``--locale``, default
/usr/share/locale; a missing catalog gives no names), and scripts/places_curated.csv, whose
header comment says how its rows combine with iso-codes. Writes newsletter/reports/places.csv;
with ``--check`` it only compares and exits 1 when the committed file differs. The output is a
pure function of those inputs (:func:`build_places`): the same inputs give the same bytes.

Rows: every ISO 3166-1 country, and the ISO 3166-2 subdivisions without a parent (admin-1) of
``REGION_COUNTRIES``, sorted by code. A country's iso-codes names are its common name, name and
official name, in that order; a translation equal to its English message is no translation.
"""

from __future__ import annotations

import argparse
import csv
import gettext
import io
import json
import re
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from newsletter.languages import LANGUAGES  # noqa: E402
from newsletter.reports.places import COLUMNS, parse_places  # noqa: E402

OUTPUT = REPO / "newsletter" / "reports" / "places.csv"
CURATED = REPO / "scripts" / "places_curated.csv"
REGION_COUNTRIES = ("AF", "KG", "KZ", "TJ", "TM", "UZ")
TRANSLATED = ("ru", "kk")
# ISO 3166-2 newsletter II-4 (2022-11-29) gave Kazakhstan's regions numeric codes; iso-codes
# 4.15 still has the letter codes. Their names become alternates of the new codes.
RENAMED = {
    "KZ-AKM": "KZ-11", "KZ-AKT": "KZ-15", "KZ-ALA": "KZ-75", "KZ-ALM": "KZ-19",
    "KZ-AST": "KZ-71", "KZ-ATY": "KZ-23", "KZ-KAR": "KZ-35", "KZ-KUS": "KZ-39",
    "KZ-KZY": "KZ-43", "KZ-MAN": "KZ-47", "KZ-PAV": "KZ-55", "KZ-SEV": "KZ-59",
    "KZ-SHY": "KZ-79", "KZ-VOS": "KZ-63", "KZ-YUZ": "KZ-61", "KZ-ZAP": "KZ-27",
    "KZ-ZHA": "KZ-31",
}
_SPACES = re.compile(r"\s+")
_STRESS = re.compile("([\u0400-\u04ff])\u0301")  # a stress mark on a Cyrillic vowel


class BuildError(Exception):
    """The inputs do not make a complete, unambiguous places.csv."""


@dataclass(frozen=True)
class IsoData:
    """What the build takes from iso-codes."""

    version: str
    countries: Sequence[Mapping[str, str]]  # iso_3166-1.json "3166-1" entries
    subdivisions: Sequence[Mapping[str, str]]  # iso_3166-2.json "3166-2" entries
    # domain ("iso_3166-1", "iso_3166-2") -> language -> English message -> translation
    translations: Mapping[str, Mapping[str, Mapping[str, str]]]


def clean(name: str) -> str:
    """One spelling of a name: NFC, no stress marks (Респу́блика), single spaces, no "the "."""
    name = _STRESS.sub(r"\1", unicodedata.normalize("NFD", name))
    name = _SPACES.sub(" ", unicodedata.normalize("NFC", name)).strip()
    return name.removeprefix("the ")


def _iso_names(iso: IsoData) -> dict[str, tuple[str | None, dict[str, list[str]]]]:
    """code -> (alpha3, language -> names) from iso-codes, in iso-codes' order."""
    found: dict[str, tuple[str | None, dict[str, list[str]]]] = {}

    def names(domain: str, messages: list[str]) -> dict[str, list[str]]:
        by_language = {"en": [clean(m) for m in messages]}
        for lang in TRANSLATED:
            catalog = iso.translations.get(domain, {}).get(lang, {})
            by_language[lang] = [clean(catalog[m]) for m in messages
                                 if catalog.get(m) and catalog[m] != m]
        return by_language

    for country in iso.countries:
        messages = [country[f] for f in ("common_name", "name", "official_name") if f in country]
        found[country["alpha_2"]] = (country["alpha_3"], names("iso_3166-1", messages))
    for subdivision in iso.subdivisions:
        code = subdivision["code"]
        if code[:2] not in REGION_COUNTRIES or subdivision.get("parent"):
            continue
        code = RENAMED.get(code, code)
        found[code] = (None, names("iso_3166-2", [subdivision["name"]]))
    return found


def build_places(iso: IsoData, curated_text: str) -> str:
    """The text of places.csv for these inputs (see the module docstring and the curated
    file's header); raises BuildError when a row would lack a language or a region its row."""
    source = _iso_names(iso)
    curated = {place.code: place for place in parse_places(curated_text)}
    claims: dict[str, set[str]] = {}  # a name curated for two codes is ambiguous on purpose
    for place in curated.values():
        for names in place.names.values():
            for name in names:
                if not name.startswith("-"):
                    claims.setdefault(name, set()).add(place.code)
    holders: dict[str, set[str]] = {}
    for code, (_, by_language) in source.items():
        for names_ in by_language.values():
            for name in names_:
                holders.setdefault(name, set()).add(code)
    problems = []
    rows = []
    for code in sorted(set(source) | set(curated)):
        alpha3, iso_names = source.get(code, (None, {}))
        place = curated.get(code)
        if place is None and code[2:3] == "-":
            problems.append(f"{code} ({', '.join(iso_names['en'])}) has no curated row")
            continue
        if place and place.alpha3 and alpha3 and place.alpha3 != alpha3:
            problems.append(f"{code}: curated alpha3 {place.alpha3}, iso-codes {alpha3}")
        cells = [code, (place.alpha3 if place else None) or alpha3 or "",
                 code[:2] if code[2:3] == "-" else ""]
        for lang in LANGUAGES:
            given = place.names.get(lang, ()) if place else ()
            removed = {name[1:] for name in given if name.startswith("-")}
            names = [name for name in given if not name.startswith("-")]
            for name in iso_names.get(lang, []):
                if (name in removed or code not in claims.get(name, {code})
                        or (len(holders[name]) > 1 and name not in claims)):
                    continue
                names.append(name)
            names = list(dict.fromkeys(names))
            if not names:
                problems.append(f"{code} has no {lang} name")
            cells.append("|".join(names))
        rows.append(cells)
    if problems:
        raise BuildError("; ".join(problems))
    out = io.StringIO()
    out.write(_HEADER.format(version=iso.version))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    parse_places(out.getvalue())  # what the package will read: fail here, not there
    return out.getvalue()


_HEADER = """\
# Places: every ISO 3166-1 country and the admin-1 regions (ISO 3166-2) of AF, KG, KZ, TJ, TM
# and UZ, with their names in en, ru and kk. code is the ISO 3166-1 alpha-2 code, or the
# ISO 3166-2 code of a region; alpha3 is a country's alpha-3 code; parent is a region's country.
# Each name cell holds names separated by |, the first being the display name.
# Generated by scripts/build_places.py from Debian iso-codes {version} (iso_3166-1.json,
# iso_3166-2.json and their ru and kk gettext catalogs) and scripts/places_curated.csv.
# Do not edit: change scripts/places_curated.csv, then run
#   .venv/bin/python scripts/build_places.py
"""


def read_iso(json_dir: Path, locale_dir: Path) -> IsoData:
    """iso-codes as installed (the edge of this script)."""
    countries = json.loads((json_dir / "iso_3166-1.json").read_text("utf-8"))["3166-1"]
    subdivisions = json.loads((json_dir / "iso_3166-2.json").read_text("utf-8"))["3166-2"]
    messages = {
        "iso_3166-1": {c[f] for c in countries for f in ("common_name", "name", "official_name")
                       if f in c},
        "iso_3166-2": {s["name"] for s in subdivisions if s["code"][:2] in REGION_COUNTRIES},
    }
    translations: dict[str, dict[str, dict[str, str]]] = {}
    for domain, wanted in messages.items():
        translations[domain] = {}
        for lang in TRANSLATED:
            path = locale_dir / lang / "LC_MESSAGES" / f"{domain}.mo"
            if not path.is_file():
                continue
            with path.open("rb") as handle:
                catalog = gettext.GNUTranslations(handle)
            translations[domain][lang] = {m: catalog.gettext(m) for m in sorted(wanted)}
    return IsoData(_version(json_dir), countries, subdivisions, translations)


def _version(json_dir: Path) -> str:
    """iso-codes' version from its pkg-config file, if there is one."""
    pc = json_dir.parent.parent / "pkgconfig" / "iso-codes.pc"
    if pc.is_file():
        for line in pc.read_text("utf-8").splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    return "(unknown version)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iso-codes", type=Path, default=Path("/usr/share/iso-codes/json"))
    parser.add_argument("--locale", type=Path, default=Path("/usr/share/locale"))
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed file instead of writing it")
    args = parser.parse_args(argv)
    if not (args.iso_codes / "iso_3166-1.json").is_file():
        print(f"no iso_3166-1.json in {args.iso_codes}: install Debian's iso-codes "
              "(apt-get install iso-codes) or pass --iso-codes DIR", file=sys.stderr)
        return 1
    try:
        text = build_places(read_iso(args.iso_codes, args.locale),
                            CURATED.read_text("utf-8"))
    except (BuildError, ValueError) as exc:
        print(f"cannot build places.csv: {exc}", file=sys.stderr)
        return 1
    if args.check:
        if OUTPUT.read_text("utf-8") != text:
            print(f"{OUTPUT.relative_to(REPO)} is not what the inputs give: run "
                  "scripts/build_places.py and commit the result", file=sys.stderr)
            return 1
        print(f"{OUTPUT.relative_to(REPO)} is up to date")
        return 0
    OUTPUT.write_text(text, "utf-8")
    print(f"wrote {OUTPUT.relative_to(REPO)}: {text.count(chr(10)) - _HEADER.count(chr(10)) - 1} "
          "places")
    return 0


if __name__ == "__main__":
    sys.exit(main())
