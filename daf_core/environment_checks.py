"""Pre-flight checks: find a broken machine or mission before a training run or sweep starts.

A sweep that dies an hour in because a mission does not build, the disk filled up, or PufferLib's
compiled kernels do not load wastes the hour. Each check here does the real thing on a small scale
(imports the package, loads the kernel and runs it, builds the map and the simulator, asks the file
system for free space) and records the outcome in an :class:`EnvironmentCheckResult`, which a
caller prints (``summary()``), gates on (``is_healthy()``) or attaches to a Dagster asset
(``to_dict()``).

Importing this module is light: torch, cogames and the mission catalog are imported inside the
functions that need them, so a Dagster code location can import it without paying for torch.
Every third-party import goes through :func:`import_preserving_process_state`, so running the
checks leaves the caller's root logger, SIGINT handler and excepthook as they were.
"""

from __future__ import annotations

import importlib.metadata
import io
import logging
import math
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daf_core._internal.process_state import import_preserving_process_state

if TYPE_CHECKING:
    import torch
    from rich.console import Console

    from daf_core.config import DAFConfig

logger = logging.getLogger(__name__)

GB = 1024**3

# Exact pins: cogames 0.27.3 is the last working release and pins mettagrid 0.26.21; other versions
# change the config schema DAF's missions and the trainer wrapper are written against.
PINNED_VERSIONS: dict[str, str] = {"cogames": "0.27.3", "mettagrid": "0.26.21"}

# (import name, distribution names to ask importlib.metadata, in order)
REQUIRED_PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cogames", ("cogames",)),
    ("mettagrid", ("mettagrid",)),
    ("torch", ("torch",)),
    ("pufferlib", ("pufferlib-core", "pufferlib")),
    ("numpy", ("numpy",)),
    ("pandas", ("pandas",)),
    ("scipy", ("scipy",)),
    ("pydantic", ("pydantic",)),
    ("yaml", ("PyYAML",)),
    ("optuna", ("optuna",)),
    ("matplotlib", ("matplotlib",)),
    ("rich", ("rich",)),
)

# Optional: only the Dagster layer and PostgreSQL-backed storage need them; the daf_core library does not.
OPTIONAL_PACKAGES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("dagster", ("dagster",), "Dagster pipelines (daf_dagster) are unavailable"),
    ("dagster_webserver", ("dagster-webserver",), "the Dagster UI (dagster dev) is unavailable"),
    ("psycopg2", ("psycopg2-binary", "psycopg2"), "PostgreSQL storage for Dagster/Optuna is unavailable"),
)

PUFFERLIB_CPU_BUILD_HINT = (
    "Training needs it (PPO advantages run in its kernel). On a CPU-only torch the published "
    "pufferlib-core wheels cannot load (they link CUDA and torch 2.9). Build it from source against the "
    "installed torch, as `make install` does: install numpy gymnasium psutil rich rich-argparse einops "
    "nvidia-ml-py pyro-ppl setuptools wheel setuptools_scm, then `PUFFERLIB_DISABLE_CUDA=1 pip install "
    "--no-deps --no-build-isolation --no-binary pufferlib-core --force-reinstall pufferlib-core==3.0.23`. "
    "On a GPU machine install CUDA torch and the pufferlib-core wheel (`make install TORCH_VERSION=2.9.0 "
    "PUFFERLIB=wheel`)."
)


@dataclass(frozen=True)
class EnvironmentCheck:
    """One check's outcome. ``error`` is set when the check could not complete (an exception)."""

    name: str
    passed: bool
    warning: str | None = None
    info: str | None = None
    error: str | None = None

    @property
    def mark(self) -> str:
        """✗ failed, ! passed with a warning, ✓ passed."""
        if not self.passed:
            return "✗"
        return "!" if self.warning else "✓"


