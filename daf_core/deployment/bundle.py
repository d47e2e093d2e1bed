"""``daf_package_policy``: a policy and its weights as a cogames submission zip, with DAF's manifest.

The zip is what cogames expects (``policy_spec.json`` at the top, naming the class, the weights file
and any init kwargs, so ``policy_spec_from_uri`` loads it as it is) plus ``daf_manifest.json`` (see
:mod:`~daf_core.deployment.manifest`). ``policy_spec.json`` also carries the ``policy_env_interface``
(action names, observation features and shape): the policy server builds the policy from it without
knowing the mission.

The same inputs give the same bytes: entries sorted by name, every timestamp 1980-01-01, modes 0644,
one compression level, JSON with sorted keys. Two packagings of one checkpoint therefore have one
SHA-256, and a server can tell a re-upload from a change.

``weights_path`` may be a weights file or a DAF (or cogames) checkpoint run directory
(``model_NNNNNN.pt``, ``policy_spec.json``, ``config.yaml``, ``trainer_state.pt``): the bundle then
takes the latest model, the class and environment interface the run recorded, the run's config, and
fills the manifest's source (run, config, step) from it.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import TypeAdapter, ValidationError

from daf_core._internal.atomic import atomic_write_bytes
from daf_core._internal.process_state import import_preserving_process_state
from daf_core.config.base import SemVerStr
from daf_core.deployment.manifest import (
    MANIFEST_FILENAME,
    POLICY_SPEC_FILENAME,
    BundleManifest,
    BundleSource,
    check_policy_name,
    installed_versions,
    sha256_bytes,
)
from daf_core.deployment.result import DeploymentResult

logger = logging.getLogger(__name__)

DEFAULT_PACKAGE_DIR = "daf_output/packages"
#: The run's config as it sits in the bundle (the manifest's ``source.config`` points at it).
BUNDLED_CONFIG = "training_config.yaml"
RUN_CONFIG = "config.yaml"  # what daf_core.training writes into a run directory
#: Fixed entry metadata: what makes two packagings of the same inputs byte-identical.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o100644  # regular file, rw-r--r--
ZIP_COMPRESS_LEVEL = 6
_UNIX = 3  # ZipInfo.create_system: the mode bits in external_attr are Unix ones
_SKIPPED_PARTS = ("__pycache__",)
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


@dataclass
class _Weights:
    """What the weights argument contributed: the file, and what a run directory knew about it."""

    files: dict[str, bytes] = field(default_factory=dict)
    data_path: str | None = None
    run_spec: Any = None
    source: BundleSource = field(default_factory=BundleSource)
    default_name: str | None = None


def daf_package_policy(
    policy_class_path: str,
    weights_path: str | Path | None = None,
    additional_files: Sequence[str | Path] | Mapping[str, str | Path] | None = None,
    *,
    policy_name: str | None = None,
    version: str = "0.1.0",
    output_dir: str | Path = DEFAULT_PACKAGE_DIR,
    mission: str | Path | None = None,
) -> DeploymentResult:
    """Package a policy as ``<output_dir>/<policy_name>-<version>.zip``.

    ``policy_class_path``: a shorthand (``lstm``) or full class path; stored in full. ``weights_path``:
    a weights file, a checkpoint run directory, or None for a policy without weights.
    ``additional_files``: files or directories to ship beside it (code the class needs, data), placed
    at their base name, or a mapping {name in the bundle: path}. ``mission``: the catalog mission (or
    mission file) whose environment interface the policy plays; needed unless the run directory
    recorded one. Bad input raises ValueError (FileNotFoundError for a missing path) naming it.
    """
    version = _check_version(version)
    class_path = _full_class_path(policy_class_path)
    weights = _read_weights(Path(weights_path).expanduser() if weights_path is not None else None)
    if weights.run_spec is not None and weights.run_spec.class_path != class_path:
        raise ValueError(
            f"policy_class_path: {class_path!r} differs from the class {weights.run_spec.class_path!r} "
            f"that trained {weights_path} (its policy_spec.json)"
        )
    name = check_policy_name(policy_name or weights.default_name or class_path.rsplit(".", 1)[-1].lower())
    extra = _read_additional_files(additional_files)
    files = dict(weights.files)
    for arcname, data in extra.items():
        if arcname in files or arcname in (POLICY_SPEC_FILENAME, MANIFEST_FILENAME):
            raise ValueError(f"additional_files: {arcname!r} clashes with a file the bundle already holds")
        files[arcname] = data
    _check_class_is_reachable(class_path, files)

    spec = _policy_spec(class_path, weights, mission, weights_path)
    files[POLICY_SPEC_FILENAME] = _canonical_json(spec.model_dump(mode="json"))
    manifest = BundleManifest(
        name=name,
        version=version,
        class_path=class_path,
        files={path: sha256_bytes(data) for path, data in sorted(files.items())},
        versions=installed_versions(),
        source=weights.source,
    )
    files[MANIFEST_FILENAME] = manifest.to_json_bytes()

    archive = deterministic_zip(files)
    package_path = atomic_write_bytes(Path(output_dir).expanduser() / f"{name}-{version}.zip", archive)
    logger.info(
        "packaged %s %s (%d files, %d bytes) into %s", name, version, len(files), len(archive), package_path
    )
    return DeploymentResult(
        policy_name=name,
        version=version,
        status="success",
        message=f"packaged {len(files)} files ({len(archive)} bytes) into {package_path}",
        package_path=package_path,
        details={
            "sha256": sha256_bytes(archive),
            "size_bytes": len(archive),
            "manifest": manifest.model_dump(mode="json"),
        },
    )


def deterministic_zip(files: Mapping[str, bytes]) -> bytes:
    """A zip of ``files`` whose bytes depend on nothing but the names and contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for arcname in sorted(files):
            info = zipfile.ZipInfo(arcname, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = _UNIX
            info.external_attr = ZIP_FILE_MODE << 16
            archive.writestr(info, files[arcname], compresslevel=ZIP_COMPRESS_LEVEL)
    return buffer.getvalue()


def _canonical_json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def _check_version(version: str) -> str:
    try:
        return TypeAdapter(SemVerStr).validate_python(version)
    except ValidationError as err:
        reason = err.errors()[0]["msg"].removeprefix("Value error, ")
        raise ValueError(f"version: {version!r} is not usable ({reason})") from None


def _full_class_path(policy_class_path: str) -> str:
    if not isinstance(policy_class_path, str) or not policy_class_path.strip():
        raise ValueError(f"policy_class_path: expected a shorthand or class path, got {policy_class_path!r}")
    from daf_core.evaluation import policy_class_path as resolve  # noqa: PLC0415 - loads mettagrid

    try:
        return resolve(policy_class_path.strip())
    except ValueError as err:
        raise ValueError(f"policy_class_path: {err}") from None


def _read_weights(path: Path | None) -> _Weights:
    if path is None:
        return _Weights()
    if path.is_dir():
        return _read_run_directory(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights_path: no such file or directory: {path}")
    return _Weights(files={path.name: path.read_bytes()}, data_path=path.name, default_name=path.stem)


def _read_run_directory(run_dir: Path) -> _Weights:
    """The latest model of a checkpoint run, with what the run recorded about it."""
    from daf_core.training.checkpoints import MODEL_PATTERN, read_status  # noqa: PLC0415 - loads torch

    spec_path = run_dir / POLICY_SPEC_FILENAME
    if not spec_path.is_file():
        raise ValueError(f"weights_path: {run_dir} is a directory without {POLICY_SPEC_FILENAME} (not a run)")
    status = read_status(run_dir)
    model = status.latest_checkpoint or (status.checkpoints[-1] if status.checkpoints else None)
    if model is None:
        raise ValueError(f"weights_path: run directory {run_dir} holds no model_NNNNNN.pt")
    from daf_core.deployment.manifest import read_policy_spec  # noqa: PLC0415

    run_spec = read_policy_spec(spec_path.read_bytes(), str(run_dir))
    files = {model.name: model.read_bytes()}
    config_path = run_dir / RUN_CONFIG
    if config_path.is_file():
        files[BUNDLED_CONFIG] = config_path.read_bytes()
    same_as_state = status.latest_checkpoint is not None and model == status.latest_checkpoint
    source = BundleSource(
        training_run=run_dir.name,
        config=BUNDLED_CONFIG if config_path.is_file() else None,
        checkpoint=model.name,
        checkpoint_step=status.global_step if same_as_state else None,
        checkpoint_epoch=int(MODEL_PATTERN.match(model.name).group(1)),  # type: ignore[union-attr]
    )
    return _Weights(
        files=files, data_path=model.name, run_spec=run_spec, source=source, default_name=run_dir.name
    )


def _read_additional_files(
    additional: Sequence[str | Path] | Mapping[str, str | Path] | None,
) -> dict[str, bytes]:
    if additional is None:
        return {}
    if isinstance(additional, (str, Path)):
        raise ValueError(
            f"additional_files: expected a list of paths or a mapping, got the path {additional!r}"
        )
    pairs = (
        [(str(k), Path(v).expanduser()) for k, v in additional.items()]
        if isinstance(additional, Mapping)
        else [(Path(p).expanduser().name, Path(p).expanduser()) for p in additional]
    )
    files: dict[str, bytes] = {}
    for arcname, path in pairs:
        _check_arcname(arcname)
        if path.is_symlink():
            raise ValueError(f"additional_files: {path} is a symbolic link (bundles hold plain files only)")
        if path.is_file():
            _add(files, arcname, path.read_bytes())
        elif path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if (
                    any(part in _SKIPPED_PARTS for part in relative.parts)
                    or child.suffix in _SKIPPED_SUFFIXES
                ):
                    continue  # byte-code caches differ between machines and runs
                if child.is_symlink():
                    raise ValueError(f"additional_files: {child} is a symbolic link (plain files only)")
                if child.is_file():
                    _add(files, f"{arcname}/{relative.as_posix()}", child.read_bytes())
        else:
            raise FileNotFoundError(f"additional_files: no such file or directory: {path}")
    return files


def _check_arcname(arcname: str) -> None:
    parts = PurePosixPath(arcname).parts
    if not arcname or arcname.startswith("/") or "\\" in arcname or ".." in parts or "." in parts:
        raise ValueError(f"additional_files: {arcname!r} is not a plain relative name inside the bundle")


def _add(files: dict[str, bytes], arcname: str, data: bytes) -> None:
    if arcname in files:
        raise ValueError(f"additional_files: two files would be stored as {arcname!r}")
    files[arcname] = data


def _check_class_is_reachable(class_path: str, files: Mapping[str, bytes]) -> None:
    """The class must ship in the bundle or be importable where the bundle is packaged; a bundle whose
    class exists nowhere would only fail later, on the server, with less to go on."""
    module = class_path.rsplit(".", 1)[0]
    module_file = module.replace(".", "/")
    if f"{module_file}.py" in files or f"{module_file}/__init__.py" in files:
        return
    from daf_core.evaluation import policy_class  # noqa: PLC0415 - loads mettagrid

    try:
        policy_class(class_path)
    except ValueError as err:
        raise ValueError(
            f"policy_class_path: {class_path!r} is neither importable here nor a module in additional_files "
            f"({err})"
        ) from None


def _policy_spec(class_path: str, weights: _Weights, mission: str | Path | None, weights_path: Any) -> Any:
    submission = import_preserving_process_state("mettagrid.policy.submission")
    if mission is not None:
        interface = _interface_of(mission)
    elif weights.run_spec is not None and weights.run_spec.policy_env_interface is not None:
        interface = weights.run_spec.policy_env_interface
    else:
        raise ValueError(
            "mission: needed to record the policy's environment interface (the policy server builds the "
            f"policy from it), and weights_path={weights_path!r} is not a run directory that recorded one"
        )
    init_kwargs = dict(weights.run_spec.init_kwargs) if weights.run_spec is not None else {}
    return submission.SubmissionPolicySpec(
        class_path=class_path,
        data_path=weights.data_path,
        init_kwargs=init_kwargs,
        policy_env_interface=interface,
    )


def _interface_of(mission: str | Path) -> Any:
    from daf_core.missions import load_mission  # noqa: PLC0415 - loads mettagrid

    interfaces = import_preserving_process_state("mettagrid.policy.policy_env_interface")
    try:
        env_cfg = load_mission(mission)
    except (ValueError, FileNotFoundError) as err:
        raise ValueError(f"mission: {err}") from None
    return interfaces.PolicyEnvInterface.from_mg_cfg(env_cfg)
