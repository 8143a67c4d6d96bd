"""Site chrome in report pages copied from a browser, and the fields it carries (pure; no I/O).

"Select all, copy" on a report page brings the site with it: ReliefWeb's banner (``Informing
humanitarians worldwide 24/7 — a service provided by UN OCHA``), skip links in the page's
language (``Skip to main content``, ``Aller au contenu principal``, ``Saltar al contenido
principal``, ``Перейти к основному содержанию``), a lone country line or country tags
(``Afghanistan + 4 more``), ``Attachments``, and the page's field block, on lines of their own
or run together on one line::

    Countries Afghanistan Sources WFP Publication date 12 Jun 2023 Origin View original
    Países Kazajstán Fuentes IFRC Fecha de publicación Origen Ver original
    Страны / Ливан / Источники / IFRC / Дата публикации / Происхождение / Просмотреть оригинал

News sites add share buttons, cookie notices, tickers and document viewers' counters. This
module tells those lines apart (:func:`site_line`, :func:`country_tags`) and reads the field
block (:func:`field_label`, :func:`flat_fields`): the parser keeps the values (source, kind,
dates) and drops the lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

# The ReliefWeb content formats, and what the French, Spanish and Russian sites call them.
KINDS = (
    "Analysis",
    "Appeal",
    "Assessment",
    "Evaluation and Lessons Learned",
    "Flash Update",
    "Infographic",
    "Interactive",
    "Manual and Guideline",
    "Map",
    "News and Press Release",
    "Other",
    "Press Release",
    "Report",
    "Situation Report",
    "UN Document",
)
KIND_NAMES: Mapping[str, str] = MappingProxyType({
    **{kind.casefold(): kind for kind in KINDS},
    "rapport de situation": "Situation Report", "informe de situación": "Situation Report",
    "доклад о ситуации": "Situation Report", "оперативная сводка": "Situation Report",
    "nouvelles et communiqués de presse": "News and Press Release",
    "noticias y comunicados de prensa": "News and Press Release",
    "новости и пресс-релизы": "News and Press Release",
    "communiqué de presse": "Press Release", "comunicado de prensa": "Press Release",
    "пресс-релиз": "Press Release",
    "rapport": "Report", "informe": "Report", "доклад": "Report", "отчет": "Report",
    "отчёт": "Report",
    "appel": "Appeal", "llamamiento": "Appeal", "призыв": "Appeal",
    "évaluation": "Assessment", "evaluación": "Assessment", "оценка": "Assessment",
    "carte": "Map", "mapa": "Map", "карта": "Map",
    "infographie": "Infographic", "infografía": "Infographic", "инфографика": "Infographic",
    "mise à jour flash": "Flash Update", "actualización rápida": "Flash Update",
    "autre": "Other", "otro": "Other", "другое": "Other",
})

# Field labels of a report page, by the field they name, in English, French, Spanish, Russian.
_LABELS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "countries": ("Countries", "Country", "Pays", "Países", "País", "Страны", "Страна"),
    "sources": ("Sources", "Source", "Fuentes", "Fuente", "Источники", "Источник"),
    "kind": ("Format", "Formato", "Формат", "Content format"),
    "published": ("Publication date", "Date de publication", "Fecha de publicación",
                  "Дата публикации", "Posted", "Publié", "Publicado", "Опубликовано",
                  "Date of issue"),
    "original": ("Originally published", "Publié à l'origine", "Publicado originalmente",
                 "Первоначально опубликовано"),
    "origin": ("Origin", "Origine", "Origen", "Происхождение"),
    "other": ("Language", "Languages", "Langue", "Langues", "Idioma", "Idiomas", "Язык",
              "Языки", "Theme", "Themes", "Thème", "Thèmes", "Tema", "Temas", "Тема", "Темы",
              "Disaster type", "Disaster types", "Type de catastrophe", "Tipo de desastre",
              "Тип бедствия", "Vulnerable groups", "Disasters", "Catastrophes", "Desastres"),
})
_LABEL_OF: Mapping[str, str] = MappingProxyType({
    label.casefold(): field for field, labels in _LABELS.items() for label in labels})
# One line holding several labels and their values (a flattened block).
_FLAT = re.compile(
    r"(?<![\w'])(" + "|".join(re.escape(label) for label in sorted(
        (lb for labels in _LABELS.values() for lb in labels), key=len, reverse=True))
    + r")(?![\w'])",
)

# Lines that are the site, not the report, wherever they stand.
_SITE_LINES = frozenset(s.casefold() for s in (
    "Skip to main content", "Aller au contenu principal", "Saltar al contenido principal",
    "Ir al contenido principal", "Перейти к основному содержанию", "You are here",
    "Vous êtes ici", "Usted está aquí", "Вы здесь",
    "View Original", "Voir l'original", "Voir l’original", "Ver original", "Ver el original",
    "Просмотреть оригинал", "Attachments", "Pièces jointes", "Adjuntos", "Вложения",
    "Share", "Partager", "Compartir", "Поделиться", "Print", "Imprimer", "Imprimir", "Печать",
    "Download", "Download Report", "Download PDF", "Télécharger", "Descargar", "Скачать",
    "preview", "Toggle navigation", "Help", "Log in", "ReliefWeb", "Follow us", "Follow us:",
    "Leave a Comment", "Advertisement", "Последние новости", "Latest news", "Top stories",
    "Реклама", "Ok", "Все новости", "Read more",
    "Читать далее", "Читать также", "Global perspective Human stories",
    "Глобальный взгляд Человеческие судьбы", "Welcome to the United Nations",
    "Добро пожаловать в ООН", "Regresar al inicio", "Retour en haut",
))
_SITE_PATTERNS = re.compile(
    "|".join((
        r"^Informing humanitarians worldwide 24/7\b",
        r"\s[-|–]\s*ReliefWeb$",  # a document site's copy of the ReliefWeb tab title
        r"^[A-Z][a-z]{2} \d{1,2}, \d{4} [-–] .*\.\.\.",  # a search result's snippet
        r"^Download (?:PDF|Report|the (?:full )?report)\b.{0,40}$",
        r"^Total Page:\s*\d+$", r"^File Type:\s*\w+", r"^\d+ downloads? \d+ Views?\b",
        r"^You are on page \d+\s*of\s*\d+$", r"^Page \d+(?: of \d+)?$",
        r"^Advertisement\b.{0,40}$", r"Ethical Paywall", r"^Licence needed for work use",
        r"sharing button$", r"Copy to clipboard", r"^Поделиться стать",
        r"Подписывайтесь на\b.{0,120}$", r"Рейтинг@Mail\.ru", r"Обновлено в \d{1,2}:\d{2}$",
        r"^Updated at \d{1,2}:\d{2}$",
        r"^Читать \S+ в$", r"^Пожалуйста, перейдите по ссылке из письма",
        r"^Регистрация пройдена успешно", r"^Registration (?:completed|successful)",
        r"^Изменение языка", r"^Новые материалы",
        r"^Связанные новости$", r"^Перейти к верхней кнопке$", r"^Orphus\b",
        r"\bcookies?\b.{0,200}$",
    )),
    re.IGNORECASE,
)
_COUNTRY_TAGS = re.compile(
    r"^(?:date \d{4}-\d{2}-\d{2}\s+)?(?P<first>[^\W\d_][^+]{1,60}?)\s*\+\s*\d+\s*"
    r"(?:more|autres?|de plus|más|ещё|еще|другие|других)$", re.IGNORECASE)
# A news ticker or a menu: items between bars, or several times of day glued to headlines
# ("22:08СМС-рассылка … 21:55Власти …").
_GLUED_TIME = re.compile(r"\d{1,2}:\d{2}[^\W\d_]")
_LETTER = re.compile(r"[^\W\d_]")


def site_line(line: str) -> bool:
    """Whether ``line`` is the site's (a banner, a skip link, a button, a counter, a notice)."""
    stripped = line.strip()
    if stripped.count("|") >= 3 or len(_GLUED_TIME.findall(stripped)) >= 2:
        return True
    # Banners, buttons and notices are short: a long line is looked at only for tickers.
    return len(stripped) <= 600 and (stripped.casefold() in _SITE_LINES
                                     or bool(_SITE_PATTERNS.search(stripped)))


