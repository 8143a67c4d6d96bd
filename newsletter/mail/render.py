"""Render issues (an alert or a digest) as HTML and plain text in one language (pure).

One Jinja2 template set serves every language: autoescaping on, undefined names are errors, and
the templates' own words come from the gettext catalogs in ``translations/`` (loaded by
:func:`load_translations`). Dates are formatted per locale with Babel. The HTML is rendered once
per language and issue, its CSS inlined, and left with three tokens that :mod:`compose` fills
in per subscriber: ``@@GREETING@@``, ``@@UNSUBSCRIBE_URL@@`` and ``@@MANAGE_URL@@``. Lines are
left as long as they come (a paragraph is one line): :mod:`compose` wraps them to what mail
allows.
"""

from __future__ import annotations

import gettext
import html
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import css_inline
import jinja2
from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from markupsafe import Markup

from newsletter.languages import LANGUAGES
from newsletter.translate.core import Glossary

GREETING_TOKEN = "@@GREETING@@"
UNSUBSCRIBE_TOKEN = "@@UNSUBSCRIBE_URL@@"
MANAGE_TOKEN = "@@MANAGE_URL@@"  # the reader's own page (lists, languages, format, pause)
MAX_HTML_BYTES = 100_000  # Gmail clips larger messages
_SAFE_SCHEMES = ("http://", "https://", "mailto:")
# Styles are inlined for clients that drop <style>; the block stays for its @media rules.
_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


_TOKEN_MARK = "@@"
_DEFUSED_MARK = "@\u2060@"  # a word joiner between the two: the same to a reader


def _defuse_tokens(value: Any) -> Any:
    """Every value a template prints (a report's title, a summary, a source…) with the
    per-reader tokens' mark broken by an invisible word joiner: only the tokens the templates
    write themselves are filled in per reader, never text that came from a report."""
    if isinstance(value, Markup):
        return Markup(str(value).replace(_TOKEN_MARK, _DEFUSED_MARK))
    if isinstance(value, str):
        return value.replace(_TOKEN_MARK, _DEFUSED_MARK)
    return value


def N_(message: str) -> str:  # noqa: N802 - the conventional name for a deferred translation
    """Mark a string for the catalog; it is translated where it is used."""
    return message


KIND_LABELS = {
    "Situation Report": N_("Situation reports"),
    "News and Press Release": N_("News and press releases"),
    "Report": N_("Reports"),
    "Appeal": N_("Appeals"),
    "Assessment": N_("Assessments"),
    "Analysis": N_("Analysis"),
    "Flash Update": N_("Flash updates"),
    "Press Release": N_("News and press releases"),
}
OTHER_KIND = N_("Other reports")
GREETING_NAMED = N_("Hello, %(name)s!")
GREETING_ANONYMOUS = N_("Hello!")
MANAGE_SUBJECT = N_("Manage your subscription")
ADDRESS_SUBJECT = N_("Confirm your new address")
EDITION_NOTICE = N_("You are reading the %(language)s edition: the %(wanted)s edition of this "
                    "mail is not ready yet.")
DIGEST_SUBJECT = N_("%(list)s: %(reports)s, %(date)s")
ALERT_SUBJECT = N_("Alert: %(title)s")
CONFIRM_SUBJECT = N_("Please confirm your subscription to %(list)s")


@dataclass(frozen=True)
class MailItem:
    """One report as it appears in a mail in one language."""

    report_id: int
    title: str
    summary: tuple[str, ...]
    sources: tuple[str, ...]
    kind: str | None
    published: date | None
    link: str
    original_language: str
    model: str | None = None  # set when the text was machine-translated
    fallback: bool = False  # not translated for this reader: this is the original text
    fallback_reason: str = ""  # why: "no_model" (no translation yet), "review", "flagged"
    reviewed: bool = False  # a person approved the translation
    original_link: str = ""  # the report in its own language, when this is a translation


@dataclass(frozen=True)
class MailIssue:
    """What one mail says: an alert (one report) or a digest (several), in one language."""

    kind: str  # "alert" or "digest"
    language: str
    list_title: str
    issue_date: date
    items: tuple[MailItem, ...]


@dataclass(frozen=True)
class Rendered:
    """An issue rendered in one language, with the per-subscriber tokens still in it."""

    language: str
    subject: str
    preheader: str
    html: str
    text: str
    greetings: Mapping[str, str] = field(default_factory=dict)  # "named" / "anonymous"
    # Per language a reader may have wanted first, the notice that this one is their next
    # choice (:func:`with_edition_notice`), in this mail's language.
    notices: Mapping[str, str] = field(default_factory=dict)


