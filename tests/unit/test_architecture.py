"""The shape of the package holds: a pure core, one composition root, one home for storage,
modules small enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGE = REPO / "newsletter"
CORE = ["errors", "config", "config_values", "languages", "reports/model", "reports/decode", "reports/language",
        "reports/parse", "reports/chrome", "reports/head", "reports/dates",
        "reports/datelines", "reports/identity", "reports/inflection", "reports/places", "summarise/core", "summarise/words", "summarise/figures", "summarise/digest", "translate/core", "translate/editions", "mail/render",
        "mail/compose", "mail/content", "mail/links", "subscribers/addresses", "subscribers/tokens",
        "lists/spec", "lists/parse", "delivery/rules",
        "delivery/transport", "delivery/relays", "example_config", "issues/model",
        "config_sections", "bounces/verp", "bounces/rules", "bounces/parse", "feeds/xml",
        "feeds/atom", "feeds/cap"]
EDGE_LIBRARIES = {"sqlite3", "psycopg", "aiosmtplib", "smtplib", "argostranslate",
                  "ctranslate2", "apscheduler", "click", "urllib", "socket", "starlette",
                  "imaplib", "poplib", "mailbox"}
MODULES = sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, by its full dotted name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").as_posix()


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_no_edge_library(module: str) -> None:
    imported = {name.split(".")[0] for name in _imports(PACKAGE / f"{module}.py")}
    assert not imported & EDGE_LIBRARIES


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_only_the_cli_prints(path: Path) -> None:
    if _name(path).startswith("cli/"):
        return
    calls = [node for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
             and node.func.id in {"print", "exit"}]
    assert not calls, f"{_name(path)} prints or exits"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_only_the_driving_edges_import_the_composition_root(path: Path) -> None:
    if _name(path).startswith(("cli/", "web/")) or _name(path) == "app":
        return
    assert "newsletter.app" not in _imports(path)


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_only_the_store_speaks_sql(path: Path) -> None:
    if _name(path).startswith("store/"):
        return
    assert not {name.split(".")[0] for name in _imports(path)} & {"sqlite3", "psycopg"}


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_grows_past_600_lines(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= 600, f"{_name(path)} has {lines} lines: split it by concept"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_the_use_cases_know_nothing_of_the_command_line(path: Path) -> None:
    if _name(path).startswith("cli/") or _name(path) == "__main__":
        return
    assert not {name for name in _imports(path) if name.startswith("newsletter.cli")}


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_only_the_message_builder_fills_in_a_template(path: Path) -> None:
    """Every message is finished by ``MessageBuilder`` (``message`` signs its links and
    DKIM-signs it; ``preview`` makes the unsigned previews), so a new kind of mail cannot
    leave unsigned."""
    # dkim.py is the signer itself (it calls the RSA key's sign); messages.py the builder;
    # compose.py the template, whose personalise is its fill joined (fill lays out parts).
    guarded = {"personalise", "fill", "sign", "signature"}
    permitted = {"mail/messages": guarded, "mail/dkim": {"sign", "signature"},
                 "mail/compose": {"fill"}}
    calls = {node.func.attr for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr in guarded}
    assert calls <= permitted.get(_name(path), set()), \
        f"{_name(path)} fills in or signs a message itself"


def test_every_command_is_listed_where_the_command_line_finds_it() -> None:
    import importlib

    from newsletter.cli.main import COMMANDS

    for module in set(COMMANDS.values()):
        names = {command.name for command in
                 importlib.import_module(f"newsletter.cli.{module}").COMMANDS}
        assert names == {name for name, where in COMMANDS.items() if where == module}, module


def test_every_package_goes_into_the_wheel() -> None:
    """pyproject.toml lists the packages one by one (templates and catalogs come from the top
    of the checkout): a new subpackage missing there would be missing from the wheel."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
                 ["tool"]["setuptools"]["packages"])
    found = {".".join(path.parent.relative_to(REPO).parts)
             for path in PACKAGE.rglob("__init__.py")}
    assert found <= listed
