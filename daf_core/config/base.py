"""The base of every DAF config: field types, YAML/JSON parsing, error messages, load and save.

A DAF run must be reproducible from its saved config, so every config is a pydantic v2 model that:

* refuses unknown keys (``extra="forbid"``): a misspelt ``num_trails`` silently falling back to the
  default ``num_trials`` would waste a sweep, so it is an error that suggests the closest valid key;
* raises ``ValueError`` naming the field and the offending value for any bad input, whether it came
  from a file, from ``Model(...)`` in Python, or from assigning an attribute later (callers catch one
  exception type; pydantic's own ``ValidationError`` never escapes);
* saves atomically and loads back equal (``Model.from_yaml(m.to_yaml(p)) == m``).

All of that lives once, in :class:`DAFConfigBase`; the concrete models (one module per domain) only
declare fields and the checks specific to them.
"""

from __future__ import annotations

import difflib
import io
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Self
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
)

from daf_core._internal.atomic import atomic_write_text

logger = logging.getLogger(__name__)

#: File suffixes :meth:`DAFConfigBase.from_file` (and so :func:`daf_load_config`) understands.
CONFIG_SUFFIXES: dict[str, str] = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}

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


def reject_bool(value: Any) -> Any:
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
#: An integer or a float that refuses booleans (pydantic's lax mode would read ``true`` as 1).
Integer = Annotated[int, BeforeValidator(reject_bool)]
Number = Annotated[float, BeforeValidator(reject_bool)]
PositiveInt = Annotated[int, BeforeValidator(reject_bool), Field(ge=1)]
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
