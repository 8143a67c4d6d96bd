"""newsletter installs as a package: the wheel built from this checkout, installed into a fresh
virtual environment outside it, sets up an office and sends its digest with the templates and
catalogs it carries (none of the checkout's files are on its path).

Offline: the wheel is installed without its dependencies, which the environment takes from
the one the tests run in (a ``.pth`` line adds that environment's packages after its own; the
editable install's import hook there is not loaded, so ``newsletter`` can only come from the
wheel). Installing the dependencies themselves is what `scripts/setup` and CI do.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO, SAMPLE_REPORT, drop


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.mark.slow
def test_the_wheel_installed_elsewhere_runs_an_office(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--wheel-dir", str(dist), str(REPO)], tmp_path, dict(os.environ))
    [wheel] = dist.glob("newsletter-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for packaged in ("newsletter/templates/base.html", "newsletter/templates/web/layout.html",
                     "newsletter/translations/kk/LC_MESSAGES/messages.po",
                     "newsletter/translations/glossary.csv", "newsletter/reports/places.csv"):
        assert packaged in names, packaged

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path,
         dict(os.environ))
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     tmp_path, dict(os.environ)).strip())
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--no-index", str(wheel)], tmp_path, dict(os.environ))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("NEWSLETTER_", "PYTHON"))}
    env.update(NEWSLETTER_WEB_SECRET="wheel-test-secret-0123456789abcdef", HOME=str(tmp_path))
    where = _run([str(python), "-c", "import newsletter; print(newsletter.__file__)"],
                 elsewhere, env)
    assert where.startswith(str(venv)), where  # the wheel's, not the checkout's
    newsletter = str(venv / "bin" / "newsletter")
    _run([newsletter, "init", "office"], elsewhere, env)
    office = elsewhere / "office"
    assert (office / "translations" / "glossary.csv").is_file()  # copied from the package
    drop(office / "seeds", "sample.txt", SAMPLE_REPORT.read_bytes())
    _run([newsletter, "lists", "add", "daily", "--title", "Daily", "--title-ru", "Ежедневно",
          "--title-kk", "Күнделікті"], office, env)
    for language in ("en", "ru", "kk"):
        _run([newsletter, "subscribers", "add", f"{language}@example.org", "--list", "daily",
              "--language", language], office, env)
    _run([newsletter, "run", "--once", "--digest", "daily"], office, env)
    mails = sorted((office / "var" / "outbox" / "mail").glob("*.eml"))
    assert len(mails) == 3
    kazakh = next(m.read_bytes() for m in mails if b"kk@example.org" in m.read_bytes())
    assert b"Content-Language: kk" in kazakh  # rendered with the packaged catalogs