Catalogs = dict[str, gettext.NullTranslations]


def load_translations(folders: Path | Sequence[Path],
                      locales: Sequence[str] = LANGUAGES) -> Catalogs:
    """The catalogs ``<folder>/<locale>/LC_MESSAGES/messages.po`` of the first folder that has
    one for each locale, compiled in memory (a ``messages.mo`` beside it, as
    ``pybabel compile`` writes it, is used instead when newer)."""
    candidates = [folders] if isinstance(folders, Path) else list(folders)
    catalogs: Catalogs = {}
    for locale in locales:
        found = [folder / locale / "LC_MESSAGES" / "messages.po" for folder in candidates
                 if (folder / locale / "LC_MESSAGES").is_dir()]
        po = found[0] if found else candidates[-1] / locale / "LC_MESSAGES" / "messages.po"
        mo = po.with_suffix(".mo")
        if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
            with mo.open("rb") as handle:
                catalogs[locale] = gettext.GNUTranslations(handle)
        elif po.is_file():
            with po.open("rb") as handle:
                catalog = read_po(handle, locale=locale)
            buffer = io.BytesIO()
            write_mo(buffer, catalog)
            buffer.seek(0)
            catalogs[locale] = gettext.GNUTranslations(buffer)
        else:
            catalogs[locale] = gettext.NullTranslations()
    return catalogs


def safe_url(value: str) -> str:
    """A link target only if it is http(s) or mailto: ``javascript:`` and the like become ``#``
    (autoescaping alone does not stop them)."""
    cleaned = re.sub(r"[\x00-\x20]", "", value or "")
    return value.strip() if cleaned.lower().startswith(_SAFE_SCHEMES) else "#"


class Renderer:
    """The template set with one Jinja2 environment per language. ``templates`` may be several
    folders: a template is taken from the first that has it (an instance's own overrides, then
    the templates that come with newsletter). Source organisations the ``names`` glossary
    knows are shown in the reader's language."""

    def __init__(self, templates: Path | Sequence[Path], translations: Mapping[str, Any],
                 names: Glossary | None = None) -> None:
        self.translations: Catalogs = dict(translations)
        self.names = names or Glossary()
        self._environments = {
            lang: self._environment(templates, lang) for lang in self.translations
        }

    def _environment(self, templates: Path | Sequence[Path],
                     language: str) -> jinja2.Environment:
        folders = [templates] if isinstance(templates, Path) else list(templates)
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(folder) for folder in folders]),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",),
                                                default_for_string=True),
            undefined=jinja2.StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            finalize=_defuse_tokens,
        )
        env.install_gettext_translations(self.translations[language], newstyle=True)  # type: ignore[attr-defined]
        env.filters["format_date"] = lambda value: babel_format_date(value, "long", locale=language)
        env.filters["safe_url"] = safe_url
        env.filters["language_name"] = lambda code: language_name(code, language)
        env.filters["language_name_in_own"] = lambda code: language_name(code, code)
        return env

    def render_confirmation(self, language: str, list_title: str, confirm_url: str,
                            today: date) -> Rendered:
        """The double opt-in mail: one link that confirms the subscription."""
        env = self._environments[language]
        _ = self.gettext(language)
        subject = _(CONFIRM_SUBJECT) % {"list": list_title}
        context: dict[str, Any] = {"language": language, "subject": subject,
                                   "preheader": subject, "list_title": list_title,
                                   "issue_date": today, "confirm_url": confirm_url}
        html_body = _INLINER.inline(env.get_template("confirm.html").render(context))
        text_body = env.get_template("confirm.txt").render(context)
        return Rendered(language, subject, subject, html_body,
                        re.sub(r"\n{3,}", "\n\n", text_body).strip() + "\n",
                        {"named": _(GREETING_NAMED), "anonymous": _(GREETING_ANONYMOUS)})

    def render_link_mail(self, name: str, language: str, subject: str, url: str,
                         today: date, **context: Any) -> Rendered:
        """A mail that carries one link for its reader (``name``.html and .txt: the link to
        their own page, or the one that confirms their new address); ``subject`` is an
        untranslated message id."""
        env = self._environments[language]
        _ = self.gettext(language)
        title = _(subject)
        values: dict[str, Any] = {"language": language, "subject": title, "preheader": title,
                                  "list_title": title, "issue_date": today, "url": url,
                                  **context}
        html_body = _INLINER.inline(env.get_template(f"{name}.html").render(values))
        text_body = env.get_template(f"{name}.txt").render(values)
        return Rendered(language, title, title, html_body,
                        re.sub(r"\n{3,}", "\n\n", text_body).strip() + "\n",
                        {"named": _(GREETING_NAMED), "anonymous": _(GREETING_ANONYMOUS)})

    def page(self, name: str, language: str, **context: Any) -> str:
        """A web page of the local app, in ``language``."""
        return self._environments[language].get_template(name).render(language=language,
                                                                       **context)

    def gettext(self, language: str) -> Callable[[str], str]:
        return self.translations[language].gettext

    def render(self, issue: MailIssue) -> Rendered:
        """The subject, preheader, HTML (CSS inlined) and text of ``issue``."""
        if issue.language not in self._environments:
            raise KeyError(f"no catalog for language {issue.language!r}")
        env = self._environments[issue.language]
        _ = self.gettext(issue.language)
        issue = replace(issue, items=tuple(
            replace(item, sources=tuple(self.names.name_in(source, issue.language)
                                        for source in item.sources))
            for item in issue.items))
        subject = _subject(issue, self.translations[issue.language])
        preheader = _preheader(issue)
        context: dict[str, Any] = {
            "language": issue.language,
            "subject": subject,
            "preheader": preheader,
            "list_title": issue.list_title,
            "issue_date": issue.issue_date,
            "items": issue.items,
            "groups": _groups(issue.items, _),
        }
        html_body = env.get_template(f"{issue.kind}.html").render(context)
        html_body = _INLINER.inline(html_body)
        text_body = env.get_template(f"{issue.kind}.txt").render(context)
        return Rendered(
            language=issue.language,
            subject=subject,
            preheader=preheader,
            html=html_body,
            text=re.sub(r"\n{3,}", "\n\n", text_body).strip() + "\n",
            greetings={"named": _(GREETING_NAMED), "anonymous": _(GREETING_ANONYMOUS)},
            notices={wanted: _(EDITION_NOTICE) % {
                "language": language_name(issue.language, issue.language),
                "wanted": language_name(wanted, issue.language)}
                for wanted in LANGUAGES if wanted != issue.language},
        )


