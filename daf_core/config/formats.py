"""Config files as text and as data: reading a file safely, and YAML and JSON in both directions.

Whatever a config file holds, reading it ends in data or in an error that names the file (and the
field, where there is one), in bounded time and memory:

* only a regular file is read (a FIFO would block forever, ``/dev/zero`` never ends), at most
  :data:`~daf_core.config.limits.MAX_FILE_BYTES` of it, and it must be UTF-8;
* YAML is parsed by libyaml where installed (else PyYAML's own parser) and composed and constructed
  by :class:`_ConfigLoading`: a SafeConstructor (no tag runs code) that refuses duplicate keys, reads
  ``1e-4`` as a float, and refuses nesting and node counts past the limits before PyYAML's recursive
  composer could overflow the stack; alias expansion and cycles are measured on the data
  (:func:`~daf_core.config.limits.find_excess`) when the model validates it;
* JSON is checked for nesting before ``json.loads`` recurses, and refuses duplicate keys.

Saving uses :class:`_ConfigYAMLDumper`, which resolves plain scalars exactly as the loader does, so a
string such as ``'1e5'`` is written quoted and reloads as the string it was.
"""

from __future__ import annotations

import codecs
import errno
import io
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

try:
    from yaml.cyaml import CParser as _LibYAMLParser
except ImportError:  # PyYAML built without libyaml
    _LibYAMLParser = None

from daf_core.config.limits import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_INT_DIGITS,
    MAX_NODES,
    OversizedInteger,
    format_location,
    short_repr,
)

#: File suffixes :meth:`DAFConfigBase.from_file` (and so :func:`daf_load_config`) understands.
CONFIG_SUFFIXES: dict[str, str] = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}

# YAML 1.2's float without a dot (``1e-4``), which YAML 1.1 (PyYAML) would read as a string.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
_EXPONENT_FLOAT_FIRST = list("-+0123456789")


class ConfigDataError(ValueError):
    """Input no config may hold; ``location`` is the field path in the document (empty: no one field)."""

    def __init__(self, location: tuple[Any, ...], problem: str) -> None:
        super().__init__(
            f"invalid value for '{format_location(location)}': {problem}" if location else problem
        )
        self.location = location
        self.problem = problem


def config_format(path: str | Path) -> str:
    """ "yaml" or "json" from the file suffix; anything else is an error naming the file."""
    path = Path(path)
    fmt = CONFIG_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"{path}: unsupported config file suffix {path.suffix!r}; "
            f"expected one of {', '.join(CONFIG_SUFFIXES)}"
        )
    return fmt


# --------------------------------------------------------------------------------------------------
# Reading a file
# --------------------------------------------------------------------------------------------------

_FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def read_config_text(path: Path, model_name: str) -> str:
    """The text of a config file: FileNotFoundError if there is none, else ValueError naming the path.

    The file is opened non-blocking and checked on the open descriptor, so a FIFO (or a file swapped
    for one after a check) is refused instead of waiting for a writer that never comes.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            raise FileNotFoundError(f"{model_name} config file not found: {path}") from None
        raise ValueError(f"{path}: cannot read the config file: {err.strerror}") from None
    except ValueError as err:  # e.g. an embedded NUL character
        raise ValueError(f"{short_repr(str(path))}: cannot read the config file: {err}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _FILE_KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise ValueError(f"{path}: is {kind}; a config file must be a regular .yaml, .yml or .json file")
        handle = os.fdopen(fd, "rb")  # from here on the file object owns (and closes) the descriptor
    except BaseException:
        os.close(fd)
        raise
    with handle:
        try:
            raw = handle.read(MAX_FILE_BYTES + 1)
        except OSError as err:
            raise ValueError(f"{path}: cannot read the config file: {err.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(
            f"{path}: config file is larger than {MAX_FILE_BYTES} bytes; a config is a few settings"
        )
    return _decode(raw)


def _decode(raw: bytes) -> str:
    """UTF-8 (an optional byte-order mark dropped); a bad byte is reported with its field and line."""
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        before = raw[: err.start].decode("utf-8")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        location = _location_at(raw.decode("utf-8", errors="replace"), len(before))
        where = f"byte 0x{raw[err.start]:02x} at line {line}, column {column}"
        raise ConfigDataError(location, f"not UTF-8 text ({where})") from None


def _location_at(text: str, index: int) -> tuple[Any, ...]:
    """The path of the innermost field whose text contains character ``index`` (empty if none)."""
    try:
        node = yaml.compose(text, Loader=_LOADER)  # noqa: S506 - composes only, constructs nothing
    except (yaml.YAMLError, ValueError):
        return ()
    location: tuple[Any, ...] = ()
    while isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        children = node.value if isinstance(node, yaml.MappingNode) else list(enumerate(node.value))
        for part, child in children:
            if isinstance(part, yaml.Node) and _contains(part, index):  # the key itself is bad
                return (*location, part.value if isinstance(part, yaml.ScalarNode) else "?")
            if _contains(child, index):
                location = (*location, part.value if isinstance(part, yaml.Node) else part)
                node = child
                break
        else:
            break
    return location


def _contains(node: yaml.Node, index: int) -> bool:
    return node.start_mark.index <= index < node.end_mark.index


# --------------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------------


class _ConfigLoading(Composer, SafeConstructor, Resolver):
    """How config YAML is composed and constructed, whichever parser produces the events.

    * A SafeConstructor: no tag runs code.
    * PyYAML's composer recurses once per nesting level, so nesting (and the node count) is limited
      here, naming the field, long before Python's recursion limit is reached.
    * A duplicated key silently keeps the last value in PyYAML, which is exactly the kind of silently
      ignored setting this module exists to prevent, so it is an error.
    * An integer too long to convert becomes a marker that validation reports with its field.
    * ``<<`` merges are resolved recursively, so a chain of them is bounded like nesting.
    """

    def _start_loading(self) -> None:
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._composing: list[Any] = []  # index (or key node) of each node being composed, root first
        self._composed = 0
        self._merge_depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._composing.append(index)
        try:
            is_container = not self.check_event(yaml.ScalarEvent, yaml.AliasEvent)  # type: ignore[attr-defined]
            if is_container and len(self._composing) > MAX_DEPTH:
                raise ConfigDataError(
                    self._location(), f"nested deeper than {MAX_DEPTH} levels{self._mark()}"
                )
            self._composed += 1
            if self._composed > MAX_NODES:
                raise ConfigDataError(
                    self._location()[:1], f"more than {MAX_NODES} values in one config{self._mark()}"
                )
            return super().compose_node(parent, index)
        finally:
            self._composing.pop()

    def _location(self) -> tuple[Any, ...]:
        parts: list[Any] = []
        for index in self._composing[1:]:
            if isinstance(index, yaml.ScalarNode):
                parts.append(index.value)
            else:
                parts.append("?" if index is None or isinstance(index, yaml.Node) else index)
        return tuple(parts)

    def _mark(self) -> str:
        mark = self.peek_event().start_mark  # type: ignore[attr-defined]
        return f" (line {mark.line + 1}, column {mark.column + 1})"

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
                    f"found duplicate key {short_repr(key)}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        self._merge_depth += 1
        try:
            if self._merge_depth > MAX_DEPTH:
                raise yaml.constructor.ConstructorError(
                    None, None, f"merges (<<) chained deeper than {MAX_DEPTH} levels", node.start_mark
                )
            super().flatten_mapping(node)
        finally:
            self._merge_depth -= 1

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int | OversizedInteger:
        digits = len(node.value.replace("_", "").lstrip("+-"))
        if digits > MAX_INT_DIGITS:
            return OversizedInteger(digits)
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # sys.set_int_max_str_digits() set lower than our limit
            return OversizedInteger(digits)


class _PythonConfigLoader(_ConfigLoading, Reader, Scanner, Parser):
    """Config YAML parsed by PyYAML's pure-Python parser, where PyYAML was built without libyaml."""

    def __init__(self, stream: Any) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        self._start_loading()


if _LibYAMLParser is not None:

    class _LibYAMLConfigLoader(_ConfigLoading, _LibYAMLParser):  # type: ignore[misc, valid-type]
        """Config YAML parsed by libyaml (PyYAML's C extension), composed and constructed as above.

        About seven times faster than the pure-Python parser, which matters because every new config
        is also written and read back once by the save-and-reload check. ``CParser`` offers the same
        event methods (``check_event``, ``peek_event``, ``get_event``) as PyYAML's Python parser, which
        is all ``Composer`` uses (checked with PyYAML 6.0.x); PyYAML's own ``CSafeLoader`` would compose
        in C, past our limits and without naming fields.
        """

        def __init__(self, stream: Any) -> None:
            _LibYAMLParser.__init__(self, stream)
            self._start_loading()

    _LOADER: type[_ConfigLoading] = _LibYAMLConfigLoader
