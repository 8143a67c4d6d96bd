"""Install, list, remove, check and build Argos translation packages (I/O).

An ``.argosmodel`` is a zip archive holding one folder (``metadata.json``, ``model/`` for
CTranslate2, ``sentencepiece.model`` or ``bpe.model``). Archives come from outside, so
installing one is defensive: every member must stay inside that one folder (no absolute paths,
no ``..``, no links), sizes are capped and counted while extracting (a member's declared size
is not trusted), the package is extracted next to its final place and moved there only when
complete, an installed package is never overwritten unless asked, and the archive's SHA-256 is
recorded in the package's ``.install.json``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import tempfile
import time
import urllib.request
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from newsletter.errors import ModelError
from newsletter.languages import NAMES
from newsletter.translate.core import engine_marks, mask, quality_flags
from newsletter.translate.engine import (
    INSTALL_RECORD,
    TARGET_TOKENIZER,
    ArgosEngine,
    InstalledModel,
    installed_models,
    read_model,
)

_CHUNK = 1 << 20
PROBES = {
    "en": "The situation in the flooded districts remains difficult.",
    "ru": "Ситуация в пострадавших районах остается сложной.",
    "kk": "Су басқан аудандардағы жағдай әлі де күрделі.",
}


@dataclass(frozen=True)
class Limits:
    """Caps on what an archive may unpack to."""

    max_bytes: int = 2_000_000_000  # all members together, uncompressed
    max_members: int = 10_000
    max_ratio: int = 200  # uncompressed / compressed, per member: more is a zip bomb


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _package_folder(archive: zipfile.ZipFile, limits: Limits, name: str) -> str:
    """The one top-level folder of the archive, after checking every member's path and type."""
    members = archive.infolist()
    if not members:
        raise ModelError(f"{name} is an empty archive")
    if len(members) > limits.max_members:
        raise ModelError(f"{name} has {len(members)} members, more than {limits.max_members}")
    tops = set()
    seen = set()
    for info in members:
        path = PurePosixPath(info.filename)
        if info.filename.startswith(("/", "\\")) or "\\" in info.filename or ":" in path.parts[0]:
            raise ModelError(f"{name}: member {info.filename!r} has an absolute path")
        if any(part in ("..", "") for part in path.parts) or not path.parts:
            raise ModelError(f"{name}: member {info.filename!r} escapes the package folder")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ModelError(f"{name}: member {info.filename!r} is a symbolic link")
        if info.filename in seen:
            raise ModelError(f"{name}: member {info.filename!r} appears twice")
        seen.add(info.filename)
        tops.add(path.parts[0])
    if len(tops) != 1:
        raise ModelError(f"{name} must hold exactly one package folder, not {sorted(tops)}")
    return tops.pop()


def _extract(archive: zipfile.ZipFile, destination: Path, limits: Limits, name: str) -> None:
    """Extract member by member, counting real bytes against the caps."""
    total = 0
    for info in archive.infolist():
        target = destination.joinpath(*PurePosixPath(info.filename).parts)
        if not target.resolve().is_relative_to(destination.resolve()):
            raise ModelError(f"{name}: member {info.filename!r} escapes the package folder")
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with archive.open(info) as source, target.open("wb") as sink:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                total += len(chunk)
                if total > limits.max_bytes:
                    raise ModelError(
                        f"{name} unpacks to more than {limits.max_bytes:,} bytes",
                        hint="raise [models] max_bytes if this package is genuine",
                    )
                if written > max(info.compress_size, 1) * limits.max_ratio and written > _CHUNK:
                    raise ModelError(
                        f"{name}: member {info.filename!r} expands more than "
                        f"{limits.max_ratio}× (a zip bomb?)"
                    )
                sink.write(chunk)


