"""``DAFPipelineConfig``: an ordered workflow of DAF stages, with the settings of each stage, in one file.

A pipeline lists its stages (see :data:`PIPELINE_STAGES`) and carries one optional section per kind of
work: ``training`` (a :class:`~daf_core.config.DAFTrainingConfig`), ``evaluation``, ``sweep``
(a :class:`~daf_core.config.DAFSweepConfig`), ``comparison`` (a
:class:`~daf_core.config.DAFComparisonConfig`), ``benchmark``, ``deployment`` (a
:class:`~daf_core.config.DAFDeploymentConfig`), ``environment_check`` and ``daf_config`` (the global
:class:`~daf_core.config.DAFConfig`, inline or as the path of its file). A listed stage whose section is
missing runs with that section's defaults where there are sensible ones; where there are none (a sweep's
search space, where to deploy), the config is refused when it is loaded, naming the section.

Which stage waits for which is :data:`STAGE_DEPENDENCIES`, resolved for a list of stages by
:func:`stage_dependencies`; :mod:`daf_core.orchestrators` runs them.

Everything a pipeline writes goes under its folder, ``<output_dir>/<name>/``: a section's output
location that is not given (``training.checkpoint_dir``, the ``output_dir`` of ``evaluation``, ``sweep``,
``comparison``, ``benchmark`` and ``daf_config``) is set to its subfolder there when the config is
validated (:data:`SECTION_OUTPUTS`), so moving ``output_dir`` moves the whole pipeline, and the saved
config says where everything went.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    BeforeValidator,
    Field,
    SerializationInfo,
    TypeAdapter,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from daf_core.config.base import ConfigPath, DAFConfigBase, Integer, NonEmptyStr, PositiveInt, reject_bool
from daf_core.config.comparison import DAFComparisonConfig
from daf_core.config.deployment import DAFDeploymentConfig
from daf_core.config.global_config import DAFConfig
from daf_core.config.limits import short_repr
from daf_core.config.sweep import DAFSweepConfig
from daf_core.config.training import DAFTrainingConfig

#: Stage names a :class:`DAFPipelineConfig` may list, in the order a full pipeline would run them.
PIPELINE_STAGES: tuple[str, ...] = (
    "environment_check",
    "train",
    "evaluate",
    "sweep",
    "compare",
    "benchmark",
    "package",
    "validate",
    "deploy",
)

#: Stands, in :data:`STAGE_DEPENDENCIES`, for the stage that made the policy a stage works on: the
#: closest ``train`` or ``sweep`` (its best trial's checkpoint) listed before it.
POLICY = "policy"
POLICY_SOURCES: tuple[str, ...] = ("train", "sweep")

#: The stages each stage waits for, and is skipped after when one of them failed or was skipped. Only
#: those listed before it count: ``evaluate`` alone evaluates the policies its section names, after
#: ``train`` it evaluates the trained one. The one place the pipeline's graph is defined.
STAGE_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "environment_check": (),
    "train": ("environment_check",),
    "sweep": ("environment_check",),
    "evaluate": ("environment_check", POLICY),
    "compare": ("environment_check", POLICY),
    "benchmark": ("environment_check", POLICY),
    "package": ("environment_check", POLICY),
    "validate": ("environment_check", "package"),
    "deploy": ("environment_check", "package", "validate"),
}

#: (section, field, subfolder of the pipeline's folder): where a section writes when it does not say.
SECTION_OUTPUTS: tuple[tuple[str, str, str], ...] = (
    ("daf_config", "output_dir", ""),
    ("daf_config", "checkpoint_dir", "checkpoints"),
    ("training", "checkpoint_dir", "checkpoints"),
    ("evaluation", "output_dir", "evaluation"),
    ("sweep", "output_dir", "sweeps"),
    ("comparison", "output_dir", "comparisons"),
    ("benchmark", "output_dir", "benchmarks"),
)

#: A pipeline's name is the name of its folder.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_DEFAULT_OUTPUT_DIR = Path("./daf_output/pipelines")
_CONFIG_PATH: TypeAdapter[Path] = TypeAdapter(ConfigPath)


def policy_source(stages: Sequence[str], stage: str) -> str | None:
    """The ``train`` or ``sweep`` stage listed closest before ``stage``; None when there is none."""
    before = list(stages)[: list(stages).index(stage)]
    return next((name for name in reversed(before) if name in POLICY_SOURCES), None)


def stage_dependencies(stages: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each listed stage's dependencies among the stages listed before it (:data:`STAGE_DEPENDENCIES`)."""
    resolved: dict[str, tuple[str, ...]] = {}
    for position, stage in enumerate(stages):
        before = set(stages[:position])
        needs = []
        for need in STAGE_DEPENDENCIES[stage]:
            name = policy_source(stages, stage) if need == POLICY else need
            if name is not None and name in before:
                needs.append(name)
        resolved[stage] = tuple(needs)
    return resolved


Missions = Annotated[list[NonEmptyStr], Field(min_length=1)]


