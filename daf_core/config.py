"""Configuration models for every DAF workflow, and their YAML/JSON load and save.

A DAF run must be reproducible from its saved config, so every config is a pydantic v2 model that:

* refuses unknown keys (``extra="forbid"``): a misspelt ``num_trails`` silently falling back to the
  default ``num_trials`` would waste a sweep, so it is an error that suggests the closest valid key;
* raises ``ValueError`` naming the field and the offending value for any bad input, whether it came
  from a file, from ``Model(...)`` in Python, or from assigning an attribute later (callers catch one
  exception type; pydantic's own ``ValidationError`` never escapes);
* saves atomically and loads back equal (``Model.from_yaml(m.to_yaml(p)) == m``).

All of that lives once, in :class:`DAFConfigBase`; the concrete models only declare fields and the
checks specific to them. :func:`configure_logging` makes ``DAFConfig.verbose``/``log_to_file`` take
effect on DAF's own ``daf_core`` logger, never on the caller's root logger.
"""

from __future__ import annotations

import difflib
import io
import json
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from daf_core.io import atomic_write_text
from daf_core.search_space import parse_search_space

logger = logging.getLogger(__name__)

__all__ = [
    "CONFIG_SUFFIXES",
    "PIPELINE_STAGES",
    "DAFComparisonConfig",
    "DAFConfig",
    "DAFConfigBase",
    "DAFDeploymentConfig",
    "DAFPipelineConfig",
    "DAFSweepConfig",
    "DAFTrainingConfig",
    "PPOConfig",
    "configure_logging",
    "daf_load_config",
]

#: File suffixes :meth:`DAFConfigBase.from_file` (and so :func:`daf_load_config`) understands.
CONFIG_SUFFIXES: dict[str, str] = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}

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

_MAX_VALUE_REPR = 120

# Semantic Versioning 2.0.0, the regular expression recommended at https://semver.org.
_SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


# --------------------------------------------------------------------------------------------------
# Field types shared by the models
# --------------------------------------------------------------------------------------------------


def _reject_bool(value: Any) -> Any:
    """pydantic's lax mode reads ``true`` as 1; in a config that is always a typo, never a count."""
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