def country_tags(line: str) -> bool:
    """ReliefWeb's country tags: ``Afghanistan + 4 more`` (also after a page date)."""
    return bool(_COUNTRY_TAGS.match(line.strip()))


def without_letters(line: str) -> bool:
    """A line of figures or signs alone (an exchange-rate box, a temperature)."""
    return not _LETTER.search(line)


def field_label(line: str) -> str | None:
    """The field a page's label line names (``Sources`` → ``sources``), or None."""
    return _LABEL_OF.get(line.strip().rstrip(":").strip().casefold())


def flat_fields(line: str) -> list[tuple[str, str]] | None:
    """A field block run together on one line, as (field, value) pairs in order; None unless
    the line opens with a label and holds at least two."""
    stripped = line.strip()
    parts = _FLAT.split(stripped)
    # parts: [before, label, value, label, value, …]
    if len(parts) < 5 or parts[0].strip():
        return None
    pairs = []
    for index in range(1, len(parts), 2):
        pairs.append((_LABEL_OF[parts[index].casefold()], parts[index + 1].strip(" :")))
    return pairs


def kind_of(name: str) -> str | None:
    """The ReliefWeb format a kind line names, in any of the page languages; a heading in
    capitals ("ANALYSIS", "REPORT") names none."""
    if name.isupper():
        return None
    return KIND_NAMES.get(" ".join(name.split()).casefold())
