"""The core stays pure: no database, SMTP, translation engine or scheduler imports."""

from __future__ import annotations

import ast

import pytest

from tests.helpers import REPO

CORE = ["model", "errors", "config", "decode", "language", "reports", "summarise", "translate",
        "render", "compose", "subscribers", "outbox"]
EDGE_LIBRARIES = {"sqlite3", "aiosmtplib", "smtplib", "argostranslate", "ctranslate2",
                  "apscheduler", "click", "urllib", "socket"}


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_no_edge_library(module: str) -> None:
    tree = ast.parse((REPO / "newsletter" / f"{module}.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & EDGE_LIBRARIES


def test_only_the_cli_prints() -> None:
    for path in (REPO / "newsletter").glob("*.py"):
        if path.name == "cli.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Name) and node.func.id in {"print", "exit"}]
        assert not calls, f"{path.name} prints or exits"
