"""Commands for translation models: list, install, build, remove, check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from newsletter.cli.common import (
    Context,
    display_path,
    emit_json,
    handle_errors,
    print_table,
)
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from newsletter.translate.engine import InstalledModel


@click.group()
def models() -> None:
    """Install, list, check and build offline translation models (Argos packages)."""


def _model_dict(model: InstalledModel) -> dict[str, Any]:
    return {"name": model.name, "from": model.from_code, "to": model.to_code,
            "version": model.version, "target_prefix": model.target_prefix or None,
            "sha256": model.sha256, "path": str(model.path)}


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of installed models.")
@click.pass_obj
@handle_errors
def models_list(obj: Context, as_json: bool) -> None:
    """List installed models and the languages they connect."""
    from newsletter.translate.core import plan_route
    from newsletter.translate.engine import installed_models

    settings = obj.instance.settings
    found = installed_models(settings.packages_dir)
    if as_json:
        emit_json([_model_dict(m) for m in found])
        return
    if found:
        print_table(("NAME", "PAIR", "VERSION", "SHA256"),
                     [(m.name, f"{m.from_code}→{m.to_code}", m.version, (m.sha256 or "-")[:12])
                      for m in found])
    else:
        click.echo(f"No models installed in {display_path(settings.packages_dir)}/.")
    refs = [m.ref for m in found]
    languages = settings.translate.languages
    for source in languages:
        for target in languages:
            if source != target and plan_route(refs, source, target) is None:
                click.echo(f"missing: {source}→{target}: install one with "
                           f"`newsletter models install translate-{source}_{target}.argosmodel`",
                           err=True)


@models.command("install")
@click.argument("archive", required=False, type=click.Path(path_type=Path))
@click.option("--from-index", "from_index", metavar="LANG",
              help="Download en→LANG from the public Argos index (needs a network).")
@click.option("--replace", is_flag=True, help="Replace an installed model of the same pair.")
@click.pass_obj
@handle_errors
def models_install(obj: Context, archive: Path | None, from_index: str | None,
                   replace: bool) -> None:
    """Install a model from an .argosmodel FILE (or --from-index LANG)."""
    from newsletter.translate.packages import Limits, install_from_index
    from newsletter.translate.packages import install as install_model

    settings = obj.instance.settings
    if (archive is None) == (from_index is None):
        raise click.UsageError("give an .argosmodel FILE or --from-index LANG")
    if from_index is not None:
        model = install_from_index(from_index, settings.packages_dir,
                                   limits=Limits(max_bytes=settings.models.max_bytes))
    else:
        assert archive is not None
        model = install_model(archive, settings.packages_dir,
                              limits=Limits(max_bytes=settings.models.max_bytes), replace=replace)
    click.echo(f"Installed {model.name} ({model.from_code}→{model.to_code}, version "
               f"{model.version}, sha256 {model.sha256})")


@models.command("build")
@click.argument("checkpoint", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--from", "from_code", required=True, metavar="LANG", help="Source language (en).")
@click.option("--to", "to_code", required=True, metavar="LANG", help="Target language (kk).")
@click.option("--source-token", metavar="TOKEN",
              help="Marian multi-target models: the target token, e.g. '>>kaz_Cyrl<<'.")
@click.option("--target-prefix", metavar="TOKEN",
              help="Force this first target token (NLLB: derived from --to, e.g. kaz_Cyrl).")
@click.option("--version", "package_version", default="1.0", show_default=True)
@click.option("--quantization", type=click.Choice(["int8", "int8_float32", "float16"]),
              help="Smaller, faster weights (int8 suits CPUs).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("."),
              show_default=True, help="Folder for the .argosmodel file.")
@click.option("--install", "install_after", is_flag=True, help="Install the package when built.")
@click.pass_obj
@handle_errors
def models_build(obj: Context, checkpoint: Path, from_code: str, to_code: str,
                 source_token: str | None, target_prefix: str | None, package_version: str,
                 quantization: str | None, out_dir: Path, install_after: bool) -> None:
    """Build an Argos package from a local OPUS-MT (Marian) or NLLB CHECKPOINT folder.

    Needs the optional converter dependencies: pip install 'newsletter[build]'.
    """
    from newsletter.translate.packages import Limits, plan_build
    from newsletter.translate.packages import build as build_package
    from newsletter.translate.packages import install as install_model

    plan = plan_build(checkpoint, from_code, to_code, source_token=source_token,
                      target_prefix=target_prefix, version=package_version,
                      quantization=quantization)
    archive = build_package(plan, out_dir)
    click.echo(f"Built {display_path(archive)} ({plan.kind}; source token "
               f"{plan.source_token or 'none'}; target prefix {plan.target_prefix or 'none'})")
    if install_after:
        settings = obj.instance.settings
        model = install_model(archive, settings.packages_dir,
                              limits=Limits(max_bytes=settings.models.max_bytes), replace=True)
        click.echo(f"Installed {model.name} ({model.from_code}→{model.to_code})")


@models.command("remove")
@click.argument("name")
@click.pass_obj
@handle_errors
def models_remove(obj: Context, name: str) -> None:
    """Uninstall the model called NAME (see `newsletter models list`)."""
    from newsletter.translate.packages import remove as remove_model

    model = remove_model(name, obj.instance.settings.packages_dir)
    click.echo(f"Removed {model.name} ({model.from_code}→{model.to_code})")


@models.command("check")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model.")
@click.pass_obj
@handle_errors
def models_check(obj: Context, as_json: bool) -> None:
    """Load each installed model and translate a probe sentence with it."""
    from newsletter.translate.packages import check as check_models

    results = check_models(obj.instance.engine())
    if as_json:
        for r in results:
            emit_json({**_model_dict(r.model), "ok": r.ok, "output": r.output,
                        "seconds": round(r.seconds, 3), "error": r.error})
    else:
        if not results:
            click.echo("No models installed: nothing to check.")
        for r in results:
            state = "ok  " if r.ok else "FAIL"
            click.echo(f"{state} {r.model.name} ({r.model.from_code}→{r.model.to_code}) "
                       f"{r.seconds:.2f} s: {r.output or r.error}")
            if r.output and r.error:
                click.echo(f"     {r.error}")
    if any(not r.ok for r in results):
        raise NewsletterError("some models failed their check",
                              hint="remove or reinstall the models marked FAIL")




COMMANDS: tuple[click.Command, ...] = (models,)