def _non_empty_path(value: Any) -> Any:
    """``Path("")`` is the current directory; an empty path in a config is a mistake, not a choice."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("path must not be empty")
    return value


def _http_url(value: str) -> str:
    """Deployment clients speak HTTP; catch ``localhost:8080`` (no scheme) before a deploy fails late."""
    if any(ch.isspace() for ch in value):
        raise ValueError("URL must not contain whitespace")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http:// or https:// URL with a host, e.g. 'http://localhost:8080'")
    return value


def _semver(value: str) -> str:
    """Rollback compares versions, which only works if they follow semantic versioning."""
    if not _SEMVER_RE.match(value):
        raise ValueError("expected a semantic version MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. '1.2.3'")
    return value


NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
PositiveInt = Annotated[int, BeforeValidator(_reject_bool), Field(ge=1)]
ConfigPath = Annotated[Path, BeforeValidator(_non_empty_path), AfterValidator(Path.expanduser)]
HttpUrlStr = Annotated[str, AfterValidator(_http_url)]
SemVerStr = Annotated[str, AfterValidator(_semver)]


# --------------------------------------------------------------------------------------------------
# Parsing and error messages
# --------------------------------------------------------------------------------------------------


class _ConfigYAMLLoader(yaml.SafeLoader):
    """A SafeLoader fixed for configs: duplicate keys are errors, and ``1e-4`` is a float.

    PyYAML follows YAML 1.1, where ``1e-4`` (no dot) is the *string* "1e-4": a learning-rate range
    written the obvious way would reach the sweep as text. YAML 1.2 (and every other parser) reads it
    as a number, so we add that float form. A duplicated key silently keeps the last value in PyYAML,
    which is exactly the kind of silently ignored setting this module exists to prevent.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys from a `<<: *anchor` merge may legitimately be overridden
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # unhashable key: the base class reports it properly
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_ConfigYAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _reject_duplicate_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` keeps the last of duplicated keys; a config must not hide a setting that way."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(
                f"duplicate key {key!r} (values {_short_repr(result[key])} and {_short_repr(value)})"
            )
        result[key] = value
    return result


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        stream = io.StringIO(text)
        stream.name = str(path)  # type: ignore[misc]  # PyYAML names the file in its error marks
        return yaml.load(stream, Loader=_ConfigYAMLLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: malformed YAML: {err}") from err


def _parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_json_keys)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}: malformed JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from err
    except ValueError as err:  # a duplicate key
        raise ValueError(f"{path}: malformed JSON: {err}") from err


_PARSERS: dict[str, Callable[[str, Path], Any]] = {"yaml": _parse_yaml, "json": _parse_json}


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_REPR else text[: _MAX_VALUE_REPR - 3] + "..."


def _format_loc(loc: tuple[int | str, ...]) -> str:
    """('missions', 0) -> 'missions[0]': the way a user would point at the entry in their file."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _model_at(model: type[BaseModel], path: tuple[int | str, ...]) -> type[BaseModel]:
    """The nested model a location points into (``('ppo',)`` -> PPOConfig), for field suggestions."""
    for part in path:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return model


def _describe_error(model: type[BaseModel], error: Any) -> str:
    """One pydantic error as a sentence that names the field and the offending value."""
    loc = _format_loc(tuple(error["loc"]))
    value = _short_repr(error.get("input"))
    message = str(error["msg"]).removeprefix("Value error, ")
    kind = error["type"]
    if kind == "extra_forbidden":
        field_names = list(_model_at(model, tuple(error["loc"][:-1])).model_fields)
        close = difflib.get_close_matches(str(error["loc"][-1]), field_names, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"valid fields: {', '.join(field_names)}"
        return f"unknown field '{loc}' (value {value}); {hint}"
    if kind == "missing":
        return f"missing required field '{loc}'"
    if not loc:  # the document as a whole, e.g. a list where a mapping was expected
        return (
            f"expected a mapping of {model.__name__} fields, got {type(error.get('input')).__name__} {value}"
        )
    return f"invalid value for '{loc}': {value} ({message})"


def _validation_message(model: type[BaseModel], err: ValidationError, source: Path | None = None) -> str:
    """All of a ValidationError's problems in one message, prefixed with the model (and file) name."""
    problems = [_describe_error(model, error) for error in err.errors()]
    prefix = f"{source}: {model.__name__}" if source is not None else model.__name__
    if len(problems) == 1:
        return f"{prefix}: {problems[0]}"
    return f"{prefix}: {len(problems)} problems:\n" + "\n".join(f"  - {problem}" for problem in problems)


# --------------------------------------------------------------------------------------------------
# The shared base
# --------------------------------------------------------------------------------------------------


def _config_format(path: str | Path) -> str:
    """ "yaml" or "json" from the file suffix; anything else is an error naming the file."""
    path = Path(path)
    fmt = CONFIG_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"{path}: unsupported config file suffix {path.suffix!r}; "
            f"expected one of {', '.join(CONFIG_SUFFIXES)}"
        )
    return fmt


class DAFConfigBase(BaseModel):
    """Base of every DAF config: strict keys, ValueError on bad input, atomic YAML/JSON round trips.

    Subclasses declare fields only; loading, saving and error reporting are defined here once so that
    every config behaves the same way (and a fix to one is a fix to all).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # pydantic's ValidationError is a ValueError too, but its message uses pydantic's own notation and
    # cannot suggest the key that was meant; construction, assignment and validation are all wrapped.
    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise ValueError(_validation_message(type(self), err)) from err

    # Tell pydantic this __init__ only wraps the base one. Otherwise pydantic would route every
    # model_validate() through it (a "custom init"), and would turn our ValueError back into a
    # ValidationError whose message is the whole input mapping.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as err:
            raise ValueError(_validation_message(type(self), err)) from err

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """As pydantic's, but bad input raises ValueError naming the field and the value."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as err:
            raise ValueError(_validation_message(cls, err)) from err

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, *args: Any, **kwargs: Any) -> Self:
        """As pydantic's, but bad input raises ValueError naming the field and the value."""
        try:
            return super().model_validate_json(json_data, *args, **kwargs)
        except ValidationError as err:
            raise ValueError(_validation_message(cls, err)) from err

    # -- loading ------------------------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path: str | Path) -> Self:
        """Load from a YAML file (JSON is valid YAML, so a .json file works here too)."""
        return cls._load(path, "yaml")

    @classmethod
    def from_json(cls, path: str | Path) -> Self:
        """Load from a JSON file."""
        return cls._load(path, "json")

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        """Load from a .yaml, .yml or .json file, choosing the parser by suffix."""
        return cls._load(path, _config_format(path))

    @classmethod
    def from_dict(cls, data: Any, source: str | Path | None = None) -> Self:
        """Validate an already-parsed mapping; ``source`` names its file in error messages."""
        source_path = Path(source) if source is not None else None
        if not isinstance(data, dict):
            where = f"{source_path}: " if source_path is not None else ""
            raise ValueError(
                f"{where}{cls.__name__}: the top-level document must be a mapping of field names to values, "
                f"got {type(data).__name__} {_short_repr(data)}"
            )
        try:
            return super().model_validate(data)
        except ValidationError as err:
            raise ValueError(_validation_message(cls, err, source_path)) from err

    @classmethod
    def _load(cls, path: str | Path, fmt: str) -> Self:
        path = Path(path).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"{cls.__name__} config file not found: {path}")
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            raise ValueError(f"{path}: config file is empty; expected a mapping of {cls.__name__} fields")
        data = _PARSERS[fmt](text, path)
        if data is None:  # YAML with only comments
            raise ValueError(
                f"{path}: config file is empty (no YAML content); expected a mapping of {cls.__name__} fields"
            )
        config = cls.from_dict(data, source=path)
        logger.debug("loaded %s from %s", cls.__name__, path)
        return config

    # -- saving -------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data (paths as strings): what the files hold."""
        return self.model_dump(mode="json")

    def to_yaml(self, path: str | Path) -> Path:
        """Write as YAML atomically (parent directories created); returns the path written."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False, allow_unicode=True)
        return self._write(path, text)

    def to_json(self, path: str | Path) -> Path:
        """Write as JSON atomically (parent directories created); returns the path written."""
        return self._write(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def to_file(self, path: str | Path) -> Path:
        """Write as YAML or JSON, chosen by the suffix as in :meth:`from_file`."""
        return self.to_yaml(path) if _config_format(path) == "yaml" else self.to_json(path)

    def _write(self, path: str | Path, text: str) -> Path:
        written = atomic_write_text(Path(path).expanduser(), text)
        logger.debug("saved %s to %s", type(self).__name__, written)
        return written


# --------------------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------------------


_DEFAULT_OUTPUT_DIR = Path("./daf_output")


class DAFConfig(DAFConfigBase):
    """Global DAF settings: where results go, how much hardware to use, what to log and track."""

    output_dir: ConfigPath = _DEFAULT_OUTPUT_DIR
    #: Defaults to ``<output_dir>/checkpoints`` so that moving ``output_dir`` moves everything.
    checkpoint_dir: ConfigPath = _DEFAULT_OUTPUT_DIR / "checkpoints"
    max_checkpoints_to_keep: PositiveInt = 5
    max_parallel_jobs: PositiveInt = 4
    enable_gpu: bool = True
    gpu_memory_fraction: Annotated[float, BeforeValidator(_reject_bool), Field(gt=0.0, le=1.0)] = 0.8
    verbose: bool = False
    log_to_file: bool = True
    monitor_system_stats: bool = True
    track_experiments: bool = True

    @model_validator(mode="before")
    @classmethod
    def _derive_checkpoint_dir(cls, data: Any) -> Any:
        """A missing (or null) checkpoint_dir follows output_dir; an explicit one is kept as given."""
        if isinstance(data, dict) and data.get("checkpoint_dir") is None:
            output_dir = data.get("output_dir", _DEFAULT_OUTPUT_DIR)
            data = {key: value for key, value in data.items() if key != "checkpoint_dir"}
            if isinstance(output_dir, str | Path) and str(output_dir).strip():
                # A string, not a Path: model_validate_json accepts only JSON types for Path fields.
                data["checkpoint_dir"] = str(Path(output_dir) / "checkpoints")
        return data


class DAFSweepConfig(DAFConfigBase):
    """A hyperparameter sweep: which missions, which policy, which parameters, how to search them.

    ``search_space`` maps a parameter name to a list of choices, a range mapping such as
    ``{low: 1e-4, high: 3e-3, log: true}`` (``int: true`` for integers) or a fixed value; its structure
    is checked here (by :func:`daf_core.search_space.parse_search_space`), where each name goes (trainer,
    mission or policy) when the sweep is launched. ``base_hyperparameters`` are fixed values routed the
    same way. ``storage`` is an Optuna database URL; None keeps the study in
    ``<output_dir>/<name>/study.db`` (SQLite), a PostgreSQL URL lets workers on several machines share it.
    """

    name: NonEmptyStr
    missions: Annotated[list[NonEmptyStr], Field(min_length=1)]
    policy_class_path: NonEmptyStr = "lstm"
    search_space: dict[str, Any]
    strategy: Literal["grid", "random", "bayesian"] = "random"
    num_trials: PositiveInt = 10
    episodes_per_trial: PositiveInt = 5
    objective_metric: NonEmptyStr = "mean_reward"
    optimize_direction: Literal["maximize", "minimize"] = "maximize"
    seed: Annotated[int, BeforeValidator(_reject_bool)] = 42
    max_parallel_jobs: PositiveInt = 1
    output_dir: ConfigPath = Path("./daf_output/sweeps")
    #: Agent steps each trial trains (per training seed).
    training_steps: PositiveInt = 8192
    #: Each trial trains once per seed; the objective is the mean over seeds.
    training_seeds: Annotated[list[Annotated[int, BeforeValidator(_reject_bool)]], Field(min_length=1)] = [0]
    #: First evaluation episode seed; training maps come from seeds >= 1e9, so they never overlap.
    evaluation_seed: Annotated[int, BeforeValidator(_reject_bool), Field(ge=0)] = 1000
    vector_num_envs: PositiveInt = 16
    device: NonEmptyStr = "cpu"
    #: Fixed values for every trial, routed like search-space names (e.g. ``{"mission.max_steps": 50}``).
    base_hyperparameters: dict[str, Any] = Field(default_factory=dict)
    storage: NonEmptyStr | None = None
    #: Successive halving: each trial trains in ``early_stopping_chunks`` chunks, is evaluated after each,
    #: and stops early when it is not in the best 1/``early_stopping_reduction_factor`` at a rung.
    early_stopping: bool = False
    early_stopping_chunks: Annotated[int, BeforeValidator(_reject_bool), Field(ge=2)] = 4
    early_stopping_reduction_factor: Annotated[int, BeforeValidator(_reject_bool), Field(ge=2)] = 3

    @field_validator("search_space")
    @classmethod
    def _valid_search_space(cls, space: dict[str, Any]) -> dict[str, Any]:
        """A malformed range would otherwise only fail when the sweep samples it."""
        parse_search_space(space)
        return space

    @field_validator("training_seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        """A repeated seed would train and count the same run twice."""
        duplicates = sorted({seed for seed in seeds if seeds.count(seed) > 1})
        if duplicates:
            raise ValueError(f"seed {duplicates[0]} is listed more than once")
        return seeds

    @field_validator("storage")
    @classmethod
    def _database_url(cls, url: str | None) -> str | None:
        """A bare path is a common slip for an SQLite URL; say what Optuna expects."""
        if url is not None and "://" not in url:
            raise ValueError(
                "expected a database URL such as 'sqlite:////abs/path/study.db' or "
                "'postgresql://user@host:5432/db'"
            )
        return url

    @model_validator(mode="after")
    def _fixed_values_are_not_swept(self) -> Self:
        """A name both swept and fixed has no single meaning."""
        both = sorted(set(self.search_space) & set(self.base_hyperparameters))
        if both:
            raise ValueError(
                f"base_hyperparameters: {both[0]!r} is also in search_space; give it in one place only"
            )
        return self


class DAFDeploymentConfig(DAFConfigBase):
    """Where and how a trained policy is deployed, and what it must pass first."""

    policy_name: NonEmptyStr
    policy_class_path: NonEmptyStr
    weights_path: ConfigPath | None = None
    deployment_endpoint: HttpUrlStr
    authentication_server: HttpUrlStr | None = None
    validation_missions: list[NonEmptyStr] = Field(default_factory=list)
    version: SemVerStr
    enable_rollback: bool = True


class DAFComparisonConfig(DAFConfigBase):
    """Which policies to compare on which missions, with how many episodes and what outputs."""

    name: NonEmptyStr
    policies: Annotated[list[NonEmptyStr], Field(min_length=1)]
    missions: Annotated[list[NonEmptyStr], Field(min_length=1)]
    episodes_per_mission: PositiveInt = 5
    generate_html_report: bool = True
    save_raw_results: bool = True
    seed: Annotated[int, BeforeValidator(_reject_bool)] = 42
    significance_level: Annotated[float, BeforeValidator(_reject_bool), Field(gt=0.0, lt=1.0)] = 0.05
    output_dir: ConfigPath = Path("./daf_output/comparisons")


class DAFPipelineConfig(DAFConfigBase):
    """An ordered workflow of DAF stages (see :data:`PIPELINE_STAGES`)."""

    name: NonEmptyStr
    stages: Annotated[list[NonEmptyStr], Field(min_length=1)]
    stop_on_failure: bool = True
    parallel_stages: bool = False

    @field_validator("stages")
    @classmethod
    def _known_stages(cls, stages: list[str]) -> list[str]:
        """An unknown stage would otherwise only fail when the pipeline reaches it, hours in."""
        for stage in stages:
            if stage not in PIPELINE_STAGES:
                close = difflib.get_close_matches(stage, PIPELINE_STAGES, n=1, cutoff=0.5)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(PIPELINE_STAGES)}"
                raise ValueError(f"unknown stage {stage!r}; {hint}")
        duplicates = sorted({stage for stage in stages if stages.count(stage) > 1})
        if duplicates:
            raise ValueError(f"stage {duplicates[0]!r} is listed more than once; each stage runs once")
        return stages


# --------------------------------------------------------------------------------------------------
# Functions
# --------------------------------------------------------------------------------------------------


class PPOConfig(DAFConfigBase):
    """Every PPO setting PufferLib's trainer reads, in one place (CleanRL style).

    The defaults are exactly what ``cogames.train.train`` hard-codes, so DAF's trainer with defaults does
    the same work as cogames; a sweep changes these and they really reach ``pufferl.PuffeRL``.
    """

    learning_rate: Annotated[float, BeforeValidator(_reject_bool), Field(ge=0.0)] = 0.00092
    gamma: Annotated[float, BeforeValidator(_reject_bool), Field(ge=0.0, le=1.0)] = 0.995
    gae_lambda: Annotated[float, BeforeValidator(_reject_bool), Field(ge=0.0, le=1.0)] = 0.90
    update_epochs: PositiveInt = 1
    clip_coef: Annotated[float, BeforeValidator(_reject_bool), Field(gt=0.0)] = 0.2
    vf_coef: Annotated[float, BeforeValidator(_reject_bool), Field(ge=0.0)] = 2.0
    vf_clip_coef: Annotated[float, BeforeValidator(_reject_bool), Field(gt=0.0)] = 0.2
    max_grad_norm: Annotated[float, BeforeValidator(_reject_bool), Field(gt=0.0)] = 1.5
    ent_coef: Annotated[float, BeforeValidator(_reject_bool), Field(ge=0.0)] = 0.01
    adam_beta1: Annotated[float, BeforeValidator(_reject_bool), Field(ge=0.0, lt=1.0)] = 0.95
    adam_beta2: Annotated[float, BeforeValidator(_reject_bool), Field(ge=0.0, lt=1.0)] = 0.999
    adam_eps: Annotated[float, BeforeValidator(_reject_bool), Field(gt=0.0)] = 1e-8
    minibatch_size: PositiveInt = 4096
    #: Steps per training segment; None: 64 for recurrent policies, 1 otherwise (cogames' rule).
    bptt_horizon: PositiveInt | None = None
    anneal_lr: bool = True
    vtrace_rho_clip: Annotated[float, BeforeValidator(_reject_bool), Field(gt=0.0)] = 1.0
    vtrace_c_clip: Annotated[float, BeforeValidator(_reject_bool), Field(gt=0.0)] = 1.0
    prio_alpha: Annotated[float, BeforeValidator(_reject_bool), Field(ge=0.0)] = 0.8
    prio_beta0: Annotated[float, BeforeValidator(_reject_bool), Field(ge=0.0, le=1.0)] = 0.2
    max_minibatch_size: PositiveInt = 32768


class DAFTrainingConfig(DAFConfigBase):
    """One training run: what to train, on which missions, for how long, and where it is written.

    ``run_name`` names the run's checkpoint directory; rerunning the same config finds it and resumes.
    """

    missions: Annotated[list[NonEmptyStr], Field(min_length=1)] = ["explore"]
    policy_class_path: NonEmptyStr = "lstm"
    #: Constructor arguments of the policy class (mettagrid's ``PolicySpec.init_kwargs``).
    policy_init_kwargs: dict[str, Any] = Field(default_factory=dict)
    initial_weights_path: ConfigPath | None = None
    num_steps: PositiveInt = 300_000
    #: Agent steps the cosine learning-rate schedule spans; None: ``num_steps``. Set it when a run is
    #: trained in chunks (resumed with growing ``num_steps``) so every chunk follows one schedule.
    lr_schedule_steps: PositiveInt | None = None
    seed: int = 0
    device: NonEmptyStr = "auto"
    #: Data-parallel processes (torch.distributed); 1 trains in this process.
    num_workers: PositiveInt = 1
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    vector_num_envs: PositiveInt = 16
    checkpoint_interval: PositiveInt = 10
    max_checkpoints_to_keep: PositiveInt = 5
    checkpoint_dir: ConfigPath = _DEFAULT_OUTPUT_DIR / "checkpoints"
    run_name: NonEmptyStr | None = None
    ppo: PPOConfig = Field(default_factory=PPOConfig)


def daf_load_config(config_path: str | Path) -> DAFConfig:
    """Load the global DAF configuration from a .yaml, .yml or .json file (parser chosen by suffix)."""
    return DAFConfig.from_file(config_path)


_DAF_LOGGER_NAME = "daf_core"
_MANAGED_ATTR = "_daf_configure_logging"
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(config: DAFConfig) -> Path | None:
    """Make ``config.verbose`` and ``config.log_to_file`` take effect on the ``daf_core`` logger.

    * ``verbose``: the ``daf_core`` logger logs at DEBUG (else INFO), and a stderr handler is added
      if ``daf_core`` has none yet, so DEBUG output is visible without configuring anything else.
    * ``log_to_file``: one file handler writes to ``<output_dir>/logs/daf.log`` (returned).

    Calling it again reconfigures rather than stacks: handlers this function added before are reused
    or removed (e.g. when ``output_dir`` changed), never duplicated. The root logger is never touched,
    because DAF is a library and the root logger belongs to the application using it.
    """
    daf_logger = logging.getLogger(_DAF_LOGGER_NAME)
    daf_logger.setLevel(logging.DEBUG if config.verbose else logging.INFO)
    managed = [handler for handler in daf_logger.handlers if getattr(handler, _MANAGED_ATTR, False)]

    # Console output for verbose runs, only when the caller has not given daf_core a stream already.
    managed_streams = [h for h in managed if not isinstance(h, logging.FileHandler)]
    if config.verbose:
        has_stream = any(
            isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
            for h in daf_logger.handlers
        )
        if not has_stream:
            stream_handler = logging.StreamHandler(sys.stderr)
            stream_handler.setFormatter(logging.Formatter(_LOG_FORMAT))
            setattr(stream_handler, _MANAGED_ATTR, True)
            daf_logger.addHandler(stream_handler)
    else:
        for handler in managed_streams:
            daf_logger.removeHandler(handler)

    # The log file, reused when it is already the right one.
    log_path: Path | None = (
        (config.output_dir / "logs" / "daf.log").absolute() if config.log_to_file else None
    )
    keep_file = False
    for handler in managed:
        if isinstance(handler, logging.FileHandler):
            if log_path is not None and Path(handler.baseFilename) == log_path and not keep_file:
                keep_file = True
                continue
            daf_logger.removeHandler(handler)
            handler.close()
    if log_path is not None and not keep_file:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_path, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        setattr(file_handler, _MANAGED_ATTR, True)
        daf_logger.addHandler(file_handler)

    logger.debug("logging configured: verbose=%s, log file=%s", config.verbose, log_path)
    return log_path
