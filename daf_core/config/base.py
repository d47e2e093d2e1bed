"""The base of every DAF config: field types, error messages, load and save, and what makes them safe.

A DAF run must be reproducible from its saved config, so every config is a pydantic v2 model that:

* refuses unknown keys (``extra="forbid"``): a misspelt ``num_trails`` silently falling back to the
  default ``num_trials`` would waste a sweep, so it is an error that suggests the closest valid key;
* raises ``ValueError`` naming the field and the offending value for any bad input, whether it came
  from a file, from ``Model(...)`` in Python, or from assigning an attribute later (callers catch one
  exception type; pydantic's own ``ValidationError`` never escapes), and a failed assignment leaves
  the model as it was;
* holds only what can be saved: values nested, repeated or sized past
  :mod:`daf_core.config.limits` are refused when validated, and so is any value that would not load
  back equal from the file it saves to (``Model.from_yaml(m.to_yaml(p)) == m``, and the same in JSON);
* saves atomically.

All of that lives once, in :class:`DAFConfigBase`; the concrete models (one module per domain) only
declare fields and the checks specific to them. Reading and writing the files themselves is
:mod:`daf_core.config.formats`.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import re
import types
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, Self, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from daf_core._internal.atomic import atomic_write_text
from daf_core.config.formats import (
    CONFIG_SUFFIXES,
    PARSERS,
    ConfigDataError,
    config_format,
    dump_json,
    dump_yaml,
    parse_json,
    parse_yaml,
    read_config_text,
)
from daf_core.config.limits import MAX_FILE_BYTES, find_excess, format_location, short_repr

__all__ = [
    "CONFIG_SUFFIXES",
    "ConfigPath",
    "DAFConfigBase",
    "HttpUrlStr",
    "Integer",
    "NonEmptyStr",
    "Number",
    "PositiveInt",
    "SemVerStr",
    "reject_bool",
]

logger = logging.getLogger(__name__)

_MAX_PROBLEMS = 10
_MAX_MESSAGE = 600

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
    if isinstance(value, str | Path) and "\x00" in str(value):
        raise ValueError("path must not contain a NUL character (no file system accepts one)")
    return value


def _expand_user(path: Path) -> Path:
    """``~`` and ``~user`` expanded; an unknown user (or no home directory) is bad input, not a crash."""
    try:
        return path.expanduser()
    except RuntimeError as err:
        raise ValueError(f"cannot expand '~' in {short_repr(str(path))} ({err})") from None


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


def _count_or_auto(value: Any) -> Any:
    """One error naming the field and the value, not one per member of the union."""
    if value == "auto":
        return value
    reject_bool(value)
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a positive count or 'auto', got {value!r}")
    return value


#: A number of processes, or "auto" (as many as the machine has cores or GPUs for).
CountOrAuto = Annotated[PositiveInt | Literal["auto"], BeforeValidator(_count_or_auto)]
ConfigPath = Annotated[Path, BeforeValidator(_non_empty_path), AfterValidator(_expand_user)]
HttpUrlStr = Annotated[str, AfterValidator(_http_url)]
SemVerStr = Annotated[str, AfterValidator(_semver)]


# --------------------------------------------------------------------------------------------------
# Error messages
# --------------------------------------------------------------------------------------------------

#: pydantic error types meaning "the document as a whole is not a mapping of fields".
_NOT_A_MAPPING = frozenset({"model_type", "model_attributes_type", "dict_type"})


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    loc = tuple(error["loc"])
    where = format_location(loc)
    value = short_repr(error.get("input"))
    message = _cut(str(error["msg"]).removeprefix("Value error, "), _MAX_MESSAGE)
    kind = error["type"]
    if kind == "extra_forbidden":
        field_names = list(_model_at(model, loc[:-1]).model_fields)
        unknown = str(loc[-1])
        close = difflib.get_close_matches(unknown, field_names, n=1, cutoff=0.6) if len(unknown) < 100 else []
        hint = f"did you mean '{close[0]}'?" if close else f"valid fields: {', '.join(field_names)}"
        return f"unknown field '{where}' (value {value}); {hint}"
    if kind == "missing":
        return f"missing required field '{where}'"
    if not loc:
        if kind in _NOT_A_MAPPING:  # e.g. a list where the mapping of fields was expected
            got = type(error.get("input")).__name__
            return f"expected a mapping of {model.__name__} fields, got {got} {value}"
        return message  # a check across fields, whose message names them
    return f"invalid value for '{where}': {value} ({message})"


def _validation_message(model: type[BaseModel], err: ValidationError, source: Path | None = None) -> str:
    """A ValidationError's problems (the first ten) in one message, prefixed with the model (and file)."""
    errors = err.errors(include_url=False)
    problems = [_describe_error(model, error) for error in errors[:_MAX_PROBLEMS]]
    if len(errors) > _MAX_PROBLEMS:
        problems.append(f"... and {len(errors) - _MAX_PROBLEMS} more")
    prefix = f"{source}: {model.__name__}" if source is not None else model.__name__
    if len(errors) == 1:
        return f"{prefix}: {problems[0]}"
    return f"{prefix}: {len(errors)} problems:\n" + "\n".join(f"  - {problem}" for problem in problems)