def install(
    archive_path: Path, packages_dir: Path, *, limits: Limits = Limits(), replace: bool = False,
    now: datetime | None = None,
) -> InstalledModel:
    """Install an ``.argosmodel`` file into ``packages_dir`` and return the installed model."""
    name = archive_path.name
    if not archive_path.is_file():
        raise ModelError(f"no such file: {archive_path}",
                         hint="give the path of an .argosmodel file")
    if archive_path.stat().st_size > limits.max_bytes:
        raise ModelError(f"{name} is larger than {limits.max_bytes:,} bytes",
                         hint="raise [models] max_bytes if this package is genuine")
    if not zipfile.is_zipfile(archive_path):
        raise ModelError(f"{name} is not an Argos package (not a zip archive)",
                         hint=_DAMAGED_HINT)
    packages_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _install(archive_path, packages_dir, limits=limits, replace=replace, now=now)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise ModelError(f"{name} is damaged: {exc}", hint=_DAMAGED_HINT) from exc
    except RuntimeError as exc:  # zipfile's word for an encrypted member
        if "encrypted" not in str(exc):
            raise
        raise ModelError(f"{name} has encrypted members: {exc}",
                         hint="Argos packages are never encrypted; build or download it "
                              "again") from exc


_DAMAGED_HINT = ("download or build the package again (`newsletter models build`) and check "
                 "its size or checksum; nothing was installed")