class EnvironmentCheckSettings(DAFConfigBase):
    """What the ``environment_check`` stage checks (see
    :func:`daf_core.environment_checks.daf_check_environment`)."""

    #: Missions to build; None: every mission the pipeline's other stages name.
    missions: Missions | None = None
    check_dependencies: bool = True
    check_cuda: bool = True
    #: Fail (rather than warn) when no CUDA device is usable.
    require_cuda: bool = False
    check_disk: bool = True
    #: Free space needed where the checkpoints go.
    min_available_gb: Annotated[float, BeforeValidator(reject_bool), Field(ge=0.0)] = 10.0


class EvaluationSettings(DAFConfigBase):
    """What the ``evaluate`` stage runs: the pipeline's policy (and ``policies``) on held-out seeds."""

    episodes: PositiveInt = 5
    #: First episode seed. Training maps come from seeds >= 1e9 and sweep trials are scored on seeds
    #: from their ``evaluation_seed`` (1000 by default), so the default seeds are held out from both.
    seed: Annotated[Integer, Field(ge=0)] = 100_000
    #: None: the missions of the stage that made the policy (training or sweep).
    missions: Missions | None = None
    #: Policies evaluated beside the pipeline's own (all of them when no train or sweep stage precedes).
    policies: list[NonEmptyStr] = Field(default_factory=list)
    output_dir: ConfigPath = _DEFAULT_OUTPUT_DIR / "evaluation"


class BenchmarkSettings(DAFConfigBase):
    """What the ``benchmark`` stage runs (see :func:`daf_core.comparison.daf_benchmark_suite`)."""

    #: A suite of :data:`daf_core.comparison.BENCHMARK_SUITES` ("quick", "standard").
    suite: NonEmptyStr = "standard"
    #: Policies benchmarked beside the pipeline's own (all of them when no train or sweep precedes).
    policies: list[NonEmptyStr] = Field(default_factory=list)
    #: None keeps the suite's own count (another count changes the suite's fingerprint).
    episodes_per_mission: PositiveInt | None = None
    output_dir: ConfigPath = _DEFAULT_OUTPUT_DIR / "benchmarks"


def _usable_folder_name(value: Any) -> bool:
    return isinstance(value, str) and bool(_NAME_RE.match(value.strip()))