class EnvironmentCheckResult:
    """An ordered collection of check outcomes.

    Healthy means: at least one check ran, every check passed, and none errored. A result with no
    checks is *not* healthy, because nothing was verified; warnings never make a result unhealthy.
    """

    def __init__(self, checks: Iterable[EnvironmentCheck] = ()) -> None:
        self.checks: list[EnvironmentCheck] = list(checks)

    def add_check(self, name: str, passed: bool, warning: str | None = None, info: str | None = None) -> None:
        """Record a check that ran to completion; a failed one says why in ``info`` or ``warning``."""
        self.checks.append(EnvironmentCheck(name=name, passed=bool(passed), warning=warning, info=info))

    def add_error(self, name: str, error_msg: str) -> None:
        """Record a check that could not complete; it counts as failed."""
        self.checks.append(EnvironmentCheck(name=name, passed=False, error=str(error_msg)))

    def merge(self, other: EnvironmentCheckResult) -> EnvironmentCheckResult:
        """Append ``other``'s checks to this result (in order) and return this result."""
        self.checks.extend(other.checks)
        return self

    @property
    def errors(self) -> list[EnvironmentCheck]:
        return [c for c in self.checks if c.error is not None]

    @property
    def failed(self) -> list[EnvironmentCheck]:
        return [c for c in self.checks if not c.passed]

    @property
    def warnings(self) -> list[EnvironmentCheck]:
        return [c for c in self.checks if c.warning]

    def is_healthy(self) -> bool:
        """True when at least one check ran and all passed; a result with zero checks is not healthy."""
        return bool(self.checks) and not self.failed

    def verdict(self) -> str:
        if not self.checks:
            return "NOT VERIFIED (no checks ran)"
        if self.is_healthy():
            suffix = f", {len(self.warnings)} warning(s)" if self.warnings else ""
            return f"HEALTHY ({len(self.checks)} checks passed{suffix})"
        return f"UNHEALTHY ({len(self.failed)} of {len(self.checks)} checks failed)"

    def summary(self) -> str:
        """Multi-line text: one line per check (✓ passed, ! warning, ✗ failed), then the verdict."""
        lines = ["DAF environment checks:"]
        for check in self.checks:
            line = f"  {check.mark} {check.name}"
            if check.info:
                line += f": {check.info}"
            lines.append(line)
            if check.error:
                lines.append(f"      error: {check.error}")
            if check.warning:
                lines.append(f"      warning: {check.warning}")
        lines.append(f"Verdict: {self.verdict()}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, e.g. for Dagster asset metadata."""
        return {
            "healthy": self.is_healthy(),
            "num_checks": len(self.checks),
            "num_failed": len(self.failed),
            "num_warnings": len(self.warnings),
            "verdict": self.verdict(),
            "checks": [asdict(c) for c in self.checks],
        }

    def __repr__(self) -> str:
        return f"EnvironmentCheckResult({self.verdict()})"


# --------------------------------------------------------------------------------------------------
# helpers


def _quiet_console() -> Console:
    from rich.console import Console  # noqa: PLC0415 - keep module import light

    return Console(file=io.StringIO(), force_terminal=False, width=200)


def _captured_text(console: Console) -> str:
    file = console.file
    return file.getvalue().strip() if isinstance(file, io.StringIO) else ""


def _import_torch() -> Any:
    return import_preserving_process_state("torch")


def _installed_version(dist_names: Sequence[str]) -> tuple[str, str] | None:
    """(distribution name, version) of the first installed distribution, or None."""
    for dist in dist_names:
        try:
            return dist, importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _describe_exception(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


# --------------------------------------------------------------------------------------------------
# checks


def daf_check_cuda_availability(
    console: Console | None = None, require_cuda: bool = False
) -> EnvironmentCheckResult:
    """Report torch's CUDA build and devices and the device cogames would train on.

    Uses ``cogames.device.resolve_training_device(console, "auto")`` so the answer is the one the
    trainer itself reaches. No CUDA is a warning (training runs, slowly, on CPU) unless
    ``require_cuda`` is set, e.g. for a GPU job that must not silently fall back to CPU.
    """
    result = EnvironmentCheckResult()
    try:
        torch = _import_torch()
        resolve_training_device = import_preserving_process_state("cogames.device").resolve_training_device

        quiet = console is None
        out = _quiet_console() if quiet else console
        device = torch.device(resolve_training_device(out, "auto"))
        if quiet and (said := _captured_text(out)):
            logger.debug("cogames.device: %s", said)

        cuda_built = bool(torch.backends.cuda.is_built())
        count = torch.cuda.device_count() if cuda_built and torch.cuda.is_available() else 0
        names = [torch.cuda.get_device_name(i) for i in range(count)]
    except Exception as err:  # noqa: BLE001 - any failure here is the finding
        result.add_error("cuda", f"could not determine the training device: {_describe_exception(err)}")
        return result

    parts = [f"torch {torch.__version__}"]
    parts.append(f"CUDA {torch.version.cuda} built" if cuda_built else "CUDA not built into torch")
    parts.append(f"{count} CUDA device(s)" + (f" ({', '.join(names)})" if names else ""))
    parts.append(f"training device: {device}")
    info = ", ".join(parts)

    if device.type == "cuda":
        result.add_check("cuda", True, info=info)
        return result
    if cuda_built:
        reason = f"torch has CUDA {torch.version.cuda} but no usable CUDA device (driver, visibility or MIG?)"
    else:
        reason = f"torch {torch.__version__} is a CPU build"
    if require_cuda:
        result.add_check("cuda", False, info=info, warning=f"CUDA required but unavailable: {reason}")
    else:
        result.add_check("cuda", True, info=info, warning=f"no CUDA: training runs on {device} ({reason})")
    return result


def _nearest_existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def daf_check_disk_space(
    checkpoint_dir: str | Path, min_available_gb: float = 10.0
) -> EnvironmentCheckResult:
    """Check the file system that will hold ``checkpoint_dir`` has ``min_available_gb`` free and is writable.

    The directory usually does not exist before the first run, so the nearest existing ancestor is
    measured (it is on the same file system the directory will be created on).
    """
    if isinstance(min_available_gb, bool) or not isinstance(min_available_gb, int | float):
        raise ValueError(f"min_available_gb must be a number of GB >= 0, got {min_available_gb!r}")
    if math.isnan(min_available_gb) or min_available_gb < 0:
        raise ValueError(f"min_available_gb must be >= 0, got {min_available_gb!r}")

    result = EnvironmentCheckResult()
    target = Path(checkpoint_dir).expanduser().absolute()
    try:
        measured = _nearest_existing_ancestor(target)
        usage = shutil.disk_usage(measured)
    except OSError as err:
        result.add_error("disk_space", f"cannot measure free space for {target}: {_describe_exception(err)}")
        return result

    free_gb, total_gb = usage.free / GB, usage.total / GB
    where = str(measured) if measured == target else f"{measured} (nearest existing parent of {target})"
    info = f"{free_gb:.1f} GB free of {total_gb:.1f} GB at {where}; need {min_available_gb:g} GB"
    if free_gb >= min_available_gb:
        result.add_check("disk_space", True, info=info)
    else:
        result.add_check(
            "disk_space",
            False,
            info=info,
            warning=f"only {free_gb:.3f} GB free, below min_available_gb={min_available_gb:g}",
        )

    if target.exists() and not target.is_dir():
        result.add_check("checkpoint_dir", False, info=f"{target} exists and is not a directory")
    elif not os.access(measured, os.W_OK | os.X_OK):
        result.add_check("checkpoint_dir", False, info=f"{measured} is not writable; cannot create {target}")
    return result


def _check_pufferlib_extension(result: EnvironmentCheckResult) -> None:
    """Load ``pufferlib._C`` and run its advantage kernel once on a tiny CPU batch."""
    name = "pufferlib._C"
    try:
        torch = _import_torch()
        module = import_preserving_process_state("pufferlib._C")
    except Exception as err:  # noqa: BLE001 - ImportError/OSError from a mislinked .so, among others
        result.add_error(
            name,
            f"cannot load PufferLib's compiled extension ({_describe_exception(err)}). "
            f"{PUFFERLIB_CPU_BUILD_HINT}",
        )
        return
    try:
        shape = (2, 4)
        values, terminals, advantages = (torch.zeros(shape) for _ in range(3))
        rewards, ratio = torch.ones(shape), torch.ones(shape)
        torch.ops.pufferlib.compute_puff_advantage(
            values, rewards, terminals, ratio, advantages, 0.99, 0.95, 1.0, 1.0
        )
        if not bool(torch.isfinite(advantages).all()) or float(advantages.abs().sum()) == 0.0:
            raise RuntimeError(f"kernel returned implausible advantages {advantages.tolist()}")
    except Exception as err:  # noqa: BLE001
        result.add_error(
            name,
            f"extension {module.__file__} loads but its advantage kernel fails on CPU "
            f"({_describe_exception(err)}). {PUFFERLIB_CPU_BUILD_HINT}",
        )
        return
    result.add_check(
        name, True, info=f"loaded from {Path(module.__file__).name}; advantage kernel runs on CPU"
    )


def daf_check_dependencies() -> EnvironmentCheckResult:
    """Import every package DAF needs and report versions; verify the pinned ones and PufferLib's kernels.

    One check per package (``package:<name>``). cogames and mettagrid must match their pins exactly.
    ``pufferlib._C`` must load and run, because cogames' trainer fails without it (after it started).
    Optional packages (Dagster, the webserver, psycopg2) only add a warning when missing.
    """
    result = EnvironmentCheckResult()
    for module_name, dists in REQUIRED_PACKAGES:
        name = f"package:{module_name}"
        found = _installed_version(dists)
        try:
            import_preserving_process_state(module_name)
        except Exception as err:  # noqa: BLE001 - a broken install raises anything
            hint = (
                f"install it: pip install {dists[0]}" if found is None else f"{dists[0]} {found[1]} is broken"
            )
            result.add_error(name, f"cannot import {module_name}: {_describe_exception(err)}; {hint}")
            continue
        version = found[1] if found else "unknown version"
        expected = PINNED_VERSIONS.get(module_name)
        if expected is not None and version != expected:
            result.add_check(
                name,
                False,
                info=f"{module_name} {version} installed, expected =={expected}",
                warning=f"version mismatch: pip install {dists[0]}=={expected}",
            )
        else:
            pin = f" (pinned =={expected})" if expected else ""
            result.add_check(name, True, info=f"{found[0] if found else module_name} {version}{pin}")

    _check_pufferlib_extension(result)

    for module_name, dists, consequence in OPTIONAL_PACKAGES:
        name = f"optional:{module_name}"
        found = _installed_version(dists)
        if found is None:
            result.add_check(name, True, warning=f"not installed: {consequence} (pip install {dists[0]})")
        else:
            result.add_check(name, True, info=f"{found[0]} {found[1]}")
    return result


def _build_mission(env_cfg: Any) -> str:
    """Build the map and a simulator for ``env_cfg``, step it once with no-ops; return a description."""
    simulator = import_preserving_process_state("mettagrid.simulator").Simulator()
    simulation = simulator.new_simulation(env_cfg, seed=0)  # builds the map and starts an episode
    try:
        simulation.observations()
        simulation.step()  # actions default to index 0, which is noop
        return (
            f"{simulation.num_agents} agents, {simulation.map_width}x{simulation.map_height}, "
            f"max_steps {env_cfg.game.max_steps}, {len(simulation.action_names)} actions"
        )
    finally:
        simulation.close()
        simulator.close()


def daf_check_mission_configs(missions: Sequence[str | Path] | str | Path) -> EnvironmentCheckResult:
    """Load each mission and build it (map + simulator + one step), one check per mission.

    Loading alone misses configs that validate but cannot run (more agents than spawn points, an
    object type the map uses but the game does not define): those fail only when the simulator is
    built, which in training happens after the run started. A mission that fails to load or build is
    a failed check carrying the error text (for unknown names it lists close matches), not an exception.
    A single name or path is accepted as a one-mission list.
    """
    if isinstance(missions, str | Path):
        missions = [missions]
    missions = list(missions)
    if not missions:
        raise ValueError("missions must name at least one mission, got an empty list")

    from daf_core.missions import load_mission  # noqa: PLC0415 - imports cogames/mettagrid config

    result = EnvironmentCheckResult()
    for mission in missions:
        name = f"mission:{mission}"
        try:
            env_cfg = load_mission(mission)
        except (ValueError, FileNotFoundError) as err:
            result.add_error(name, str(err))
            continue
        except Exception as err:  # noqa: BLE001
            result.add_error(name, f"failed to load: {_describe_exception(err)}")
            continue
        try:
            info = _build_mission(env_cfg)
        except Exception as err:  # noqa: BLE001 - mettagrid raises ValueError/RuntimeError/pydantic errors
            result.add_error(name, f"loads but does not build: {_describe_exception(err)}")
            continue
        result.add_check(name, True, info=info)
    return result


def daf_check_environment(
    missions: Sequence[str | Path] | None = None,
    check_cuda: bool = True,
    check_disk: bool = True,
    check_dependencies: bool = True,
    checkpoint_dir: str | Path = "./daf_output/checkpoints",
    min_available_gb: float = 10.0,
    console: Console | None = None,
    require_cuda: bool = False,
) -> EnvironmentCheckResult:
    """Run the chosen checks before a training run or sweep and combine them into one result.

    Missions are checked only when given (``None`` skips them; an empty list is a ValueError).
    Each check is logged at INFO; the summary is printed to ``console`` when one is given.
    """
    result = EnvironmentCheckResult()
    if check_dependencies:
        result.merge(daf_check_dependencies())
    if check_cuda:
        result.merge(daf_check_cuda_availability(console=console, require_cuda=require_cuda))
    if check_disk:
        result.merge(daf_check_disk_space(checkpoint_dir, min_available_gb=min_available_gb))
    if missions is not None:
        result.merge(daf_check_mission_configs(missions))

    for check in result.checks:
        detail = "; ".join(x for x in (check.info, check.error, check.warning) if x)
        logger.info("environment check %s %s%s", check.mark, check.name, f": {detail}" if detail else "")
    logger.log(logging.INFO if result.is_healthy() else logging.WARNING, "environment: %s", result.verdict())

    if console is not None:
        from rich.text import Text  # noqa: PLC0415

        console.print(Text(result.summary()), soft_wrap=True)
    return result


def daf_get_recommended_device(config: DAFConfig | None = None) -> torch.device:
    """The training device: cogames' ``resolve_training_device(console, "auto")``, adjusted by DAFConfig.

    The same choice :func:`daf_select_training_device` makes for ``device="auto"`` in a single process:
    ``config.enable_gpu=False`` gives CPU; a chosen GPU becomes the current CUDA device and
    ``config.gpu_memory_fraction`` caps this process's share of its memory. Without a config the cogames
    choice is returned with no cap.
    """
    return daf_select_training_device("auto", config)


def daf_plan_training_device(
    requested: str | torch.device = "auto",
    config: DAFConfig | None = None,
    local_rank: int = 0,
    world_size: int = 1,
) -> torch.device:
    """The device worker ``local_rank`` of ``world_size`` trains on, or a ValueError; touches no CUDA state.

    ``requested`` is ``"auto"`` (cogames' choice: CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``,
    ``"cuda:N"`` or ``"mps"``. A GPU is refused when ``config.enable_gpu`` is False, whether asked for
    by name or not. In a data-parallel run each worker takes the GPU of its local rank, so ``"cuda:N"``
    (every worker on one GPU) is refused there. The answer always carries a CUDA index, so whatever is
    placed on it lands on that GPU and not on the current one. A launcher calls this to refuse a run
    before starting workers; a worker calls :func:`daf_select_training_device`.
    """
    torch = _import_torch()
    gpu_allowed = config is None or config.enable_gpu
    if str(requested).strip().lower() == "auto":
        if not gpu_allowed:
            return torch.device("cpu")
        device = torch.device(_cogames_auto_device())
    else:
        try:
            device = torch.device(str(requested).strip().lower())
        except (RuntimeError, ValueError):
            raise ValueError(
                f"device: {requested!r} is not a device; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
            ) from None
        if device.type not in ("cpu", "cuda", "mps"):
            raise ValueError(f"device: {requested!r} cannot train; use 'auto', 'cpu', 'cuda' or 'mps'")
        if device.type != "cpu" and not gpu_allowed:
            raise ValueError(
                f"device: {requested!r} asks for a GPU but DAFConfig.enable_gpu is False; "
                "use device='cpu' or 'auto', or set enable_gpu=True"
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device: {requested!r} but MPS is not available on this machine")
    if device.type == "cuda":
        return _cuda_device_for_worker(torch, device, requested, local_rank, world_size)
    return device


def _cogames_auto_device() -> Any:
    """cogames' own choice for ``"auto"``; what it prints (the CPU fallback) goes to DEBUG."""
    cogames_device = import_preserving_process_state("cogames.device")
    console = _quiet_console()
    device = cogames_device.resolve_training_device(console, "auto")
    if said := _captured_text(console):
        logger.debug("cogames.device: %s", said)
    return device


def _cuda_device_for_worker(
    torch: Any, device: torch.device, requested: Any, local_rank: int, world_size: int
) -> torch.device:
    if world_size > 1 and device.index is not None:
        raise ValueError(
            f"device: {requested!r} puts all {world_size} workers on one GPU; use 'cuda' or 'auto' "
            "(the worker of LOCAL_RANK k trains on cuda:k)"
        )
    count = torch.cuda.device_count() if torch.backends.cuda.is_built() and torch.cuda.is_available() else 0
    if count == 0:
        built = torch.backends.cuda.is_built()
        why = "no usable CUDA device" if built else f"torch {torch.__version__} is a CPU build"
        raise ValueError(f"device: {requested!r} but {why}; use device='cpu' or 'auto'")
    if world_size > 1:
        index = local_rank
    elif device.index is not None:
        index = device.index
    else:  # the current device: 0 unless the caller already chose one (asking would initialise CUDA)
        index = torch.cuda.current_device() if torch.cuda.is_initialized() else 0
    if index >= count:
        who = f"worker LOCAL_RANK={local_rank}" if world_size > 1 else f"device {requested!r}"
        raise ValueError(
            f"device: {who} needs cuda:{index} but this machine has {count} CUDA device(s); "
            "run at most one worker per GPU on each node, or use device='cpu'"
        )
    return torch.device("cuda", index)


def daf_select_training_device(
    requested: str | torch.device = "auto",
    config: DAFConfig | None = None,
    local_rank: int = 0,
    world_size: int = 1,
) -> torch.device:
    """Choose this training process's device (:func:`daf_plan_training_device`) and prepare it.

    For a GPU, in this order and before anything is allocated on it: it becomes the current CUDA
    device (so code that says only ``"cuda"`` lands there too), then ``config.gpu_memory_fraction``
    caps this process's share of that device's memory. Call it once per process, first thing.
    """
    torch = _import_torch()
    device = daf_plan_training_device(requested, config, local_rank, world_size)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        if config is not None:
            torch.cuda.set_per_process_memory_fraction(float(config.gpu_memory_fraction), device)
            logger.info(
                "capped %s memory at %.0f%% for this process", device, 100 * config.gpu_memory_fraction
            )
    logger.info("training device: %s", device)
    return device