def _install(archive_path: Path, packages_dir: Path, *, limits: Limits, replace: bool,
             now: datetime | None) -> InstalledModel:
    name = archive_path.name
    with zipfile.ZipFile(archive_path) as archive:
        folder = _package_folder(archive, limits, name)
        final = packages_dir / folder
        with tempfile.TemporaryDirectory(prefix=".installing-", dir=packages_dir) as tmp:
            _extract(archive, Path(tmp), limits, name)
            staged = Path(tmp) / folder
            model = read_model(staged)
            if not (staged / "model" / "model.bin").is_file():
                raise ModelError(f"{name} has no CTranslate2 model (model/model.bin)")
            if not any((staged / f).is_file() for f in ("sentencepiece.model", "bpe.model")):
                raise ModelError(f"{name} has no tokenizer (sentencepiece.model or bpe.model)")
            pair = (model.from_code, model.to_code)
            clashes = [m for m in installed_models(packages_dir)
                       if m.name == folder or (m.from_code, m.to_code) == pair]
            if clashes and not replace:
                other = clashes[0]
                raise ModelError(
                    f"{other.name} ({other.from_code}→{other.to_code}, version {other.version}) "
                    "is already installed",
                    hint=f"remove it first with `newsletter models remove {other.name}`, "
                    "or install with --replace",
                )
            record = {
                "sha256": sha256_of(archive_path),
                "archive": name,
                "size": archive_path.stat().st_size,
                "installed_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            }
            (staged / INSTALL_RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
            for old in clashes:
                shutil.rmtree(old.path)
            staged.rename(final)
    return read_model(final)


def remove(name: str, packages_dir: Path) -> InstalledModel:
    """Uninstall the package called ``name``."""
    for model in installed_models(packages_dir):
        if model.name == name:
            shutil.rmtree(model.path)
            return model
    names = ", ".join(m.name for m in installed_models(packages_dir)) or "none"
    raise ModelError(f"no installed model called {name!r}",
                     hint=f"installed: {names}; `newsletter models list` shows them")


@dataclass(frozen=True)
class CheckResult:
    """How one model did on the probe sentence."""

    model: InstalledModel
    ok: bool
    output: str
    seconds: float
    error: str | None = None


def check(engine: ArgosEngine, models: Sequence[InstalledModel] | None = None) -> list[CheckResult]:
    """Load each model and translate a probe sentence in its source language; the output
    must pass the quality checks every translation gets (script, length, repetition, Kazakh
    letters…), so a model that answers with gibberish fails."""
    results = []
    for model in models if models is not None else engine.models():
        probe = PROBES.get(model.from_code, PROBES["en"])
        started = time.perf_counter()
        try:
            [output] = engine.translate(model, [probe])
        except ModelError as exc:
            results.append(CheckResult(model, False, "", time.perf_counter() - started, str(exc)))
            continue
        flags = quality_flags(mask(probe, model.from_code), output, model.to_code)
        text, _ = engine_marks(output)
        problem = ("the model returned nothing" if not text.strip()
                   else "; ".join(f"{flag.code}: {flag.detail}" for flag in flags) or None)
        results.append(CheckResult(model, problem is None, text, time.perf_counter() - started,
                                   problem))
    return results


INDEX_URL = "https://raw.githubusercontent.com/argosopentech/argospm-index/main/index.json"


def install_from_index(
    language: str, packages_dir: Path, *, source: str = "en", index_url: str = INDEX_URL,
    limits: Limits = Limits(), timeout: float = 30.0,
) -> InstalledModel:
    """Download the public Argos index's ``source``→``language`` package and install it.

    Needs a network; offline it fails at once with a message that says how to install from a
    file. (argostranslate's own index update retries a failed download recursively until
    Python's recursion limit, so we fetch the index ourselves, once.)
    """
    offline_hint = (
        "this machine cannot reach the Argos package index; on a connected machine download "
        f"translate-{source}_{language}.argosmodel, carry it here and run "
        "`newsletter models install FILE.argosmodel`"
    )
    try:
        with urllib.request.urlopen(index_url, timeout=timeout) as response:
            index = json.loads(response.read(10_000_000))
    except (OSError, ValueError) as exc:  # URLError is an OSError
        raise ModelError(f"cannot read the Argos package index: {exc}", hint=offline_hint) from exc
    matches = [p for p in index if isinstance(p, dict)
               and (p.get("from_code"), p.get("to_code")) == (source, language) and p.get("links")]
    if not matches:
        hint = ("the public index has no Kazakh models: build one from an OPUS-MT or NLLB "
                "checkpoint with `newsletter models build` (see the README)"
                if language == "kk" else "`newsletter models build` makes a package from a "
                "local OPUS-MT or NLLB checkpoint")
        raise ModelError(f"the Argos index has no {source}→{language} package", hint=hint)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / f"translate-{source}_{language}.argosmodel"
        try:
            with urllib.request.urlopen(matches[0]["links"][0], timeout=timeout) as response, \
                    archive.open("wb") as sink:
                copied = 0
                while chunk := response.read(_CHUNK):
                    copied += len(chunk)
                    if copied > limits.max_bytes:
                        raise ModelError(f"the download is larger than {limits.max_bytes:,} bytes")
                    sink.write(chunk)
        except OSError as exc:
            raise ModelError(f"downloading {source}→{language} failed: {exc}",
                             hint=offline_hint) from exc
        return install(archive, packages_dir, limits=limits)


# -- building packages --------------------------------------------------------------------------

NLLB_CODES = {"en": "eng_Latn", "ru": "rus_Cyrl", "kk": "kaz_Cyrl"}


@dataclass(frozen=True)
class BuildPlan:
    """How to turn a checkpoint into an Argos package."""

    checkpoint: Path
    from_code: str
    to_code: str
    kind: str  # "marian" or "nllb"
    source_token: str | None  # e.g. ">>kaz_Cyrl<<", prepended to every source by the model config
    target_prefix: str | None  # e.g. "kaz_Cyrl", forced as the first target token
    version: str = "1.0"
    quantization: str | None = None


def plan_build(
    checkpoint: Path, from_code: str, to_code: str, *, source_token: str | None = None,
    target_prefix: str | None = None, version: str = "1.0", quantization: str | None = None,
) -> BuildPlan:
    """Read the checkpoint's ``config.json`` and decide how its language tokens are handled.

    OPUS-MT/Tatoeba Marian models that serve several target languages select one with a source
    token such as ``>>kaz_Cyrl<<``; NLLB selects the source language with a source token
    (``eng_Latn``) and the target with a forced target prefix (``kaz_Cyrl``).
    """
    try:
        config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{checkpoint} is not a Transformers checkpoint (config.json: {exc})",
                         hint="give the folder of an OPUS-MT (Marian) or NLLB checkpoint") from exc
    model_type = config.get("model_type")
    if model_type == "marian":
        return BuildPlan(checkpoint, from_code, to_code, "marian", source_token, target_prefix,
                         version, quantization)
    if model_type == "m2m_100":
        if from_code not in NLLB_CODES or to_code not in NLLB_CODES:
            raise ModelError(f"no NLLB language code known for {from_code} or {to_code}")
        return BuildPlan(checkpoint, from_code, to_code, "nllb",
                         source_token or NLLB_CODES[from_code],
                         target_prefix or NLLB_CODES[to_code], version, quantization)
    raise ModelError(f"{checkpoint}: model type {model_type!r} is neither marian nor m2m_100",
                     hint="`newsletter models build` converts OPUS-MT (Marian) and NLLB models")


def build(plan: BuildPlan, out_dir: Path) -> Path:
    """Convert the checkpoint with CTranslate2's converter and write an ``.argosmodel``."""
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError as exc:  # pragma: no cover - ctranslate2 always has its converters
        raise ModelError("CTranslate2's converters are not available") from exc
    name = f"translate-{plan.from_code}_{plan.to_code}"
    out_dir.mkdir(parents=True, exist_ok=True)
    archive_path = out_dir / f"{name}.argosmodel"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / name
        folder.mkdir()
        try:
            TransformersConverter(str(plan.checkpoint)).convert(
                str(folder / "model"), quantization=plan.quantization, force=True
            )
        except ImportError as exc:
            raise ModelError(
                f"converting needs the optional packages: {exc}",
                hint="pip install 'newsletter[build]' (transformers) on the machine that builds",
            ) from exc
        _adjust_model_config(folder / "model" / "config.json", plan)
        _copy_tokenizers(plan, folder)
        metadata: dict[str, object] = {
            "package_version": plan.version, "argos_version": "1.9", "type": "translate",
            "code": name, "from_code": plan.from_code, "to_code": plan.to_code,
            "from_name": NAMES.get(plan.from_code, plan.from_code),
            "to_name": NAMES.get(plan.to_code, plan.to_code), "links": [],
        }
        if plan.target_prefix:
            metadata["target_prefix"] = plan.target_prefix
        (folder / "metadata.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
        (folder / "README.md").write_text(
            f"{plan.from_code}→{plan.to_code} model converted by `newsletter models build` from "
            f"the {plan.kind} checkpoint {plan.checkpoint.name}.\n"
            f"Source token: {plan.source_token or 'none'}; target prefix: "
            f"{plan.target_prefix or 'none'}.\n",
            encoding="utf-8",
        )
        with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                archive.write(path, path.relative_to(folder.parent))
    return archive_path


def _adjust_model_config(path: Path, plan: BuildPlan) -> None:
    """Make CTranslate2 add the language token and end-of-sentence itself, so that neither
    argostranslate nor we need to know about them (config ``add_source_bos``/``bos_token``)."""
    config = json.loads(path.read_text(encoding="utf-8"))
    config["add_source_eos"] = True  # both families end every source with </s>
    if plan.source_token:
        config["add_source_bos"] = True
        config["bos_token"] = plan.source_token
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def _copy_tokenizers(plan: BuildPlan, folder: Path) -> None:
    checkpoint = plan.checkpoint
    if plan.kind == "marian":
        source, target = checkpoint / "source.spm", checkpoint / "target.spm"
        if not source.is_file():
            raise ModelError(f"{checkpoint} has no source.spm (a Marian SentencePiece model)")
        shutil.copy(source, folder / "sentencepiece.model")
        if target.is_file():
            shutil.copy(target, folder / TARGET_TOKENIZER)
        return
    spm_file = checkpoint / "sentencepiece.bpe.model"
    if not spm_file.is_file():
        raise ModelError(f"{checkpoint} has no sentencepiece.bpe.model (the NLLB tokenizer)")
    shutil.copy(spm_file, folder / "sentencepiece.model")
