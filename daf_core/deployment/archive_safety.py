"""Check a zip before anything in it touches the disk: a bundle is input from whoever uploaded it.

``check_archive`` reads only the central directory and refuses, naming the entry and the rule:
absolute paths and Windows drive or backslash paths, ``..`` components, symbolic links, duplicate
names, encrypted entries, more entries than ``max_entries``, more uncompressed bytes than
``max_uncompressed_bytes`` in all, and an entry that inflates more than ``max_ratio`` times (a zip
bomb). ``safe_extract`` runs the check first, so a refused archive writes nothing, then extracts into
a temporary sibling of the destination and renames it into place: readers see the whole bundle or none.
While extracting it also counts the bytes actually inflated, so an entry whose header understates its
size cannot write more than the header (and so the check) allowed.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MiB = 1 << 20

#: Bytes read and written per chunk while extracting.
_CHUNK = 1 << 16


class UnsafeArchiveError(ValueError):
    """An archive broke one of the rules; ``entry`` is the offending name (None for the whole archive)."""

    def __init__(self, message: str, *, entry: str | None = None, rule: str):
        super().__init__(message)
        self.entry = entry
        self.rule = rule


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits on an archive's shape. The ratio rule judges only entries of at least
    ``min_ratio_check_bytes`` uncompressed: a small file of zeros compresses a thousandfold and is
    harmless, and the total-size rule already bounds what many small entries can add up to."""

    max_entries: int = 256
    max_uncompressed_bytes: int = 512 * MiB
    max_ratio: float = 200.0
    min_ratio_check_bytes: int = 1 * MiB

    def __post_init__(self) -> None:
        for name in ("max_entries", "max_uncompressed_bytes", "max_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not value > 0:
                raise ValueError(f"ArchiveLimits.{name}: expected a positive number, got {value!r}")
        if isinstance(self.min_ratio_check_bytes, bool) or self.min_ratio_check_bytes < 0:
            value = self.min_ratio_check_bytes
            raise ValueError(f"ArchiveLimits.min_ratio_check_bytes: expected a number >= 0, got {value!r}")


def _refuse(entry: str | None, rule: str, message: str) -> UnsafeArchiveError:
    where = f"entry {entry!r}: " if entry is not None else ""
    return UnsafeArchiveError(f"unsafe archive: {where}{message}", entry=entry, rule=rule)


def _check_name(info: zipfile.ZipInfo) -> str:
    """The entry's normalised relative path (``a/b``), or a refusal naming the entry."""
    name = info.filename
    if not name or name in ("/", "."):
        raise _refuse(name, "empty_name", "has no usable name")
    if "\\" in name:
        raise _refuse(name, "backslash", "uses a backslash, a Windows path separator (not allowed)")
    if name.startswith("/") or (len(name) >= 2 and name[1] == ":"):
        raise _refuse(name, "absolute_path", "is an absolute path (entries must be relative)")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise _refuse(name, "parent_reference", "contains '..' (it would land outside the bundle)")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise _refuse(name, "symlink", "is a symbolic link (links are not allowed)")
    if info.flag_bits & 0x1:
        raise _refuse(name, "encrypted", "is encrypted (it cannot be checked)")
    return "/".join(part for part in parts if part != ".")


def check_archive(path: str | Path, limits: ArchiveLimits | None = None) -> list[zipfile.ZipInfo]:
    """The archive's entries if it follows every rule of ``limits``; else ``UnsafeArchiveError``.

    Only the central directory is read: nothing is inflated and nothing is written.
    """
    limits = limits or ArchiveLimits()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"archive not found: {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as err:
        raise _refuse(None, "not_a_zip", f"{path.name} is not a readable zip archive ({err})") from None

    if len(infos) > limits.max_entries:
        raise _refuse(
            infos[limits.max_entries].filename,
            "max_entries",
            f"is entry number {limits.max_entries + 1}; the archive has {len(infos)} entries, "
            f"more than max_entries={limits.max_entries}",
        )
    seen: dict[str, str] = {}
    total = 0
    for info in infos:
        normalised = _check_name(info).rstrip("/")
        if normalised in seen:
            raise _refuse(
                info.filename, "duplicate_name", f"duplicates the name of entry {seen[normalised]!r}"
            )
        seen[normalised] = info.filename
        total += info.file_size
        if total > limits.max_uncompressed_bytes:
            raise _refuse(
                info.filename,
                "max_uncompressed_bytes",
                f"brings the uncompressed total to {total} bytes, more than "
                f"max_uncompressed_bytes={limits.max_uncompressed_bytes}",
            )
        if info.file_size >= limits.min_ratio_check_bytes and info.file_size > 0:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise _refuse(
                    info.filename,
                    "max_ratio",
                    f"inflates {ratio:.0f} times ({info.compress_size} -> {info.file_size} bytes), "
                    f"more than max_ratio={limits.max_ratio:g} (a zip bomb)",
                )
    # A file "a" and a directory "a/b" cannot both exist on disk.
    for normalised, original in seen.items():
        parent = PurePosixPath(normalised).parent
        while str(parent) not in (".", ""):
            clash = seen.get(str(parent))
            if clash is not None and not clash.endswith("/"):
                raise _refuse(original, "duplicate_name", f"lies under {clash!r}, which is a file")
            parent = parent.parent
    return infos


def safe_extract(path: str | Path, dest: str | Path, limits: ArchiveLimits | None = None) -> Path:
    """Check ``path`` (see :func:`check_archive`), then extract it to ``dest``, which must not exist yet
    or be an empty directory. Files get mode 0644 and directories 0755 whatever the archive says
    (no executable or setuid bits from an upload). Returns ``dest``."""
    infos = check_archive(path, limits)
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"extraction target exists and is not an empty directory: {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extracting", dir=dest.parent))
    try:
        with zipfile.ZipFile(path) as archive:
            for info in infos:
                _extract_entry(archive, info, staging)
        os.chmod(staging, 0o755)
        if dest.exists():
            dest.rmdir()
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest


def _extract_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path) -> None:
    relative = _check_name(info)
    target = root.joinpath(*PurePosixPath(relative).parts) if relative else root
    if info.is_dir():
        target.mkdir(mode=0o755, parents=True, exist_ok=True)
        return
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    written = 0
    with archive.open(info) as source, open(target, "xb") as sink:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > info.file_size:  # zipfile stops at the declared size; this guards that promise
                raise _refuse(info.filename, "size_mismatch", "inflates past the size its header declares")
            sink.write(chunk)
    os.chmod(target, 0o644)