def with_edition_notice(rendered: Rendered, wanted: str | None) -> Rendered:
    """``rendered`` for a reader who wanted ``wanted`` first and gets this language, the next
    of their chain: the notice that says so follows the greeting, in both parts. Unchanged
    when ``wanted`` is None or this language."""
    notice = rendered.notices.get(wanted or "")
    if not notice:
        return rendered
    html_notice = f'<p class="notice warning">{html.escape(notice)}</p>'
    head, token, tail = rendered.html.partition(GREETING_TOKEN)
    close = tail.find("</p>")
    html_body = (head + token + tail[:close + 4] + html_notice + tail[close + 4:]
                 if token and close >= 0 else rendered.html)
    text_body = rendered.text.replace(GREETING_TOKEN, f"{GREETING_TOKEN}\n\n{notice}", 1)
    return replace(rendered, html=html_body, text=text_body)


def language_name(code: str, in_language: str) -> str:
    """The name of language ``code`` in ``in_language`` ("английский" for en in ru)."""
    try:
        return str(Locale.parse(in_language).languages.get(code, code))
    except ValueError:
        return code


@dataclass(frozen=True)
class _Group:
    label: str
    items: tuple[MailItem, ...]


def _groups(items: Iterable[MailItem], _: Callable[[str], str]) -> list[_Group]:
    """Digest items grouped by the kind of report, in the order kinds first appear."""
    order: dict[str, list[MailItem]] = {}
    for item in items:
        label = _(KIND_LABELS.get(item.kind or "", OTHER_KIND))
        order.setdefault(label, []).append(item)
    return [_Group(label, tuple(members)) for label, members in order.items()]


def _subject(issue: MailIssue, catalog: gettext.NullTranslations) -> str:
    if issue.kind == "alert":
        return catalog.gettext(ALERT_SUBJECT) % {"title": issue.items[0].title}
    count = len(issue.items)
    reports = catalog.ngettext("%(count)s report", "%(count)s reports", count) % {"count": count}
    when = babel_format_date(issue.issue_date, "medium", locale=issue.language)
    return catalog.gettext(DIGEST_SUBJECT) % {"list": issue.list_title, "reports": reports,
                                              "date": when}


def _preheader(issue: MailIssue) -> str:
    """The line mail clients show after the subject: the start of the first summary."""
    first = issue.items[0]
    text = " ".join(first.summary) or first.title
    return text if len(text) <= 120 else text[:117].rsplit(" ", 1)[0] + "…"
