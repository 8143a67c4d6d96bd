"""Commands for reviewing translations: what waits, side by side, edit, approve, reject, and
the translation memory as TMX."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

import click

from newsletter.cli.common import Context, emit_json, handle_errors, print_table
from newsletter.errors import NewsletterError, NotFound
from newsletter.languages import LANGUAGES

_BY = "Who reviews (default: $USER)."


@click.group()
def review() -> None:
    """Review machine translations before they reach readers (lists' `review` setting)."""


def _reviewer(by: str | None) -> str:
    return by or os.environ.get("USER") or "reviewer"


@review.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per edition.")
@click.pass_obj
@handle_errors
def review_list(obj: Context, as_json: bool) -> None:
    """Editions waiting for a reviewer, oldest first, with their flags and the lists whose
    readers wait for them."""
    from newsletter.issues.create import audience
    from newsletter.translate.review import waiting

    instance = obj.instance
    with instance.open_store() as store:
        lists = instance.lists_of(store).all()
        rules = {name: spec.review for name, spec in lists.items()}
        found = waiting(store, rules)
        audiences = {name: audience(store, lists[name])
                     for name in {n for e in found for n in e["held_from"]} if name in lists}
    for entry in found:  # the readers of that language on each list it is held back from
        entry["readers_waiting"] = {name: audiences[name].get(entry["language"], 0)
                                    for name in entry["held_from"] if name in audiences}
    if as_json:
        for entry in found:
            emit_json(entry)
        return
    if not found:
        click.echo("Nothing waits for a reviewer.")
        return
    print_table(("REPORT", "LANG", "STATE", "FLAGS", "READERS WAITING", "TITLE"),
                [(str(e["report_id"]), e["language"], e["state"], e["flags_text"] or "-",
                  ", ".join(f"{n} on {name}" for name, n in e["readers_waiting"].items())
                  or "-", e["title"]) for e in found])
    click.echo("`newsletter review show REPORT --lang L` shows one side by side.")


@review.command("show")
@click.argument("report_id", type=int, metavar="REPORT")
@click.option("--lang", "language", required=True, type=click.Choice(LANGUAGES))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def review_show(obj: Context, report_id: int, language: str, as_json: bool) -> None:
    """The original and the translation side by side, sentence by sentence, flags marked."""
    from newsletter.translate.review import current_text, edition_to_review

    with obj.instance.open_store() as store:
        stored = store.reports.get(report_id)
        summary = store.summaries.of(report_id) or ()
        edition = edition_to_review(store, report_id, language)
    reviewed = edition.review
    title, sentences = current_text(edition)
    rows = [("title", stored.report.title, title),
            *((str(i + 1), source, sentences[i] if i < len(sentences) else "")
              for i, source in enumerate(summary))]
    if as_json:
        emit_json({"report_id": report_id, "language": language,
                   "source_language": stored.report.language,
                   "state": reviewed.state.value if reviewed else "machine",
                   "sentences": [{"part": p, "source": s, "target": t} for p, s, t in rows],
                   "flags": [f.as_dict() for f in edition.flags]})
        return
    state = reviewed.state.value if reviewed else "machine"
    click.echo(f"Report {report_id}: {stored.report.language} → {language} ({state}, "
               f"model {edition.model or '-'})")
    for part, source, target in rows:
        click.echo(f"[{part}]")
        click.echo(f"  {stored.report.language}: {source}")
        click.echo(f"  {language}: {target}")
    for flag in edition.flags:
        click.echo(f"! {flag.code}: {flag.detail}")


def _from_editor(title: str, summary: tuple[str, ...], report_id: int, language: str
                 ) -> tuple[str, tuple[str, ...]]:
    """Open $EDITOR (or $VISUAL, else vi) on the title and summary; what was saved."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"report-{report_id}.{language}.txt"
        path.write_text(f"# Report {report_id} in {language}: the title on the first line, then "
                        "a blank line,\n# then the summary, one sentence per line. Lines "
                        "starting with # are ignored.\n"
                        f"{title}\n\n" + "\n".join(summary) + "\n", encoding="utf-8")
        try:
            subprocess.run([*shlex.split(editor), str(path)], check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise NewsletterError(f"the editor {editor!r} did not finish: {exc}",
                                  hint="set EDITOR, or give --title and --summary-file") from exc
        lines = [line for line in path.read_text(encoding="utf-8").splitlines()
                 if not line.startswith("#")]
    lines = [line.strip() for line in lines]
    while lines and not lines[0]:
        lines.pop(0)
    if not lines:
        raise NewsletterError("the edited file has no title: nothing saved",
                              hint="keep the title on the first line")
    return lines[0], tuple(line for line in lines[1:] if line)


@review.command("edit")
@click.argument("report_id", type=int, metavar="REPORT")
@click.option("--lang", "language", required=True, type=click.Choice(LANGUAGES))
@click.option("--title", help="The corrected title (no editor is opened).")
@click.option("--summary-file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="The corrected summary, one sentence per line (no editor is opened).")
@click.option("--by", help=_BY)
@click.pass_obj
@handle_errors
def review_edit(obj: Context, report_id: int, language: str, title: str | None,
                summary_file: Path | None, by: str | None) -> None:
    """Correct the title and summary of a translation (it still needs `approve`)."""
    from newsletter.translate.review import current_text, edit, edition_to_review

    with obj.instance.open_store() as store:
        current_title, current = current_text(edition_to_review(store, report_id, language))
        if title is None and summary_file is None:
            title, summary = _from_editor(current_title, current, report_id, language)
        else:
            summary = (tuple(line.strip() for line in summary_file.read_text(
                encoding="utf-8").splitlines() if line.strip()) if summary_file else current)
            title = title.strip() if title else current_title
        edit(store, report_id, language, title, summary, _reviewer(by), store.clock()())
    click.echo(f"Report {report_id} in {language}: edited; `newsletter review approve "
               f"{report_id} --lang {language}` sends it to the readers waiting for it")


@review.command("approve")
@click.argument("report_id", type=int, metavar="REPORT")
@click.option("--lang", "language", required=True, type=click.Choice(LANGUAGES))
@click.option("--by", help=_BY)
@click.pass_obj
@handle_errors
def review_approve(obj: Context, report_id: int, language: str, by: str | None) -> None:
    """Approve a translation (as edited, if it was): readers held back from it get it with the
    next run of the service, once each."""
    from newsletter.translate.review import approve

    instance = obj.instance
    with instance.open_store() as store:
        remembered = approve(store, report_id, language, _reviewer(by), store.clock()(),
                             instance.glossary())
        held = [h.list_name for h in store.holds.waiting()
                if (h.report_id, h.language) == (report_id, language)]
    click.echo(f"Report {report_id} in {language}: approved ({remembered} sentence(s) kept "
               "in the translation memory)"
               + (f"; it goes to the readers held back on {', '.join(held)}" if held else ""))


@review.command("reject")
@click.argument("report_id", type=int, metavar="REPORT")
@click.option("--lang", "language", required=True, type=click.Choice(LANGUAGES))
@click.option("--reason", required=True, help="Why (shown with the original to readers' "
                                               "editors, and in `reports show`).")
@click.option("--by", help=_BY)
@click.pass_obj
@handle_errors
def review_reject(obj: Context, report_id: int, language: str, reason: str,
                  by: str | None) -> None:
    """Never send this translation: its readers get the original, for good."""
    from newsletter.translate.review import reject

    with obj.instance.open_store() as store:
        reject(store, report_id, language, reason, _reviewer(by), store.clock()())
    click.echo(f"Report {report_id} in {language}: rejected; its readers get the original")


@review.command("export")
@click.option("--tmx", "out_file", required=True, type=click.Path(path_type=Path),
              help="The TMX 1.4 file to write.")
@click.pass_obj
@handle_errors
def review_export(obj: Context, out_file: Path) -> None:
    """Write the translation memory (every approved sentence pair) as TMX 1.4."""
    from newsletter import __version__
    from newsletter.translate.review import export_memory

    with obj.instance.open_store() as store:
        data = export_memory(store, __version__)
        count = len(store.memory.pairs())
    out_file.write_bytes(data)
    click.echo(f"{count} sentence pair(s) written to {out_file}")


@review.command("import")
@click.argument("tmx_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--source", "source_language", type=click.Choice(LANGUAGES), default="en",
              show_default=True, help="The language the pairs translate from.")
@click.pass_obj
@handle_errors
def review_import(obj: Context, tmx_file: Path, source_language: str) -> None:
    """Add the sentence pairs of a TMX file (from a CAT tool) to the translation memory."""
    from newsletter.translate.review import import_memory

    instance = obj.instance
    with instance.open_store() as store:
        kept, skipped = import_memory(store, tmx_file.read_bytes(), instance.glossary(),
                                      source_language)
    click.echo(f"{kept} sentence pair(s) added to the translation memory"
               + (f"; {skipped} skipped: a number, date or name of the source is not in its "
                  "translation" if skipped else ""))


@click.group()
def reviewers() -> None:
    """Who may log in to the review pages of `newsletter serve`."""


@reviewers.command("add")
@click.argument("name")
@click.pass_obj
@handle_errors
def reviewers_add(obj: Context, name: str) -> None:
    """Add a reviewer, or set a new password: from NEWSLETTER_REVIEWER_PASSWORD, else asked
    for (twice, not shown). At least 12 characters."""
    from newsletter.reviewers import MAX_NAME, MAX_PASSWORD, MIN_PASSWORD, hash_password

    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise NewsletterError(f"a reviewer's name is 1 to {MAX_NAME} characters",
                              hint="e.g. `newsletter reviewers add aigul`")
    password = os.environ.get("NEWSLETTER_REVIEWER_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise NewsletterError(
            f"the password is {len(password):,} characters long: it must have "
            f"{MIN_PASSWORD} to {MAX_PASSWORD:,}", hint="a few words make a good one")
    with obj.instance.open_store() as store:
        store.reviewers.save(name, hash_password(password), store.clock()())
    click.echo(f"Reviewer {name} can log in at {obj.instance.settings.web.base_url}/review")


@reviewers.command("list")
@click.pass_obj
@handle_errors
def reviewers_list(obj: Context) -> None:
    """The reviewers' names."""
    with obj.instance.open_store() as store:
        names = store.reviewers.names()
    click.echo("\n".join(names) if names else "No reviewers yet: `newsletter reviewers add NAME`.")


@reviewers.command("remove")
@click.argument("name")
@click.pass_obj
@handle_errors
def reviewers_remove(obj: Context, name: str) -> None:
    """Remove a reviewer (their sessions end at once)."""
    with obj.instance.open_store() as store:
        if not store.reviewers.remove(name):
            raise NotFound(f"no reviewer {name}", hint="`newsletter reviewers list` names them")
    click.echo(f"Removed reviewer {name}")


COMMANDS: tuple[click.Command, ...] = (review, reviewers)
