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
import struct
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from newsletter.errors import ModelError
from newsletter.translate.core import CUT_MARK, SPLIT_MARK, ModelRef

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


def max_decoding_length(longest_source: int, positions: int | None = None) -> int:
    """The most target tokens a batch whose longest source has ``longest_source`` tokens
    may produce, within the model's ``positions`` (its position table, when it has one)."""
    cap = min(DECODING_CEILING, DECODING_RATIO * longest_source + DECODING_SLACK)
    return cap if positions is None else min(cap, positions)


def position_limit(model_bin: Path) -> int | None:
    """How many positions the model's position table holds (a source or an output longer
    than that fails inside CTranslate2), read from the variable headers of its
    ``model.bin`` without loading the weights; None when it has no table (positions computed
    as it goes) or the file is in a format this reader does not know."""
    try:
        with model_bin.open("rb") as handle:
            def number(fmt: str) -> int:
                return int(struct.unpack("<" + fmt, handle.read(struct.calcsize(fmt)))[0])

            def name() -> str:
                return handle.read(number("H")).rstrip(b"\0").decode("utf-8", "replace")

            version = number("I")
            if not 4 <= version <= 6:
                return None
            name()  # the spec's name
            number("I")  # its revision
            found: list[int] = []
            for _ in range(number("I")):
                variable = name()
                shape = [number("I") for _ in range(number("B"))]
                number("B")  # the type
                handle.seek(number("I"), os.SEEK_CUR)
                if variable.endswith("position_encodings/encodings") and shape:
                    found.append(shape[0])
            return min(found) if found else None
    except (OSError, struct.error):
        return None


@dataclass(frozen=True)
class _Loaded:
    package: Any
    translator: Any
    decoder: Any  # the target's SentencePiece model, when it has its own
    positions: int | None  # the model's position table (position_limit)
    added: int  # tokens the model's config adds to every source (language token, </s>)

    @property
    def longest_source(self) -> int | None:
        """The most tokens of a sentence the model takes at once."""
        return None if self.positions is None else max(1, self.positions - self.added)


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
        self._loaded: dict[str, _Loaded] = {}
        # for tests and benches: translate calls made, and target tokens the models produced
        self.batch_calls = 0
        self.target_tokens = 0

    def models(self) -> list[InstalledModel]:
        return installed_models(self.packages_dir)

    def _load(self, model: InstalledModel) -> _Loaded:
        if model.key not in self._loaded:
            package_module = import_argos_package(self.argos_home)
            import ctranslate2

            try:
                package = package_module.Package(model.path)
                translator = ctranslate2.Translator(
                    str(model.path / "model"), device="cpu", inter_threads=self.parallel,
                    intra_threads=self.threads,
                )
                config = json.loads((model.path / "model" / "config.json").read_text(
                    encoding="utf-8")) if (model.path / "model" / "config.json").is_file() else {}
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
            added = int(bool(config.get("add_source_bos"))) + int(bool(config.get(
                "add_source_eos")))
            self._loaded[model.key] = _Loaded(package, translator, decoder,
                                              position_limit(model.path / "model" / "model.bin"),
                                              added)
        return self._loaded[model.key]

    def translate(self, model: InstalledModel, sentences: Sequence[str],
                  done: Callable[[int], None] | None = None) -> list[str]:
        """Translate ``sentences``, shortest first in CTranslate2 batches of ``batch_size``
        (sorted so a batch pads little), all batches handed to CTranslate2 at once so that
        ``parallel`` of them are decoded together; ``done`` is told how many sentences each
        batch finished, in order, for a progress bar that moves while a large chunk is
        translated.

        Nothing is asked of the model that it cannot do: a sentence longer than it takes is
        translated in pieces, and no output may run past its position table; either is
        marked on the output (:data:`~newsletter.translate.core.CUT_MARK`,
        :data:`~newsletter.translate.core.SPLIT_MARK`) and flagged. Any failure of the model
        is a :class:`ModelError` naming it."""
        if not sentences:
            return []
        loaded = self._load(model)
        try:
            return self._translate(model, loaded, sentences, done)
        except ModelError:
            raise
        except Exception as exc:  # CTranslate2 raises RuntimeError and ValueError alike
            raise ModelError(
                f"the model {model.name} ({model.from_code}→{model.to_code}) failed: {exc}",
                hint=f"`newsletter models check` tries every model; rebuild or reinstall "
                     f"{model.name}, or remove it with `newsletter models remove "
                     f"{model.name}`") from exc

    def _translate(self, model: InstalledModel, loaded: _Loaded, sentences: Sequence[str],
                   done: Callable[[int], None] | None) -> list[str]:
        tokenizer = loaded.package.tokenizer
        pieces_of: list[list[str]] = []  # what the model is given: sentences, or their pieces
        owner: list[int] = []  # the sentence each of them belongs to
        longest = loaded.longest_source
        for index, sentence in enumerate(sentences):
            tokens = tokenizer.encode(sentence)
            step = longest if longest is not None and len(tokens) > longest else len(tokens)
            for start in range(0, max(1, len(tokens)), max(1, step)):
                pieces_of.append(tokens[start : start + step])
                owner.append(index)
        prefix = model.target_prefix
        order = sorted(range(len(pieces_of)), key=lambda i: len(pieces_of[i]))
        outputs: list[str] = [""] * len(pieces_of)
        size = batch_size_for(len(order), self.batch_size, self.parallel)
        submitted = []
        for start in range(0, len(order), size):
            batch = order[start : start + size]
            cap = max_decoding_length(max(len(pieces_of[i]) for i in batch), loaded.positions)
            submitted.append((batch, cap, loaded.translator.translate_batch(
                [pieces_of[i] for i in batch],
                target_prefix=[[prefix]] * len(batch) if prefix else None,
                beam_size=self.beam_size,
                max_batch_size=size,
                # replace_unknowns makes batched decoding several times slower (it tracks
                # attention); an unknown token is flagged instead (quality flag "unknown").
                max_decoding_length=cap,
                asynchronous=True,
            )))
        waiting = [0] * len(sentences)  # pieces of each sentence not yet translated
        for belongs in owner:
            waiting[belongs] += 1
        for batch, cap, results in submitted:
            completed = 0
            for i, pending in zip(batch, results, strict=True):
                pieces = pending.result().hypotheses[0]
                self.target_tokens += len(pieces)
                outputs[i] = self._decode(tokenizer, loaded.decoder, pieces, prefix) + (
                    CUT_MARK if len(pieces) >= cap else "")
                waiting[owner[i]] -= 1
                completed += waiting[owner[i]] == 0
            if done is not None and completed:
                done(completed)
        self.batch_calls += 1
        joined: list[list[str]] = [[] for _ in sentences]
        for i, text in enumerate(outputs):
            joined[owner[i]].append(text)
        return [" ".join(parts) + (SPLIT_MARK if len(parts) > 1 else "") for parts in joined]

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