class DAFPipelineConfig(DAFConfigBase):
    """An ordered workflow of DAF stages (see :data:`PIPELINE_STAGES`) and the settings of each.

    ``stop_on_failure``: stop at the first failed stage (the rest are skipped); otherwise every stage
    that does not depend on a failed one still runs. ``parallel_stages``: a stage starts as soon as the
    stages it depends on (:data:`STAGE_DEPENDENCIES`) are done, so independent ones overlap.
    """

    name: NonEmptyStr
    stages: Annotated[list[NonEmptyStr], Field(min_length=1)]
    stop_on_failure: bool = True
    parallel_stages: bool = False
    #: The pipeline writes under ``<output_dir>/<name>/``.
    output_dir: ConfigPath = _DEFAULT_OUTPUT_DIR
    #: Global settings, inline or the path of a DAFConfig file; None: DAFConfig's defaults with
    #: ``output_dir`` the pipeline's folder.
    daf_config: DAFConfig | ConfigPath | None = None
    environment_check: EnvironmentCheckSettings | None = None
    #: The ``train`` stage's run; None: DAFTrainingConfig's defaults.
    training: DAFTrainingConfig | None = None
    evaluation: EvaluationSettings | None = None
    #: The ``sweep`` stage's sweep (required when ``sweep`` is listed).
    sweep: DAFSweepConfig | None = None
    #: The ``compare`` stage's comparison; after ``train`` or ``sweep`` its ``policies`` are the
    #: baselines the pipeline's policy is compared with. None: against ``random`` on the evaluation's
    #: missions, episodes and seeds.
    comparison: DAFComparisonConfig | None = None
    benchmark: BenchmarkSettings | None = None
    #: What ``package``, ``validate`` and ``deploy`` use (required for ``deploy``, and for ``package``
    #: when no train or sweep stage precedes it). None: the pipeline's name, version 0.1.0, and the
    #: validation defaults on the policy's missions.
    deployment: DAFDeploymentConfig | None = None

    @property
    def folder(self) -> Path:
        """Where this pipeline writes: ``<output_dir>/<name>``."""
        return Path(self.output_dir) / self.name

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, name: str) -> str:
        """The name is a folder under output_dir, so it must not climb out of it or hide a separator."""
        if not _usable_folder_name(name):
            raise ValueError(
                "a pipeline's name names its folder: 1-128 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return name

    @field_validator("daf_config", mode="plain")
    @classmethod
    def _inline_or_file(cls, value: Any) -> DAFConfig | Path | None:
        """A mapping is the DAFConfig itself, a string its file (read when the pipeline runs, relative
        to the directory DAF runs in). Validated by hand so an error names ``daf_config``, not the
        members of a union."""
        if value is None or isinstance(value, DAFConfig):
            return value
        if isinstance(value, dict):
            return DAFConfig.from_dict(value)
        if isinstance(value, str | Path):
            try:
                return _CONFIG_PATH.validate_python(value)
            except ValidationError as err:
                raise ValueError(
                    str(err.errors(include_url=False)[0]["msg"]).removeprefix("Value error, ")
                ) from None
        raise ValueError("expected a mapping of DAFConfig fields or the path of a DAFConfig file")

    @field_serializer("daf_config")
    def _save_inline_or_file(self, value: DAFConfig | Path | None, info: SerializationInfo) -> Any:
        """Saved as validated (pydantic 2.14 cannot serialize a union behind a plain validator)."""
        if isinstance(value, DAFConfig):
            return value.model_dump(mode=info.mode)
        return str(value) if value is not None and info.mode_is_json() else value

    @field_validator("stages")
    @classmethod
    def _known_stages(cls, stages: list[str]) -> list[str]:
        """An unknown stage would otherwise only fail when the pipeline reaches it, hours in."""
        for stage in stages:
            if stage not in PIPELINE_STAGES:
                close = difflib.get_close_matches(stage[:100], PIPELINE_STAGES, n=1, cutoff=0.5)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(PIPELINE_STAGES)}"
                raise ValueError(f"unknown stage {short_repr(stage)}; {hint}")
        duplicates = sorted(stage for stage, count in Counter(stages).items() if count > 1)
        if duplicates:
            raise ValueError(f"stage {duplicates[0]!r} is listed more than once; each stage runs once")
        return stages

    @model_validator(mode="before")
    @classmethod
    def _sections_write_under_the_folder(cls, data: Any) -> Any:
        """A section's output location that is not given (or null) becomes its subfolder of
        ``<output_dir>/<name>`` (:data:`SECTION_OUTPUTS`); one that is given is kept as it is."""
        if not isinstance(data, dict) or not _usable_folder_name(data.get("name")):
            return data
        output_dir = data.get("output_dir", _DEFAULT_OUTPUT_DIR)
        if not isinstance(output_dir, str | Path) or not str(output_dir).strip() or "\x00" in str(output_dir):
            return data  # the output_dir field reports it
        folder = Path(output_dir) / data["name"].strip()
        data = dict(data)
        for section, field, subfolder in SECTION_OUTPUTS:
            value = data.get(section)
            if isinstance(value, dict) and value.get(field) is None:
                # A string, not a Path: model_validate_json accepts only JSON types for Path fields.
                data[section] = {**value, field: str(folder / subfolder) if subfolder else str(folder)}
        return data

    @model_validator(mode="after")
    def _every_stage_has_what_it_needs(self) -> Self:
        """A stage that could only fail when reached (no search space, nowhere to deploy, nothing to
        evaluate) is refused now, naming the section that is missing."""
        for stage in self.stages:
            problem = self._missing_for(stage, policy_source(self.stages, stage))
            if problem is not None:
                raise ValueError(f"stages: {stage!r} {problem}")
        return self

    def _missing_for(self, stage: str, source: str | None) -> str | None:
        listed_before = self.stages[: self.stages.index(stage)]
        if stage == "sweep" and self.sweep is None:
            return "needs the 'sweep' section (a DAFSweepConfig: name, missions, search_space, ...)"
        if stage in ("validate", "deploy") and "package" not in listed_before:
            return "needs 'package' listed before it: it works on the package's bundle"
        if stage == "deploy" and self.deployment is None:
            return "needs the 'deployment' section (policy_name, version, deployment_endpoint, ...)"
        if source is not None:
            return None
        # No train or sweep before it: the stage's own section must name what it works on.
        if stage == "evaluate" and (self.evaluation is None or not self.evaluation.policies):
            return "needs 'evaluation.policies' when no train or sweep stage is listed before it"
        if stage == "evaluate" and self.evaluation is not None and self.evaluation.missions is None:
            return "needs 'evaluation.missions' when no train or sweep stage is listed before it"
        if stage == "compare" and (self.comparison is None or len(self.comparison.policies) < 2):
            return (
                "needs the 'comparison' section with at least two 'comparison.policies' when no train or "
                "sweep stage is listed before it"
            )
        if stage == "benchmark" and (self.benchmark is None or not self.benchmark.policies):
            return "needs 'benchmark.policies' when no train or sweep stage is listed before it"
        if stage == "package" and self.deployment is None:
            return (
                "needs the 'deployment' section (policy_class_path, weights_path) when no train or sweep "
                "stage is listed before it"
            )
        return None

    def with_changes(self, **fields: Any) -> DAFPipelineConfig:
        """A copy with ``fields`` replaced (validated); output locations that followed the old folder
        follow the new one (``daf run --output-dir``), those given elsewhere stay where they were."""
        data = self.to_dict()
        for section, field, subfolder in SECTION_OUTPUTS:
            value = data.get(section)
            if isinstance(value, dict) and value.get(field) is not None:
                if Path(value[field]) == (self.folder / subfolder if subfolder else self.folder):
                    data[section] = {key: item for key, item in value.items() if key != field}
        return type(self).from_dict({**data, **fields})
