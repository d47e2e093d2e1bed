"""A seeded fuzz test of every config model: mutated files and values end in a config or a clear error.

Starting from the example files in configs/ and one valid config of every model, each case makes one
mutation a user (or a hostile file) could make: a key deleted, duplicated or misspelt, a value of the
wrong type, huge numbers, deep nesting, YAML aliases (including a "billion laughs" and an alias that
contains itself), YAML tags, odd strings and paths, bytes that are not UTF-8, a truncated or garbled
document. The same kinds of values are also given in Python, to the constructor and by assignment.

Every case must end, within a time budget, either in a config that saves and loads back equal (YAML
and JSON) or in a ValueError whose message names the file and the mutated field (a malformed document
names the file and line instead); a failed assignment must leave the model as it was. Nothing else may
escape. The generator is seeded, so a failure names a case that can be replayed.
"""

from __future__ import annotations

import datetime
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daf_core.config import DAFConfigBase, DAFSweepConfig, PPOConfig
from tests.config.valid_configs import MODELS, example_files, full_dict, path_fields

SEED = 20240611
FILE_CASES = 1800
PYTHON_CASES = 700
#: Seconds one case may take: a bound on hangs and runaway work, not a timing (a bounded case takes
#: milliseconds, the 20,000-deep values about a second, and up to 5 s on a 2-core machine under load 7).
CASE_BUDGET_S = 15.0
MAX_MESSAGE = 3000


@dataclass
class Case:
    """One mutated document: what was done, to which top-level field (None: the document as a whole)."""

    description: str
    field: str | None
    text: bytes
    fmt: str


# --------------------------------------------------------------------------------------------------
# Values: (YAML text, JSON text or None where only YAML can say it)
# --------------------------------------------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "1e5",
    "1E-3",
    "-1e5",
    "1_000",
    "0x1F",
    "0o17",
    "007",
    "+1",
    "1:30",
    ".inf",
    ".nan",
    "yes",
    "no",
    "on",
    "null",
    "~",
    "2020-01-01",
    "2001-12-14t21:59:43.10-05:00",
    "=",
    "<<",
    "!tag",
    "&anchor",
    "*alias",
    "%directive",
    "@at",
    "`tick",
    "- a",
    "a: b",
    "#comment",
    "trailing ",
    " leading",
    "tab\there",
    "line\nbreak",
    "quote'\"",
    "back\\slash",
    "\u2028",
    "\x85",
    "\ufeffbom",
    "\U0001f642",
    "\u00e9t\u00e9",
    "\x00",
    "\x7f",
    "\ud800",
    "x" * 5000,
    "[1, 2]",
    "{a: 1}",
]
ODD_PATHS = [
    "~nosuchuser/x",
    "~/daf_runs",
    "~",
    "/",
    ".",
    "a/../b",
    "a" * 300,
    "/" + "a/" * 2000,
    "a\x00b",
    "  ",
    "\U0001f642/x",
    "C:\\runs\\x",
]
HUGE_NUMBERS = [
    "9" * 4400,
    "-" + "9" * 5000,
    "9" * 400,
    "9" * 400 + ".5",
    "1e400",
    "-1e400",
    "0x" + "f" * 5000,
    "1" * 4300,
    "1" + ":59" * 2000,
    "4e-400",
]
PLAIN_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2**63,
    1.5,
    -0.0,
    1e308,
    "text",
    [],
    {},
    [1, "a"],
    {"a": 1},
    {"low": 1, "high": 2},
    [[1, 2], [3]],
    {"a": {"b": {"c": [1, {"d": None}]}}},
]
YAML_ONLY = [
    "!!python/object/apply:os.system ['echo pwned']",
    "!!python/name:os.system",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!timestamp 2020-01-01",
    "!!omap [a: 1, b: 2]",
    "!!pairs [a: 1]",
    "!custom x",
    "!!float 1",
    "!!int '12'",
    "!!str 12",
    ".nan",
    "-.inf",
    "{<<: {a: 1}, b: 2}",
    "{<<: [{a: 1}, {a: 2}], b: 3}",
    "&a [*a]",
    "&a {x: *a}",
    "*undefined",
    "[unclosed",
    "{a: 1",
    "'unterminated",
    "a\n  b: c",
    "|\n  block\n  text",
    ">\n  folded",
    "? [complex, key]\n  : 1",
    "{[1, 2]: 3}",
    "{1: 2, null: 3, 1.5: 4, true: 5}",
    "2020-01-01",
    "12:30:00",
    "0b1010",
    "---\na: 1\n---\nb: 2",
]