else:
    _LOADER = _PythonConfigLoader

_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter where installed


class _ConfigYAMLDumper(_SafeDumper):  # type: ignore[misc, valid-type]
    """A SafeDumper that quotes every string the loader would read as something else, and never aliases.

    The dumper decides whether a string needs quotes by resolving it as the loader would; PyYAML's
    dumper does not know the loader's extra float form, so without it ``'1e5'`` is written bare and
    reloads as the float 100000.0. Shared values are written out in full (no ``&id001`` anchors).
    """

    def ignore_aliases(self, data: Any) -> bool:
        return True


# PyYAML follows YAML 1.1, where ``1e-4`` (no dot) is the *string* "1e-4": a learning-rate range written
# the obvious way would reach the sweep as text. YAML 1.2 (and every other parser) reads it as a number.
for _yaml_class in (_ConfigLoading, _ConfigYAMLDumper):
    _yaml_class.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, _EXPONENT_FLOAT_FIRST)
_ConfigLoading.add_constructor("tag:yaml.org,2002:int", _ConfigLoading.construct_yaml_int)


def _load_yaml(loader: type[_ConfigLoading], text: str, source: str | Path) -> Any:
    stream = io.StringIO(text)
    stream.name = str(source)  # type: ignore[misc]  # PyYAML names the file in its error marks
    return yaml.load(stream, Loader=loader)  # noqa: S506 - a SafeConstructor, no tag runs code


def parse_yaml(text: str, source: str | Path) -> Any:
    """Parse config YAML; malformed text is a ValueError naming ``source``, line and column."""
    try:
        return _load_yaml(_LOADER, text, source)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        if "maximum nesting depth" in str(err) and mark is not None:
            _name_deep_field(text[: mark.index], source)
        raise ValueError(f"{source}: malformed YAML: {err}") from None


def _name_deep_field(prefix: str, source: str | Path) -> None:
    """Raise the ConfigDataError naming the field that nests too deeply, if the text before it shows it.

    libyaml stops past 1000 levels of nesting (while looking ahead, before any event reaches the
    composer) without saying in which field. Read only up to that point, the composer gets the events
    and stops at MAX_DEPTH, naming the field; the rest of the prefix is then never parsed.
    """
    try:
        _load_yaml(_LOADER, prefix, source)
    except yaml.YAMLError:
        return


def dump_yaml(data: Any) -> str:
    return yaml.dump(
        data, Dumper=_ConfigYAMLDumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )


# --------------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------------

_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"\s*:?|[\[\]{}]')


def _reject_duplicate_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` keeps the last of duplicated keys; a config must not hide a setting that way."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(
                f"duplicate key {short_repr(key)} (values {short_repr(result[key])} and {short_repr(value)})"
            )
        result[key] = value
    return result


def _json_int(digits: str) -> int | OversizedInteger:
    count = len(digits.lstrip("-"))
    return OversizedInteger(count) if count > MAX_INT_DIGITS else int(digits)


def _check_json_nesting(text: str) -> None:
    """``json.loads`` recurses per level (RecursionError past ~1000); refuse deep nesting before it."""
    depth = 0
    field: Any = None
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                column = match.start() - text.rfind("\n", 0, match.start())
                location = (field,) if field is not None else ()
                raise ConfigDataError(
                    location, f"nested deeper than {MAX_DEPTH} levels (line {line}, column {column})"
                )
        elif token in "]}":
            depth -= 1
        elif depth == 1 and token.endswith(":"):
            try:
                field = json.loads(token.rstrip(": \t\r\n"))
            except ValueError:
                field = None


def parse_json(text: str, source: str | Path) -> Any:
    """Parse config JSON; malformed text is a ValueError naming ``source``, line and column."""
    _check_json_nesting(text)
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_json_keys, parse_int=_json_int)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{source}: malformed JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    except ValueError as err:  # a duplicate key
        raise ValueError(f"{source}: malformed JSON: {err}") from None


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


PARSERS = {"yaml": parse_yaml, "json": parse_json}
