"""Translation engine over installed Argos packages, run with CTranslate2 in batches (I/O).

We use argostranslate for what it is good at, its package format and tokenizers, and drive
CTranslate2 ourselves: one ``translate_batch`` call per chunk of sentences (argostranslate
translates one text at a time), sentences split by our own splitter, target prefixes stripped
token by token. We never import ``argostranslate.translate``: it loads stanza and, with its
default sentence splitter, downloads stanza or MiniSBD models. ``argostranslate.package`` only
needs its directories, which :func:`import_argos_package` points at the instance for the
duration of the import (argostranslate reads and creates them at import time).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from newsletter.errors import ModelError
from newsletter.translate.core import ModelRef

INSTALL_RECORD = ".install.json"
# Marian models tokenise source and target with different SentencePiece models; Argos
# packages hold one, so a converted Marian package keeps the target's under this name.
TARGET_TOKENIZER = "target_sentencepiece.model"
_import_lock = threading.Lock()


@dataclass(frozen=True)
class InstalledModel:
    """An Argos package in the instance's package folder."""

    name: str
    path: Path
    from_code: str
    to_code: str
    version: str
    target_prefix: str
    sha256: str | None  # of the archive it was installed from, when we installed it

    @property
    def fingerprint(self) -> str:
        if self.sha256:
            return self.sha256[:12]
        stat = (self.path / "model" / "model.bin").stat()
        return f"{stat.st_size:x}-{stat.st_mtime_ns:x}"

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}#{self.fingerprint}"

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.from_code, self.to_code, self.key)


def read_model(folder: Path) -> InstalledModel:
    """The package in ``folder``, from its ``metadata.json`` (and our install record)."""
    try:
        metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder.name}: unreadable metadata.json ({exc})") from exc
    if not isinstance(metadata, dict) or not all(metadata.get(k) for k in ("from_code", "to_code")):
        raise ModelError(f"{folder.name}: metadata.json lacks from_code or to_code")
    record: dict[str, Any] = {}
    if (folder / INSTALL_RECORD).is_file():
        record = json.loads((folder / INSTALL_RECORD).read_text(encoding="utf-8"))
    return InstalledModel(
        name=folder.name,
        path=folder,
        from_code=str(metadata["from_code"]),
        to_code=str(metadata["to_code"]),
        version=str(metadata.get("package_version") or "0"),
        target_prefix=str(metadata.get("target_prefix") or ""),
        sha256=record.get("sha256"),
    )


def installed_models(packages_dir: Path) -> list[InstalledModel]:
    """Every translation package installed in ``packages_dir``, by name."""
    if not packages_dir.is_dir():
        return []
    found = []
    for folder in sorted(packages_dir.iterdir()):
        if folder.name.startswith(".") or not (folder / "metadata.json").is_file():
            continue  # hidden folders are installs in progress
        found.append(read_model(folder))
    return found


@contextmanager
def _argos_directories(home: Path) -> Iterator[None]:
    names = ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "ARGOS_PACKAGES_DIR")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["XDG_DATA_HOME"] = str(home / "data")
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    os.environ["XDG_CACHE_HOME"] = str(home / "cache")
    os.environ["ARGOS_PACKAGES_DIR"] = str(home / "packages")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def import_argos_package(home: Path) -> ModuleType:
    """``argostranslate.package``, imported (once per process) with its directories under
    ``home`` instead of the user's home folder."""
    with _import_lock:
        if "argostranslate.package" not in sys.modules:
            with _argos_directories(home):
                import argostranslate.package  # noqa: F401
        return sys.modules["argostranslate.package"]