def _flow(value: Any) -> tuple[str, str]:
    return json.dumps(value, ensure_ascii=False), json.dumps(value)


def _nested(depth: int, mapping: bool) -> tuple[str, str]:
    text = '{"a": ' * depth + "1" + "}" * depth if mapping else "[" * depth + "]" * depth
    return text, text


def _billion_laughs(levels: int) -> str:
    lines = ["&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        lines.append(f"&l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "[" + ", ".join(lines) + "]"


def _random_value(rng: random.Random, field: str, model: type[DAFConfigBase]) -> tuple[str, str | None, str]:
    """A replacement value for ``field``: (YAML text, JSON text or None, what it is)."""
    kind = rng.choice(["plain", "odd_string", "odd_path", "huge", "deep", "yaml_only", "laughs", "long_list"])
    if kind == "odd_path" and field not in path_fields(model):
        kind = "odd_string"
    if kind == "plain":
        value = rng.choice(PLAIN_VALUES)
        return (*_flow(value), f"plain {value!r}")
    if kind in ("odd_string", "odd_path"):
        value = rng.choice(ODD_STRINGS if kind == "odd_string" else ODD_PATHS)
        if rng.random() < 0.3 and "\n" not in value:  # also plain (unquoted) in YAML
            return value, json.dumps(value), f"{kind} plain {value[:40]!r}"
        return (*_flow(value), f"{kind} {value[:40]!r}")
    if kind == "huge":
        text = rng.choice(HUGE_NUMBERS)
        return text, (text if ":" not in text and "x" not in text else None), f"huge number {text[:20]}..."
    if kind == "deep":
        depth = rng.choice([5, 31, 32, 33, 200, 300, 1000, 5000])
        mapping = rng.random() < 0.3
        return (*_nested(depth, mapping), f"nested {depth} deep ({'mappings' if mapping else 'lists'})")
    if kind == "yaml_only":
        text = rng.choice(YAML_ONLY)
        return text, None, f"YAML {text[:40]!r}"
    if kind == "laughs":
        levels = rng.choice([3, 5, 9])
        return _billion_laughs(levels), None, f"billion laughs, {levels} levels"
    size = rng.choice([10, 100, 1000])
    items = [rng.choice(["explore", "train", 1, 0.5, None]) for _ in range(size)]
    return (*_flow(items), f"list of {size}")


# --------------------------------------------------------------------------------------------------
# Documents and their mutations
# --------------------------------------------------------------------------------------------------


def _render(items: list[tuple[str, str]], fmt: str) -> str:
    if fmt == "yaml":
        return "".join(
            f"{key}: {value}\n" if "\n" not in value else f"{key}:\n  {_indent(value)}\n"
            for key, value in items
        )
    return "{" + ", ".join(f"{json.dumps(key)}: {value}" for key, value in items) + "}"


def _encode(text: str) -> bytes:
    """UTF-8, except that a lone surrogate is written as its (invalid) UTF-8 bytes: a broken file."""
    return text.encode("utf-8", errors="surrogatepass")


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


def _mutate(rng: random.Random, model: type[DAFConfigBase], doc: dict[str, Any], raw: str | None) -> Case:
    """One mutation of ``doc`` (``raw``: the example file's own text, for text-level mutations)."""
    keys = list(doc)
    field = rng.choice(keys)
    kind = rng.choices(
        ["delete", "duplicate", "misspell", "replace", "bytes", "nested", "alias", "raw"],
        weights=[1, 1, 1, 8, 1, 2, 1, 2],
    )[0]
    fmt = rng.choice(["yaml", "json"])
    items = [(key, _flow(value)[0 if fmt == "yaml" else 1]) for key, value in doc.items()]
    index = keys.index(field)
    if kind == "delete":
        del items[index]
        return Case(f"delete {field}", field, _encode(_render(items, fmt)), fmt)
    if kind == "duplicate":
        items.insert(rng.randrange(len(items) + 1), (field, _flow(doc[field])[0 if fmt == "yaml" else 1]))
        return Case(f"duplicate {field}", field, _encode(_render(items, fmt)), fmt)
    if kind == "misspell":
        position = rng.randrange(len(field))
        typo = field[:position] + field[position + 1 :] if rng.random() < 0.5 else field + "s"
        items[index] = (typo, items[index][1])
        return Case(f"misspell {field} as {typo}", typo, _encode(_render(items, fmt)), fmt)
    if kind == "bytes":
        bad = bytes([rng.randrange(0x80, 0x100)])
        items[index] = (field, '"@@BYTES@@"')
        text = _encode(_render(items, fmt)).replace(b"@@BYTES@@", b"ab" + bad + b"cd")
        return Case(f"non-UTF-8 byte {bad!r} in {field}", field, text, fmt)
    if kind == "nested" and isinstance(doc[field], dict):
        yaml_text, json_text, what = _random_value(rng, field, model)
        fmt = fmt if json_text is not None else "yaml"
        inner = dict(doc[field])
        inner_items = [(json.dumps(k), _flow(v)[0 if fmt == "yaml" else 1]) for k, v in inner.items()]
        inner_items.append((json.dumps(rng.choice([*inner, "extra"]) if inner else "extra"), "@@VALUE@@"))
        flow = "{" + ", ".join(f"{k}: {v}" for k, v in inner_items) + "}"
        value = yaml_text if fmt == "yaml" else json_text
        items = [(key, _flow(val)[0 if fmt == "yaml" else 1]) for key, val in doc.items()]
        items[index] = (field, flow.replace("@@VALUE@@", value.replace("\n", " ")))  # type: ignore[union-attr]
        return Case(f"inside {field}: {what}", field, _encode(_render(items, fmt)), fmt)
    if kind == "alias" and len(keys) > 1:
        other = rng.choice([key for key in keys if key != field])
        yaml_items = [(key, _flow(value)[0]) for key, value in doc.items() if key != field]
        position = [key for key, _value in yaml_items].index(other)
        yaml_items[position] = (other, f"&shared {yaml_items[position][1]}")
        yaml_items.insert(position + 1, (field, "*shared"))  # an alias must follow its anchor
        return Case(f"{field} as an alias of {other}", field, _encode(_render(yaml_items, "yaml")), "yaml")
    if kind == "raw":
        text = raw if raw is not None and fmt == "yaml" else _render(items, fmt)
        return Case(*_garble(rng, text), fmt=fmt)
    yaml_text, json_text, what = _random_value(rng, field, model)
    if json_text is None:
        fmt = "yaml"
        items = [(key, _flow(value)[0]) for key, value in doc.items()]
    items[index] = (field, yaml_text if fmt == "yaml" else json_text)  # type: ignore[arg-type]
    return Case(f"{field} = {what}", field, _encode(_render(items, fmt)), fmt)


def _garble(rng: random.Random, text: str) -> tuple[str, None, bytes]:
    """A text-level accident: truncated, a character lost or added, lines swapped, a BOM, a NUL."""
    how = rng.choice(["truncate", "drop", "insert", "swap_lines", "bom", "nul", "crlf", "tabs"])
    position = rng.randrange(len(text) + 1)
    if how == "truncate":
        garbled = text[:position]
    elif how == "drop":
        garbled = text[:position] + text[position + 1 :]
    elif how == "insert":
        garbled = text[:position] + rng.choice(list(":-[]{}&*!|>'\"#%@`,?\t\n ")) + text[position:]
    elif how == "swap_lines":
        lines = text.splitlines(keepends=True)
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        garbled = "".join(lines)
    elif how == "bom":
        garbled = "\ufeff" + text
    elif how == "nul":
        garbled = text[:position] + "\x00" + text[position:]
    elif how == "crlf":
        garbled = text.replace("\n", "\r\n")
    else:
        garbled = text.replace("  ", "\t")
    return f"garbled ({how} at {position})", None, _encode(garbled)


# --------------------------------------------------------------------------------------------------
# Python values: constructor and assignment
# --------------------------------------------------------------------------------------------------


def _python_values() -> list[tuple[str, Callable[[], Any]]]:
    def deep(depth: int) -> list[Any]:
        value: list[Any] = []
        for _ in range(depth):
            value = [value]
        return value

    def laughs() -> list[Any]:
        value: list[Any] = ["lol"] * 9
        for _ in range(9):
            value = [value] * 9
        return value

    def cycle_list() -> list[Any]:
        value: list[Any] = []
        value.append(value)
        return value

    def cycle_dict() -> dict[str, Any]:
        value: dict[str, Any] = {}
        value["self"] = value
        return value

    return [
        ("None", lambda: None),
        ("True", lambda: True),
        ("0", lambda: 0),
        ("-1", lambda: -1),
        ("2**64", lambda: 2**64),
        ("10**5000", lambda: 10**5000),
        ("1.5", lambda: 1.5),
        ("nan", lambda: math.nan),
        ("inf", lambda: math.inf),
        ("''", lambda: ""),
        ("'1e5'", lambda: "1e5"),
        ("'~nosuchuser/x'", lambda: "~nosuchuser/x"),
        ("'a\\x00b'", lambda: "a\x00b"),
        ("'\\ud800'", lambda: "\ud800"),
        ("long string", lambda: "x" * 100_000),
        ("Path", lambda: Path("/tmp/daf-fuzz")),
        ("[]", lambda: []),
        ("{}", lambda: {}),
        ("{'a': 1}", lambda: {"a": 1}),
        ("{1: 2}", lambda: {1: 2}),
        ("{'a': nan}", lambda: {"a": math.nan}),
        ("(1, 2)", lambda: (1, 2)),
        ("{1, 2}", lambda: {1, 2}),
        ("b'bytes'", lambda: b"bytes"),
        ("date", lambda: datetime.date(2020, 1, 1)),
        ("{'d': date}", lambda: {"d": datetime.date(2020, 1, 1)}),
        ("object()", lambda: object()),
        ("{'o': object()}", lambda: {"o": object()}),
        ("deep 40", lambda: deep(40)),
        ("deep 1000", lambda: deep(1000)),
        ("deep 20000", lambda: deep(20_000)),
        ("{'x': deep 300}", lambda: {"x": deep(300)}),
        ("billion laughs", laughs),
        ("{'x': billion laughs}", lambda: {"x": laughs()}),
        ("cyclic list", cycle_list),
        ("{'x': cyclic dict}", lambda: {"x": cycle_dict()}),
        ("PPOConfig()", PPOConfig),
        ("{'learning_rate': [1, 2]}", lambda: {"learning_rate": [1, 2]}),
        ("['1e5', 1e5]", lambda: ["1e5", 1e5]),
    ]


# --------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------


def _check_round_trip(config: DAFConfigBase, directory: Path) -> None:
    model = type(config)
    assert model.from_yaml(config.to_yaml(directory / "saved.yaml")) == config
    assert model.from_json(config.to_json(directory / "saved.json")) == config


def _check_message(message: str, field: str | None, path: Path | None) -> None:
    assert len(message) <= MAX_MESSAGE, f"message of {len(message)} characters"
    if path is not None:
        assert str(path) in message, "the file is not named"
    if field is not None and "malformed" not in message:
        assert field in message, "the field is not named"


def _run(description: str, action: Callable[[], None], failures: list[str], durations: list[float]) -> None:
    started = time.perf_counter()
    try:
        action()
    except AssertionError as err:
        failures.append(f"{description}: {err}")
    except Exception as err:  # noqa: BLE001 - the point of the test: report whatever escapes
        failures.append(f"{description}: {type(err).__name__} escaped: {str(err)[:300]}")
    elapsed = time.perf_counter() - started
    durations.append(elapsed)
    if elapsed > CASE_BUDGET_S:
        failures.append(f"{description}: took {elapsed:.2f}s (budget {CASE_BUDGET_S}s)")


def _bases() -> list[tuple[type[DAFConfigBase], dict[str, Any], str | None]]:
    bases: list[tuple[type[DAFConfigBase], dict[str, Any], str | None]] = [
        (model, full_dict(model), None) for model in MODELS
    ]
    for path, model in example_files():
        bases.append((model, model.from_file(path).to_dict(), path.read_text()))
    return bases


def test_fuzzed_config_files_load_or_fail_with_a_clear_error(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    bases = _bases()
    failures: list[str] = []
    durations: list[float] = []
    for number in range(FILE_CASES):
        model, doc, raw = rng.choice(bases)
        case = _mutate(rng, model, doc, raw)
        directory = tmp_path / str(number)
        directory.mkdir()
        path = directory / f"config.{case.fmt}"
        path.write_bytes(case.text)

        def load(model: type[DAFConfigBase] = model, case: Case = case, path: Path = path) -> None:
            try:
                config = model.from_file(path)
            except ValueError as err:
                _check_message(str(err), case.field, path)
            else:
                _check_round_trip(config, path.parent)

        _run(f"case {number} ({model.__name__}, {case.fmt}, {case.description})", load, failures, durations)
    assert not failures, f"{len(failures)} of {FILE_CASES} cases failed (seed {SEED}):\n" + "\n".join(
        failures[:40]
    )
    assert max(durations) < CASE_BUDGET_S


def test_fuzzed_python_values_construct_assign_or_fail_with_a_clear_error(tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    values = _python_values()
    failures: list[str] = []
    durations: list[float] = []
    for number in range(PYTHON_CASES):
        model = rng.choice(MODELS)
        doc = full_dict(model)
        field = rng.choice(list(doc))
        name, make = rng.choice(values)
        directory = tmp_path / str(number)
        directory.mkdir()

        def construct(model=model, doc=doc, field=field, make=make, directory=directory) -> None:
            try:
                config = model(**{**doc, field: make()})
            except ValueError as err:
                _check_message(str(err), field, None)
            else:
                _check_round_trip(config, directory)

        def assign(model=model, doc=doc, field=field, make=make, directory=directory) -> None:
            config = model(**doc)
            before = config.to_dict()
            try:
                setattr(config, field, make())
            except ValueError as err:
                _check_message(str(err), field, None)
                assert config.to_dict() == before, "a failed assignment changed the model"
            else:
                _check_round_trip(config, directory)

        for how, action in (("construct", construct), ("assign", assign)):
            _run(f"{how} {number} ({model.__name__}.{field} = {name})", action, failures, durations)
    assert not failures, f"{len(failures)} cases failed (seed {SEED + 1}):\n" + "\n".join(failures[:40])


def test_fuzzed_search_spaces_parse_or_fail_with_a_clear_error(tmp_path: Path) -> None:
    rng = random.Random(SEED + 2)
    failures: list[str] = []
    durations: list[float] = []
    bounds = [0, 1, -1, 0.5, 1e-4, 10**400, -(10**400), 2**53 + 1, 1e308, "1", None, True, [1], math.nan]
    for number in range(300):
        spec: Any
        shape = rng.choice(["range", "choices", "fixed"])
        if shape == "range":
            spec = {"low": rng.choice(bounds), "high": rng.choice(bounds)}
            for flag in ("log", "int"):
                if rng.random() < 0.4:
                    spec[flag] = rng.choice([True, False, 1, "yes"])
            if rng.random() < 0.1:
                spec["step"] = 1
        elif shape == "choices":
            spec = [rng.choice(bounds[:10]) for _ in range(rng.choice([0, 1, 3, 2000]))]
        else:
            spec = rng.choice(bounds)
        space = {"learning_rate": spec}

        def construct(space=space, directory=tmp_path / str(number)) -> None:
            try:
                config = DAFSweepConfig(name="s", missions=["explore"], search_space=space)
            except ValueError as err:
                _check_message(str(err), "search_space", None)
            else:
                directory.mkdir()
                _check_round_trip(config, directory)

        _run(f"search space {number} ({shape} {str(spec)[:80]})", construct, failures, durations)
    assert not failures, f"{len(failures)} cases failed (seed {SEED + 2}):\n" + "\n".join(failures[:40])
