"""The DAF manifest of a bundle (``daf_manifest.json``): what it is, what it holds, where it came from.

cogames only needs ``policy_spec.json``; a deployment needs more. The manifest names the policy and its
semantic version, lists the SHA-256 of every other file (so a server can tell a bundle from a tampered
copy), records the DAF, cogames, mettagrid and torch versions it was packaged with, and where the
weights came from (training run, its config, the checkpoint's step), so a served version can be traced
back to the run that produced it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from daf_core._internal.process_state import import_preserving_process_state
from daf_core.config.base import SemVerStr

MANIFEST_FILENAME = "daf_manifest.json"
POLICY_SPEC_FILENAME = "policy_spec.json"  # cogames' name (mettagrid.policy.submission)
MANIFEST_FORMAT = "daf-bundle/1"

#: Distributions whose versions a bundle records (distribution name -> manifest key).
RECORDED_VERSIONS = {"daf": "daf", "cogames": "cogames", "mettagrid": "mettagrid", "torch": "torch"}

#: A policy name is a path segment of the server's URLs and part of file names.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def check_policy_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"policy_name: {name!r} is not a usable name (1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit)"
        )
    return name


class BundleSource(BaseModel):
    """Where the weights came from; None where the bundle was packaged from a bare weights file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    training_run: str | None = None
    config: str | None = None
    checkpoint: str | None = None
    checkpoint_step: int | None = None
    checkpoint_epoch: int | None = None


class BundleManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = MANIFEST_FORMAT
    name: str
    version: SemVerStr
    class_path: str
    files: dict[str, str]
    versions: dict[str, str | None]
    source: BundleSource = Field(default_factory=BundleSource)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_policy_name(value)

    @field_validator("files")
    @classmethod
    def _files(cls, value: dict[str, str]) -> dict[str, str]:
        for path, digest in value.items():
            if not _SHA256_RE.match(digest):
                raise ValueError(f"files[{path!r}]: {digest!r} is not a SHA-256 hex digest")
        return value

    def to_json_bytes(self) -> bytes:
        """Canonical bytes (sorted keys, fixed indent): the same manifest is always the same file."""
        return (json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def installed_versions() -> dict[str, str | None]:
    """Versions from package metadata (importing torch just to ask would cost seconds)."""
    versions: dict[str, str | None] = {}
    for distribution, key in RECORDED_VERSIONS.items():
        try:
            versions[key] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            versions[key] = None
    return versions


def _bundle_files(bundle: Path, limits: Any = None) -> dict[str, bytes]:
    """Every file of a bundle directory or zip as {relative posix path: bytes}; links are refused."""
    if bundle.is_dir():
        files: dict[str, bytes] = {}
        for path in sorted(bundle.rglob("*")):
            relative = path.relative_to(bundle).as_posix()
            if path.is_symlink():
                raise ValueError(f"{bundle}: {relative} is a symbolic link (bundles hold plain files only)")
            if path.is_file():
                files[relative] = path.read_bytes()
        return files
    if bundle.is_file():
        from daf_core.deployment.archive_safety import check_archive  # noqa: PLC0415 - sibling room

        infos = check_archive(bundle, limits)
        with zipfile.ZipFile(bundle) as archive:
            return {info.filename: archive.read(info) for info in infos if not info.is_dir()}
    raise FileNotFoundError(f"bundle not found: {bundle}")


def _parse_manifest(data: bytes, where: str) -> BundleManifest:
    try:
        return BundleManifest.model_validate_json(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'manifest'}: {e['msg']}" for e in err.errors()[:5]
        )
        raise ValueError(f"{where}: {MANIFEST_FILENAME} is not a DAF manifest ({problems})") from None


def read_manifest(bundle: str | Path) -> BundleManifest:
    """The manifest of a bundle directory or zip (not checked against the files; see verify_bundle)."""
    bundle = Path(bundle)
    if bundle.is_dir():
        path = bundle / MANIFEST_FILENAME
        if not path.is_file():
            raise FileNotFoundError(f"{bundle}: no {MANIFEST_FILENAME} (not a DAF bundle)")
        return _parse_manifest(path.read_bytes(), str(bundle))
    if not bundle.is_file():
        raise FileNotFoundError(f"bundle not found: {bundle}")
    try:
        with zipfile.ZipFile(bundle) as archive:
            data = archive.read(MANIFEST_FILENAME)
    except KeyError:
        raise FileNotFoundError(f"{bundle}: no {MANIFEST_FILENAME} (not a DAF bundle)") from None
    except zipfile.BadZipFile as err:
        raise ValueError(f"{bundle}: not a zip archive ({err})") from None
    return _parse_manifest(data, str(bundle))


def read_policy_spec(data: bytes, where: str) -> Any:
    """``policy_spec.json`` parsed as cogames parses it (mettagrid's ``SubmissionPolicySpec``)."""
    submission = import_preserving_process_state("mettagrid.policy.submission")
    try:
        return submission.SubmissionPolicySpec.model_validate_json(data)
    except ValidationError as err:
        raise ValueError(f"{where}: {POLICY_SPEC_FILENAME} is not a cogames policy spec ({err})") from None


def verify_bundle(bundle: str | Path, limits: Any = None) -> BundleManifest:
    """The manifest, once every file matches it: the same set of files (nothing extra, nothing
    missing), each with the listed SHA-256; ``policy_spec.json`` readable by cogames, its class path the
    manifest's and its ``data_path`` (if any) a file of the bundle. ValueError naming the file otherwise.
    A zip is first checked with ``limits`` (an ``ArchiveLimits``; the defaults if None).
    """
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    files = _bundle_files(bundle, limits)
    files.pop(MANIFEST_FILENAME, None)
    missing = sorted(set(manifest.files) - set(files))
    if missing:
        raise ValueError(f"{bundle}: {missing[0]} is listed in {MANIFEST_FILENAME} but not in the bundle")
    extra = sorted(set(files) - set(manifest.files))
    if extra:
        raise ValueError(f"{bundle}: {extra[0]} is in the bundle but not listed in {MANIFEST_FILENAME}")
    for path, data in sorted(files.items()):
        if sha256_bytes(data) != manifest.files[path]:
            raise ValueError(f"{bundle}: {path} does not match its SHA-256 in {MANIFEST_FILENAME}")
    if POLICY_SPEC_FILENAME not in files:
        raise ValueError(f"{bundle}: no {POLICY_SPEC_FILENAME} (cogames cannot load it)")
    spec = read_policy_spec(files[POLICY_SPEC_FILENAME], f"{bundle}")
    if spec.class_path != manifest.class_path:
        raise ValueError(
            f"{bundle}: {POLICY_SPEC_FILENAME} names class {spec.class_path!r}, "
            f"{MANIFEST_FILENAME} {manifest.class_path!r}"
        )
    if spec.data_path is not None:
        data_path = PurePosixPath(spec.data_path)
        if data_path.is_absolute() or ".." in data_path.parts or data_path.as_posix() not in files:
            raise ValueError(
                f"{bundle}: {POLICY_SPEC_FILENAME} data_path {spec.data_path!r} is not a file of the bundle"
            )
    return manifest
