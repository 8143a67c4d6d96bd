"""Installing .argosmodel archives safely: hostile archives are refused and leave nothing."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest

from newsletter.errors import ModelError
from newsletter.translate.engine import installed_models
from newsletter.translate.packages import Limits, install, remove
from tests.tiny_argos import TinyPackage


def _contents(package: TinyPackage) -> dict[str, bytes]:
    with zipfile.ZipFile(package.archive) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}


def _archive(path: Path, members: dict[str, bytes], *, links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


@pytest.fixture
def packages(tmp_path: Path) -> Path:
    return tmp_path / "packages"


def _nothing_installed(packages: Path) -> bool:
    return not packages.exists() or not any(packages.iterdir())


def test_a_good_package_installs_with_its_checksum_recorded(
    packages: Path, tiny_models: dict[str, TinyPackage]
) -> None:
    model = install(tiny_models["en_ru"].archive, packages)
    assert (model.name, model.from_code, model.to_code) == ("translate-en_ru", "en", "ru")
    record = json.loads((packages / "translate-en_ru" / ".install.json").read_text())
    assert len(record["sha256"]) == 64
    assert record["sha256"] == model.sha256
    assert [m.name for m in installed_models(packages)] == ["translate-en_ru"]


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("../evil.txt", "escapes the package folder"),
        ("translate-en_ru/../../evil.txt", "escapes the package folder"),
        ("/etc/evil.txt", "absolute path"),
        ("C:/evil.txt", "absolute path"),
        ("translate-en_ru\\..\\evil.txt", "absolute path"),
        ("other-folder/file.txt", "exactly one package folder"),
    ],
)
def test_members_outside_the_package_folder_are_refused(
    tmp_path: Path, packages: Path, tiny_models: dict[str, TinyPackage], member: str,
    message: str,
) -> None:
    members = {**_contents(tiny_models["en_ru"]), member: b"gotcha"}
    archive = _archive(tmp_path / "evil.argosmodel", members)
    with pytest.raises(ModelError, match=message):
        install(archive, packages)
    assert not (tmp_path / "evil.txt").exists()
    assert _nothing_installed(packages)


def test_symbolic_links_are_refused(
    tmp_path: Path, packages: Path, tiny_models: dict[str, TinyPackage]
) -> None:
    archive = _archive(tmp_path / "link.argosmodel", _contents(tiny_models["en_ru"]),
                       links=("translate-en_ru/model/passwd",))
    with pytest.raises(ModelError, match="symbolic link"):
        install(archive, packages)
    assert _nothing_installed(packages)


def test_a_zip_bomb_is_stopped_while_extracting(
    tmp_path: Path, packages: Path, tiny_models: dict[str, TinyPackage]
) -> None:
    members = {**_contents(tiny_models["en_ru"]),
               "translate-en_ru/model/huge.bin": bytes(64 * 1024 * 1024)}
    archive = _archive(tmp_path / "bomb.argosmodel", members)
    assert archive.stat().st_size < 1_000_000
    with pytest.raises(ModelError, match="zip bomb"):
        install(archive, packages)
    assert _nothing_installed(packages)
    just_the_archive = Limits(max_bytes=tiny_models["en_ru"].archive.stat().st_size + 10)
    with pytest.raises(ModelError, match="unpacks to more than"):
        install(tiny_models["en_ru"].archive, packages, limits=just_the_archive)
    assert _nothing_installed(packages)


@pytest.mark.parametrize(
    ("drop_member", "message"),
    [
        ("translate-en_ru/metadata.json", "unreadable metadata.json"),
        ("translate-en_ru/model/model.bin", "no CTranslate2 model"),
        ("translate-en_ru/sentencepiece.model", "no tokenizer"),
    ],
)
def test_incomplete_packages_are_refused(
    tmp_path: Path, packages: Path, tiny_models: dict[str, TinyPackage], drop_member: str,
    message: str,
) -> None:
    members = {k: v for k, v in _contents(tiny_models["en_ru"]).items() if k != drop_member}
    with pytest.raises(ModelError, match=message):
        install(_archive(tmp_path / "part.argosmodel", members), packages)
    assert _nothing_installed(packages)


def test_not_a_zip_and_missing_files(tmp_path: Path, packages: Path) -> None:
    text = tmp_path / "model.argosmodel"
    text.write_text("hello")
    with pytest.raises(ModelError, match="not a zip archive"):
        install(text, packages)
    with pytest.raises(ModelError, match="no such file"):
        install(tmp_path / "absent.argosmodel", packages)


def test_an_installed_package_is_never_overwritten_unless_asked(
    packages: Path, tiny_models: dict[str, TinyPackage]
) -> None:
    first = install(tiny_models["en_kk"].archive, packages)
    with pytest.raises(ModelError, match="already installed") as caught:
        install(tiny_models["en_kk_plain"].archive, packages)  # same name and pair
    assert caught.value.hint is not None
    assert "--replace" in caught.value.hint
    assert installed_models(packages) == [first]
    replaced = install(tiny_models["en_kk_plain"].archive, packages, replace=True)
    assert replaced.target_prefix == ""
    assert replaced.sha256 != first.sha256
    assert [m.name for m in installed_models(packages)] == ["translate-en_kk"]
    remove("translate-en_kk", packages)
    assert installed_models(packages) == []


def _damaged(package: TinyPackage, tmp_path: Path, how: str) -> Path:
    """The package's archive damaged in one of the ways a download or a disk can."""
    data = bytearray(package.archive.read_bytes())
    with zipfile.ZipFile(package.archive) as archive:
        member = max(archive.infolist(), key=lambda info: info.compress_size)
    if how == "crc":  # flip bytes inside the largest member's compressed data
        start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
        for offset in range(start + 100, start + 110):
            data[offset] ^= 0xFF
    elif how == "encrypted":  # set the encryption bit in every local and central header
        for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            found = data.find(signature)
            while found != -1:
                data[found + flag_at] |= 0x01
                found = data.find(signature, found + 4)
    else:  # truncated: the end of the download is missing
        data = data[: len(data) // 2] + data[-22:]
    path = tmp_path / f"{how}.argosmodel"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("how", ["crc", "encrypted", "truncated"])
def test_a_damaged_archive_is_a_clear_error_and_installs_nothing(
        tiny_models: dict[str, TinyPackage], tmp_path: Path, how: str) -> None:
    from click.testing import CliRunner

    from newsletter.cli.main import cli

    office = tmp_path / "office"
    assert CliRunner().invoke(cli, ["init", str(office)]).exit_code == 0
    archive = _damaged(tiny_models["en_ru"], tmp_path, how)
    result = CliRunner().invoke(cli, ["--config", str(office), "models", "install",
                                      str(archive)])
    assert result.exit_code == 1, result.output
    assert "Error: " in result.output
    assert "Hint: " in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, zipfile.BadZipFile | RuntimeError)
    packages = office / "var" / "argos" / "packages"
    assert _nothing_installed(packages)
