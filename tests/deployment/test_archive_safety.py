"""Hostile zips are refused before anything touches the disk, each naming its entry and the rule."""

import stat
import warnings
import zipfile
from pathlib import Path

import pytest

from daf_core.deployment import ArchiveLimits, UnsafeArchiveError, check_archive, safe_extract

MiB = 1 << 20


def write_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate names we want
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return path


def symlink_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def executable_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | stat.S_ISUID | 0o777) << 16
    return info


def test_a_safe_archive_extracts_whole_with_plain_file_modes(tmp_path):
    archive = write_zip(
        tmp_path / "ok.zip",
        [("policy_spec.json", b"{}"), ("pkg/__init__.py", b""), (executable_entry("pkg/run.sh"), b"echo hi")],
    )
    assert [i.filename for i in check_archive(archive)] == [
        "policy_spec.json",
        "pkg/__init__.py",
        "pkg/run.sh",
    ]
    dest = safe_extract(archive, tmp_path / "out")
    assert (dest / "policy_spec.json").read_bytes() == b"{}"
    assert (dest / "pkg" / "run.sh").read_bytes() == b"echo hi"
    assert stat.S_IMODE((dest / "pkg" / "run.sh").stat().st_mode) == 0o644  # no setuid/executable bits
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.zip", "out"]  # no staging left behind


HOSTILE = {
    "absolute path": ([("/etc/cron.d/evil", b"x")], None, "/etc/cron.d/evil", "absolute_path", "absolute"),
    "drive letter": ([("C:/Windows/evil", b"x")], None, "C:/Windows/evil", "absolute_path", "absolute"),
    "backslash": ([("..\\evil", b"x")], None, "..\\evil", "backslash", "backslash"),
    "parent reference": ([("ok/../../evil", b"x")], None, "ok/../../evil", "parent_reference", "'..'"),
    "symlink": ([(symlink_entry("weights.pt"), b"/etc/passwd")], None, "weights.pt", "symlink", "link"),
    "duplicate name": ([("a.txt", b"1"), ("a.txt", b"2")], None, "a.txt", "duplicate_name", "duplicates"),
    "file under a file": ([("a", b"1"), ("a/b", b"2")], None, "a/b", "duplicate_name", "is a file"),
    "too many entries": (
        [(f"f{i}", b"x") for i in range(5)],
        ArchiveLimits(max_entries=5),  # policy_spec.json and f0-f3 fit
        "f4",
        "max_entries",
        "max_entries=5",
    ),
    "too large in all": (
        [("a", b"x" * 600), ("b", b"y" * 600)],
        ArchiveLimits(max_uncompressed_bytes=1000),
        "b",
        "max_uncompressed_bytes",
        "max_uncompressed_bytes=1000",
    ),
    "zip bomb": ([("bomb.bin", bytes(8 * MiB))], None, "bomb.bin", "max_ratio", "max_ratio=200"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_archive_is_refused_and_nothing_is_written(tmp_path, case):
    entries, limits, entry, rule, words = HOSTILE[case]
    archive = write_zip(tmp_path / "hostile.zip", [("policy_spec.json", b"{}"), *entries])
    with pytest.raises(UnsafeArchiveError) as refused:
        check_archive(archive, limits)
    assert (refused.value.entry, refused.value.rule) == (entry, rule)
    assert repr(entry)[1:-1] in str(refused.value) and words in str(refused.value)

    target = tmp_path / "extract" / "bundle"
    with pytest.raises(UnsafeArchiveError):
        safe_extract(archive, target, limits)
    assert not (tmp_path / "extract").exists()  # checked before anything was created
    assert not Path("/etc/cron.d/evil").exists()


def test_a_small_compressible_file_is_no_bomb_but_a_lower_ratio_limit_catches_it(tmp_path):
    archive = write_zip(tmp_path / "zeros.zip", [("zeros.bin", bytes(64 * 1024))])
    check_archive(archive)  # 64 KiB of zeros inflates ~600x but is below min_ratio_check_bytes
    with pytest.raises(UnsafeArchiveError, match="max_ratio=50"):
        check_archive(archive, ArchiveLimits(max_ratio=50, min_ratio_check_bytes=1024))


def test_not_a_zip_is_refused_and_a_used_target_is_never_extracted_into(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(UnsafeArchiveError) as refused:
        check_archive(junk)
    assert refused.value.rule == "not_a_zip"

    archive = write_zip(tmp_path / "ok.zip", [("a", b"1")])
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        safe_extract(archive, used)
    assert sorted(p.name for p in used.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("field", ["max_entries", "max_uncompressed_bytes", "max_ratio"])
def test_archive_limits_refuse_non_positive_values(field):
    with pytest.raises(ValueError, match=f"ArchiveLimits.{field}"):
        ArchiveLimits(**{field: 0})