# --------------------------------------------------------------------------------------------------
# Save-and-reload check
# --------------------------------------------------------------------------------------------------

#: True while a model validates its own reloaded copy, so that copy is not checked again (and again).
_CHECKING_RELOAD: ContextVar[bool] = ContextVar("daf_config_checking_reload", default=False)


def _reload_problem(model: DAFConfigBase) -> str | None:
    """Why ``model`` would not save and load back equal, naming the field; None if it would."""
    try:
        data = model.model_dump(mode="json")
    except ValueError:  # pydantic's PydanticSerializationError: a value of a type no file can hold
        return _unserializable_field(model)
    json_text = json.dumps(data)
    problem = (
        _cached_text_round_trip_problem(json_text)
        if len(json_text) <= _MAX_CACHED_TEXT
        else _text_round_trip_problem(json_text)
    )
    if problem is not None:
        return problem
    token = _CHECKING_RELOAD.set(True)
    try:
        reloaded = type(model).__pydantic_validator__.validate_python(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:
            return message  # a check across fields that the reloaded copy reached first
        name = first["loc"][0]
        return (
            f"invalid value for '{name}': {short_repr(getattr(model, str(name), None))} is saved as "
            f"{short_repr(data.get(name))}, which does not load back ({_cut(message, _MAX_MESSAGE)})"
        )
    finally:
        _CHECKING_RELOAD.reset(token)
    for name in type(model).model_fields:
        if getattr(reloaded, name) != getattr(model, name):
            return (
                f"invalid value for '{name}': {short_repr(getattr(model, name))} does not survive a save "
                f"and reload (it reloads as {short_repr(getattr(reloaded, name))})"
            )
    return None


def _unserializable_field(model: DAFConfigBase) -> str:
    for name in type(model).model_fields:
        try:
            model.model_dump(mode="json", include={name})
        except ValueError as err:
            value, reason = short_repr(getattr(model, name)), _cut(str(err), _MAX_MESSAGE)
            return f"invalid value for '{name}': {value} cannot be saved ({reason})"
    return f"{type(model).__name__} cannot be saved"


def _text_round_trip_problem(json_text: str) -> str | None:
    """Why this data (given as JSON text) would not be written and read back equal, naming the field."""
    data = json.loads(json_text)
    for fmt in ("yaml", "json"):
        problem = _write_read_problem(data, fmt)
        if problem is None:
            continue
        for name, value in data.items():  # which field: the first that fails on its own
            if _write_read_problem({name: value}, fmt) is not None:
                return f"invalid value for '{name}': {short_repr(value)} {problem}"
        largest = max(data, key=lambda name: len(json.dumps(data[name])), default=None)
        return f"invalid value for '{largest}': {problem}" if largest is not None else problem
    return None


#: How each format is written, and read back, by the check (as ``to_yaml``/``from_yaml`` would).
_WRITE_READ: dict[str, tuple[Callable[[Any], str], Callable[[str], Any]]] = {
    "yaml": (dump_yaml, lambda text: parse_yaml(text, "<saved YAML>")),
    "json": (dump_json, lambda text: parse_json(text, "<saved JSON>")),
}


#: A config is validated many times with the same values (loaded, copied, reloaded, another field
#: assigned) and a YAML dump and parse costs a millisecond or more, so answers are cached, keyed by the
#: JSON text; only for ordinary sizes, so the cache stays a few MiB whatever is validated.
_MAX_CACHED_TEXT = 8192
_cached_text_round_trip_problem = functools.lru_cache(maxsize=512)(_text_round_trip_problem)


def _write_read_problem(data: dict[str, Any], fmt: str) -> str | None:
    write, read = _WRITE_READ[fmt]
    try:
        text = write(data)
        size = len(text.encode("utf-8"))
        if size > MAX_FILE_BYTES:
            return f"makes the saved {fmt.upper()} file {size} bytes, over the {MAX_FILE_BYTES} allowed"
        reloaded = read(text)
    except ValueError as err:
        return f"cannot be saved as {fmt.upper()} and read back ({_cut(str(err), _MAX_MESSAGE)})"
    if reloaded != data:
        return f"is saved as {fmt.upper()} that reads back as something else"
    return None


# --------------------------------------------------------------------------------------------------
# The shared base
# --------------------------------------------------------------------------------------------------


def _is_number(annotation: Any) -> bool:
    """int, float, or an optional or union of them: the types pydantic would fill from a boolean."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_number(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        return bool(members) and all(_is_number(arg) for arg in members)
    return annotation in (int, float)


def _user_path(path: str | Path) -> Path:
    try:
        return Path(path).expanduser()
    except RuntimeError as err:  # "~nosuchuser/..." or no home directory at all
        raise ValueError(f"{path}: cannot expand '~' ({err})") from None


class DAFConfigBase(BaseModel):
    """Base of every DAF config: strict keys, ValueError on bad input, atomic YAML/JSON round trips.

    Subclasses declare fields only; loading, saving and error reporting are defined here once so that
    every config behaves the same way (and a fix to one is a fix to all).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    # pydantic's ValidationError is a ValueError too, but its message uses pydantic's own notation and
    # cannot suggest the key that was meant; construction, assignment and validation are all wrapped.
    # Ours is raised outside the except block: printing the chained ValidationError would repr the
    # whole input, which for a refused "billion laughs" never finishes.
    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            message = _validation_message(type(self), err)
        else:
            return
        raise ValueError(message)

    # Tell pydantic this __init__ only wraps the base one. Otherwise pydantic would route every
    # model_validate() through it (a "custom init"), and would turn our ValueError back into a
    # ValidationError whose message is the whole input mapping.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def __setattr__(self, name: str, value: Any) -> None:
        """Validated assignment; when it fails, every field keeps the value it had before."""
        if name not in type(self).model_fields:
            super().__setattr__(name, value)
            return
        # A failing model-level check runs after pydantic has stored the new value; put it back.
        before = (dict(self.__dict__), set(self.__pydantic_fields_set__))
        try:
            super().__setattr__(name, value)
        except ValidationError as err:
            message = _validation_message(type(self), err)
        except BaseException:
            self._restore(before)
            raise
        else:
            return
        self._restore(before)
        raise ValueError(message)

    def _restore(self, state: tuple[dict[str, Any], set[str]]) -> None:
        object.__setattr__(self, "__dict__", state[0])
        object.__setattr__(self, "__pydantic_fields_set__", state[1])

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """As pydantic's, but bad input raises ValueError naming the field and the value."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as err:
            message = _validation_message(cls, err)
        raise ValueError(message)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, *args: Any, **kwargs: Any) -> Self:
        """As pydantic's, but bad input raises ValueError naming the field and the value."""
        try:
            return super().model_validate_json(json_data, *args, **kwargs)
        except ValidationError as err:
            message = _validation_message(cls, err)
        raise ValueError(message)

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Self:
        """As pydantic's, but the ``update`` is validated like any other input (pydantic's skips every
        check for it); the copy keeps track of which fields were given explicitly."""
        if not update:
            return super().model_copy(deep=deep)
        copy = type(self).model_validate({**dict(self), **update})
        object.__setattr__(copy, "__pydantic_fields_set__", self.model_fields_set | set(update))
        return copy

    # -- checks every model gets ---------------------------------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _within_limits(cls, data: Any) -> Any:
        """Too deep, too many values (alias expansion), a cycle or a huge integer: refused before
        any field validator (or error message) walks into it."""
        excess = find_excess(data)
        if excess is not None:
            raise ConfigDataError(*excess)
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """pydantic's lax mode reads ``true`` as 1; in a config that is always a typo, never a count."""
        if (
            isinstance(value, bool)
            and info.field_name
            and _is_number(cls.model_fields[info.field_name].annotation)
        ):
            raise ValueError("expected a number, got a boolean")
        return value

    @model_validator(mode="after")
    def _saves_and_reloads_equal(self) -> Self:
        """What loads must save, and what is saved must load back equal (``'1e5'``, nan, dates...)."""
        if not _CHECKING_RELOAD.get():
            problem = _reload_problem(self)
            if problem is not None:
                raise ValueError(problem)
        return self

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
        return cls._load(path, None)

    @classmethod
    def from_dict(cls, data: Any, source: str | Path | None = None) -> Self:
        """Validate an already-parsed mapping; ``source`` names its file in error messages."""
        source_path = Path(source) if source is not None else None
        if not isinstance(data, dict):
            where = f"{source_path}: " if source_path is not None else ""
            raise ValueError(
                f"{where}{cls.__name__}: the top-level document must be a mapping of field names to values, "
                f"got {type(data).__name__} {short_repr(data)}"
            )
        try:
            return super().model_validate(data)
        except ValidationError as err:
            message = _validation_message(cls, err, source_path)
        raise ValueError(message)

    @classmethod
    def _load(cls, path: str | Path, fmt: str | None) -> Self:
        """Read (a missing file is FileNotFoundError), then choose the parser, parse and validate."""
        path = _user_path(path)
        try:
            text = read_config_text(path, cls.__name__)
            fmt = fmt or config_format(path)
            if not text.strip():
                raise ValueError(f"{path}: config file is empty; expected a mapping of {cls.__name__} fields")
            data = PARSERS[fmt](text, path)
        except ConfigDataError as err:
            raise ValueError(f"{path}: {cls.__name__}: {err}") from None
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
        return self._write(path, dump_yaml(self.to_dict()))

    def to_json(self, path: str | Path) -> Path:
        """Write as JSON atomically (parent directories created); returns the path written."""
        return self._write(path, dump_json(self.to_dict()))

    def to_file(self, path: str | Path) -> Path:
        """Write as YAML or JSON, chosen by the suffix as in :meth:`from_file`."""
        return self.to_yaml(path) if config_format(path) == "yaml" else self.to_json(path)

    def _write(self, path: str | Path, text: str) -> Path:
        written = atomic_write_text(_user_path(path), text)
        logger.debug("saved %s to %s", type(self).__name__, written)
        return written