def default_threads() -> int:
    """CTranslate2 threads per batch: 1 on small machines, where more is much slower."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else min(4, cores // 2)


def default_parallel(threads: int) -> int:
    """Batches decoded at once: as many as the cores give ``threads`` each (2 on 2 cores)."""
    return max(1, min(4, (os.cpu_count() or 1) // max(1, threads)))


# A model's output is cut at three times the longest source of its batch plus 16 tokens
# (never more than 1,024). Real translations stay well inside it; a model that runs away
# (repeats itself, or never ends a sentence) stops there, and its output is flagged for
# length or repetition. It is also what bounds the cost of a sentence.
DECODING_RATIO = 3
DECODING_SLACK = 16
DECODING_CEILING = 1024


def max_decoding_length(longest_source: int) -> int:
    """The most target tokens a batch whose longest source has ``longest_source`` tokens
    may produce."""
    return min(DECODING_CEILING, DECODING_RATIO * longest_source + DECODING_SLACK)


def batch_size_for(sentences: int, batch_size: int, parallel: int) -> int:
    """Sentences per CTranslate2 batch: ``batch_size``, or fewer when that would leave some
    of the ``parallel`` workers idle (a report's title and summary are a few sentences)."""
    return max(1, min(batch_size, -(-sentences // max(1, parallel))))


class ArgosEngine:
    """Loads installed packages lazily and translates lists of sentences in batches, up to
    ``parallel`` batches at once (CTranslate2's ``inter_threads``), each on ``threads``
    threads."""

    def __init__(
        self, packages_dir: Path, *, argos_home: Path, threads: int = 0, parallel: int = 0,
        beam_size: int = 2, batch_size: int = 32,
    ) -> None:
        self.packages_dir = packages_dir
        self.argos_home = argos_home
        self.threads = threads or default_threads()
        self.parallel = parallel or default_parallel(self.threads)
        self.beam_size = beam_size
        self.batch_size = batch_size
        self._loaded: dict[str, tuple[Any, Any, Any]] = {}
        # for tests and benches: translate calls made, and target tokens the models produced
        self.batch_calls = 0
        self.target_tokens = 0

    def models(self) -> list[InstalledModel]:
        return installed_models(self.packages_dir)

    def _load(self, model: InstalledModel) -> tuple[Any, Any, Any]:
        if model.key not in self._loaded:
            package_module = import_argos_package(self.argos_home)
            import ctranslate2

            try:
                package = package_module.Package(model.path)
                translator = ctranslate2.Translator(
                    str(model.path / "model"), device="cpu", inter_threads=self.parallel,
                    intra_threads=self.threads,
                )
            except Exception as exc:  # any failure to load is the package's fault
                raise ModelError(
                    f"cannot load the model {model.name}: {exc}",
                    hint=f"reinstall it, or remove it with `newsletter models remove {model.name}`",
                ) from exc
            if getattr(package, "tokenizer", None) is None:
                raise ModelError(f"{model.name} has neither sentencepiece.model nor bpe.model")
            decoder = None
            if (model.path / TARGET_TOKENIZER).is_file():
                import sentencepiece

                decoder = sentencepiece.SentencePieceProcessor(
                    model_file=str(model.path / TARGET_TOKENIZER)
                )
            self._loaded[model.key] = (package, translator, decoder)
        return self._loaded[model.key]

    def translate(self, model: InstalledModel, sentences: Sequence[str],
                  done: Callable[[int], None] | None = None) -> list[str]:
        """Translate ``sentences``, shortest first in CTranslate2 batches of ``batch_size``
        (sorted so a batch pads little), all batches handed to CTranslate2 at once so that
        ``parallel`` of them are decoded together; ``done`` is told how many sentences each
        batch finished, in order, for a progress bar that moves while a large chunk is
        translated."""
        if not sentences:
            return []
        package, translator, decoder = self._load(model)
        tokenizer = package.tokenizer
        tokens = [tokenizer.encode(sentence) for sentence in sentences]
        prefix = model.target_prefix
        order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
        outputs: list[str] = [""] * len(tokens)
        size = batch_size_for(len(order), self.batch_size, self.parallel)
        submitted = []
        for start in range(0, len(order), size):
            batch = order[start : start + size]
            submitted.append((batch, translator.translate_batch(
                [tokens[i] for i in batch],
                target_prefix=[[prefix]] * len(batch) if prefix else None,
                beam_size=self.beam_size,
                max_batch_size=size,
                # replace_unknowns makes batched decoding several times slower (it tracks
                # attention); an unknown token is flagged instead (quality flag "unknown").
                max_decoding_length=max_decoding_length(max(len(tokens[i]) for i in batch)),
                asynchronous=True,
            )))
        for batch, results in submitted:
            for i, pending in zip(batch, results, strict=True):
                pieces = pending.result().hypotheses[0]
                self.target_tokens += len(pieces)
                outputs[i] = self._decode(tokenizer, decoder, pieces, prefix)
            if done is not None:
                done(len(batch))
        self.batch_calls += 1
        return outputs

    @staticmethod
    def _decode(tokenizer: Any, decoder: Any, pieces: list[str], prefix: str) -> str:
        if prefix:
            # argostranslate 1.11 strips the forced prefix once per paragraph, after
            # SentencePiece has turned "_" into " " ("kaz Cyrl"): drop the token itself.
            pieces = [piece for piece in pieces if piece != prefix]
        if decoder is not None:
            return str(decoder.decode_pieces(pieces)).strip()
        processor = getattr(tokenizer, "lazy_processor", None)
        if processor is not None:
            # SentencePiece: decode the pieces ourselves; argostranslate's decode also turns
            # every "_" of the text into a space.
            return str(processor().decode_pieces(pieces)).strip()
        return str(tokenizer.decode(pieces)).strip()
