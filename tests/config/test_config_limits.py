"""Bad input that used to escape as the wrong exception, hang, or load and then fail to save.

Each test is one reported case: it must end in a config that saves and loads back equal, or in a
ValueError (FileNotFoundError for a missing file) that names the file and the field, in bounded time.
Cases that used to hang run under :func:`finishes_within`, so they fail instead of hanging.
"""

from __future__ import annotations

import datetime
import errno
import json
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from daf_core.config import (
    DAFComparisonConfig,
    DAFConfig,
    DAFConfigBase,
    DAFSweepConfig,
    DAFTrainingConfig,
    PPOConfig,
)
from daf_core.config.search_space import daf_random_search, parse_search_space
from tests.config.valid_configs import MODELS, REQUIRED, full_dict, number_fields, path_fields

SWEEP_YAML = "name: s\nmissions: [explore]\nsearch_space: {ent_coef: [0.0, 0.01]}\n"


def finishes_within(seconds: float, action: Callable[[], Any]) -> Any:
    """``action()``'s result (or exception), failing the test if it takes longer than ``seconds``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = action()
        except BaseException as err:  # noqa: BLE001 - handed back to the test below
            outcome["error"] = err

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds}s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


def load_error(model: type[DAFConfigBase], path: Path, text: str | bytes, seconds: float = 10) -> str:
    """The ValueError message of loading ``text`` from ``path`` (which it must name)."""
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    with pytest.raises(ValueError) as excinfo:
        finishes_within(seconds, lambda: model.from_file(path))
    message = str(excinfo.value)
    assert str(path) in message
    assert len(message) < 3000
    return message


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def billion_laughs_yaml(field: str, levels: int = 9) -> str:
    """A few lines whose aliases expand to 9**levels values."""
    lines = [f"{field}:", "  - &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        lines.append(f"  - &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# Deep nesting (RecursionError), and nesting that could not be saved
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "prefix", "field"),
    [
        (DAFConfig, "", "output_dir"),
        (DAFSweepConfig, SWEEP_YAML, "base_hyperparameters"),
        (DAFTrainingConfig, "", "policy_init_kwargs"),
    ],
)
@pytest.mark.parametrize("depth", [300, 1000, 100_000])
def test_deeply_nested_yaml_names_the_field(
    tmp_path: Path, model: type[DAFConfigBase], prefix: str, field: str, depth: int
) -> None:
    value = "[" * depth + "]" * depth
    if field != "output_dir":
        value = "{x: " + value + "}"
    message = load_error(model, tmp_path / "c.yaml", f"{prefix}{field}: {value}\n")
    assert f"invalid value for '{field}" in message
    assert "nested deeper than" in message


@pytest.mark.parametrize("depth", [300, 1000, 100_000])
def test_deeply_nested_json_names_the_field(tmp_path: Path, depth: int) -> None:
    text = '{"verbose": true, "output_dir": ' + "[" * depth + "]" * depth + "}"
    message = load_error(DAFConfig, tmp_path / "c.json", text)
    assert "invalid value for 'output_dir'" in message and "nested deeper than" in message


def test_deep_nesting_given_in_python_names_the_field() -> None:
    with pytest.raises(
        ValueError, match=r"invalid value for 'policy_init_kwargs\.layers\[0\].*nested deeper"
    ):
        DAFTrainingConfig(policy_init_kwargs={"layers": nested(300)})
    config = DAFTrainingConfig()
    with pytest.raises(ValueError, match="invalid value for 'policy_init_kwargs"):
        config.policy_init_kwargs = {"layers": nested(100_000)}
    assert config.policy_init_kwargs == {}


def test_the_pure_python_parser_keeps_the_same_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # PyYAML built without libyaml parses with its own Python parser; it must refuse and read alike.
    from daf_core.config import formats  # noqa: PLC0415 - the module only exists in the fixed code

    monkeypatch.setattr(formats, "_LOADER", formats._PythonConfigLoader)
    message = load_error(DAFConfig, tmp_path / "deep.yaml", "output_dir: " + "[" * 5000 + "]" * 5000)
    assert "invalid value for 'output_dir" in message and "nested deeper than" in message
    assert "duplicate key 'verbose'" in load_error(
        DAFConfig, tmp_path / "dup.yaml", "verbose: 1\nverbose: 2\n"
    )
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP_YAML.replace("[0.0, 0.01]", "[1e-4, '1e5']"))
    assert DAFSweepConfig.from_file(path).search_space == {"ent_coef": [1e-4, "1e5"]}


# --------------------------------------------------------------------------------------------------
# Search-space bounds too large for a float (OverflowError)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bound", ["9" * 400, "-" + "9" * 400])
def test_a_400_digit_range_bound_is_a_value_error(tmp_path: Path, bound: str) -> None:
    low, high = (bound, "1") if bound.startswith("-") else ("0.1", bound)
    text = f"name: s\nmissions: [explore]\nsearch_space:\n  learning_rate: {{low: {low}, high: {high}}}\n"
    message = load_error(DAFSweepConfig, tmp_path / "s.yaml", text)
    assert "search_space" in message and "'learning_rate'" in message and "too large" in message
    with pytest.raises(ValueError, match="'learning_rate'.*too large"):
        daf_random_search({"learning_rate": {"low": 0.1, "high": 10**400}}, num_samples=2)


def test_an_int_range_past_what_sampling_keeps_exact_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'steps'.*within \+-2\*\*53"):
        parse_search_space({"steps": {"low": 1, "high": 2**64, "int": True}})


def test_many_choices_are_checked_in_linear_time() -> None:
    choices = list(range(20_000))
    assert finishes_within(5, lambda: parse_search_space({"seed": choices}))["seed"].choices == tuple(choices)
    with pytest.raises(ValueError, match="choice 3 is listed more than once"):
        finishes_within(5, lambda: parse_search_space({"seed": [*choices, 3]}))


# --------------------------------------------------------------------------------------------------
# Path fields: ~unknownuser (RuntimeError), NUL characters
# --------------------------------------------------------------------------------------------------

PATH_FIELDS = [(model, field) for model in MODELS for field in path_fields(model)]


@pytest.mark.parametrize(("model", "field"), PATH_FIELDS, ids=[f"{m.__name__}.{f}" for m, f in PATH_FIELDS])
@pytest.mark.parametrize("value", ["~nosuchuser/x", "runs/a\x00b"])
def test_every_path_field_refuses_unusable_paths(
    tmp_path: Path, model: type[DAFConfigBase], field: str, value: str
) -> None:
    with pytest.raises(ValueError, match=f"invalid value for '{field}'"):
        model(**{**REQUIRED[model], field: value})

    config = model(**REQUIRED[model])
    before = config.to_dict()
    with pytest.raises(ValueError, match=f"invalid value for '{field}'"):
        setattr(config, field, value)
    assert config.to_dict() == before

    document = {**REQUIRED[model], field: value}
    text = "".join(f"{key}: {json.dumps(item)}\n" for key, item in document.items())
    assert f"invalid value for '{field}'" in load_error(model, tmp_path / "c.yaml", text)


def test_a_config_file_path_with_an_unknown_user_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="~nosuchuser/daf.yaml"):
        DAFConfig.from_file("~nosuchuser/daf.yaml")
    with pytest.raises(ValueError, match="~nosuchuser/daf.yaml"):
        DAFConfig().to_yaml("~nosuchuser/daf.yaml")


# --------------------------------------------------------------------------------------------------
# Odd config file paths: a directory, a name too long, no permission, a FIFO, a missing odd suffix
# --------------------------------------------------------------------------------------------------


def test_a_directory_named_like_a_config_is_a_value_error(tmp_path: Path) -> None:
    (tmp_path / "daf.yaml").mkdir()
    with pytest.raises(ValueError, match=r"daf\.yaml: is a directory"):
        DAFConfig.from_file(tmp_path / "daf.yaml")


def test_a_file_name_too_long_is_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / ("a" * 300 + ".yaml")
    with pytest.raises(ValueError, match="File name too long") as excinfo:
        DAFConfig.from_file(path)
    assert str(path) in str(excinfo.value)


def test_an_unreadable_file_is_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "daf.yaml"
    path.write_text("verbose: true\n")
    path.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(ValueError, match="Permission denied"):
            DAFConfig.from_file(path)
        return
    os.seteuid(65534)  # root reads anything; read as "nobody" instead
    try:
        with pytest.raises(ValueError, match="Permission denied") as excinfo:
            DAFConfig.from_file(path)
    finally:
        os.seteuid(0)
    assert str(path) in str(excinfo.value)


def test_a_fifo_as_the_config_file_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "daf.yaml"
    os.mkfifo(fifo)
    try:
        with pytest.raises(ValueError, match=r"daf\.yaml: is a FIFO"):
            finishes_within(5, lambda: DAFConfig.from_file(fifo))
    finally:  # release a reader that blocked (the old behaviour), so no thread is left waiting
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as err:
            assert err.errno == errno.ENXIO  # no reader waiting: nothing to release


def test_a_missing_file_with_an_unknown_suffix_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"daf_config\.toml"):
        DAFConfig.from_file(tmp_path / "daf_config.toml")


# --------------------------------------------------------------------------------------------------
# YAML aliases: a billion laughs, an alias containing itself
# --------------------------------------------------------------------------------------------------


def test_a_billion_laughs_in_a_typed_field_fails_fast(tmp_path: Path) -> None:
    message = load_error(DAFConfig, tmp_path / "c.yaml", billion_laughs_yaml("output_dir"), seconds=5)
    assert "invalid value for 'output_dir'" in message and "more than" in message


def test_a_billion_laughs_that_would_validate_is_refused_at_load(tmp_path: Path) -> None:
    # Any value fits base_hyperparameters; this one loaded before, and then to_yaml never finished.
    text = SWEEP_YAML + billion_laughs_yaml("base_hyperparameters").replace(
        "base_hyperparameters:\n", "base_hyperparameters:\n  laughs:\n"
    ).replace("\n  - ", "\n    - ")
    message = load_error(DAFSweepConfig, tmp_path / "s.yaml", text, seconds=5)
    assert "invalid value for 'base_hyperparameters'" in message and "more than" in message


def test_a_small_use_of_aliases_still_loads_and_saves(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        SWEEP_YAML + "training_seeds: &seeds [0, 1]\nbase_hyperparameters: {mission.seeds: *seeds}\n"
    )
    config = DAFSweepConfig.from_file(path)
    assert config.base_hyperparameters == {"mission.seeds": [0, 1]}
    assert "&" not in config.to_yaml(tmp_path / "saved.yaml").read_text()  # written out, not aliased
    assert DAFSweepConfig.from_file(tmp_path / "saved.yaml") == config


@pytest.mark.parametrize("value", ["&a [*a]", "&a {x: *a}", "&a [1, [2, *a]]"])
def test_an_alias_that_contains_itself_is_refused_at_load(tmp_path: Path, value: str) -> None:
    message = load_error(
        DAFSweepConfig, tmp_path / "s.yaml", SWEEP_YAML + f"base_hyperparameters: {{a: {value}}}\n"
    )
    assert "invalid value for 'base_hyperparameters.a" in message and "contains itself" in message


def test_cycles_and_laughs_given_in_python_are_refused() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    laughs: list[Any] = ["lol"] * 9
    for _ in range(9):
        laughs = [laughs] * 9
    for value in (cycle, laughs):
        with pytest.raises(ValueError, match="invalid value for 'policy_init_kwargs"):
            finishes_within(5, lambda value=value: DAFTrainingConfig(policy_init_kwargs={"x": value}))


# --------------------------------------------------------------------------------------------------
# Messages that did not name the field
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "field", "where"),
    [
        ("c.yaml", b"verbose: true\noutput_dir: /runs/\xff\n", "output_dir", "line 2, column 19"),
        ("c.json", b'{"verbose": true, "output_dir": "/runs/\xfe"}', "output_dir", "line 1, column 40"),
        (
            "c.yaml",
            b"ppo:\n  gamma: 0.9\n  learning_rate: 0.1\xc3\n",
            "ppo.learning_rate",
            "line 3, column 21",
        ),
    ],
)
def test_bytes_that_are_not_utf8_name_the_field_and_line(
    tmp_path: Path, name: str, text: bytes, field: str, where: str
) -> None:
    message = load_error(DAFTrainingConfig if "ppo" in field else DAFConfig, tmp_path / name, text)
    assert f"invalid value for '{field}'" in message
    assert "not UTF-8" in message and where in message


def test_bytes_that_are_not_utf8_in_a_comment_name_the_line(tmp_path: Path) -> None:
    message = load_error(DAFConfig, tmp_path / "c.yaml", b"verbose: true\n# caf\xe9\n")
    assert "not UTF-8" in message and "line 2, column 6" in message


@pytest.mark.parametrize(
    ("name", "text"), [("c.yaml", "max_parallel_jobs: {}\n"), ("c.json", '{{"max_parallel_jobs": {}}}')]
)
def test_integers_past_4300_digits_name_the_field(tmp_path: Path, name: str, text: str) -> None:
    message = load_error(DAFConfig, tmp_path / name, text.format("9" * 5000))
    assert "invalid value for 'max_parallel_jobs'" in message and "5000 digits" in message


def test_a_failed_cross_field_check_gives_its_reason(tmp_path: Path) -> None:
    text = SWEEP_YAML + "base_hyperparameters: {ent_coef: 0.1}\n"
    message = load_error(DAFSweepConfig, tmp_path / "s.yaml", text)
    assert "'ent_coef' is also in search_space" in message
    assert "expected a mapping" not in message


# --------------------------------------------------------------------------------------------------
# Round trips: strings that look like numbers, values that load but cannot be saved
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1e5", "1E-3", "-2e10", "6.02e23"])
def test_strings_that_look_like_numbers_save_quoted_and_reload_equal(tmp_path: Path, text: str) -> None:
    config = DAFSweepConfig(
        name=text,
        missions=["explore"],
        search_space={"mission.tag": [text, 1.0]},
        base_hyperparameters={"policy.label": text},
    )
    saved = config.to_yaml(tmp_path / "s.yaml")
    assert f"name: '{text}'" in saved.read_text()
    assert DAFSweepConfig.from_yaml(saved) == config
    comparison = DAFComparisonConfig(name="c", policies=[text], missions=[text])
    assert DAFComparisonConfig.from_yaml(comparison.to_yaml(tmp_path / "c.yaml")) == comparison


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("{start: 2020-01-01}", "does not survive a save and reload"),
        ("{rate: .nan}", "does not survive a save and reload"),
        ("{sizes: {1: 64}}", "does not survive a save and reload"),
        ("{tags: !!set {a, b}}", "does not survive a save and reload"),
        ("{layers: " + "[" * 40 + "]" * 40 + "}", "nested deeper than"),
    ],
)
def test_values_that_load_but_would_not_save_equal_are_refused_at_load(
    tmp_path: Path, value: str, why: str
) -> None:
    message = load_error(DAFTrainingConfig, tmp_path / "t.yaml", f"policy_init_kwargs: {value}\n")
    assert "invalid value for 'policy_init_kwargs" in message and why in message


def test_an_integer_too_long_to_save_is_refused_when_given_in_python() -> None:
    with pytest.raises(ValueError, match="invalid value for 'base_hyperparameters.seed'.*digits"):
        DAFSweepConfig(**REQUIRED[DAFSweepConfig], base_hyperparameters={"seed": 10**5000})
    with pytest.raises(ValueError, match="invalid value for 'seed'.*digits"):
        DAFTrainingConfig(seed=10**5000)


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid value for 'vf_coef'.*finite"):
        PPOConfig(vf_coef=math.inf)
    with pytest.raises(ValueError, match="invalid value for 'base_hyperparameters'"):
        DAFSweepConfig(**REQUIRED[DAFSweepConfig], base_hyperparameters={"mission.rate": math.nan})
    with pytest.raises(ValueError, match="invalid value for 'policy_init_kwargs'"):
        DAFTrainingConfig(policy_init_kwargs={"start": datetime.date(2020, 1, 1)})


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_every_model_round_trips_in_both_formats(tmp_path: Path, model: type[DAFConfigBase]) -> None:
    config = model(**full_dict(model))
    assert model.from_yaml(config.to_yaml(tmp_path / "c.yaml")) == config
    assert model.from_json(config.to_json(tmp_path / "c.json")) == config


# --------------------------------------------------------------------------------------------------
# Assignment and booleans
# --------------------------------------------------------------------------------------------------


def test_a_failed_cross_field_assignment_keeps_the_old_value(tmp_path: Path) -> None:
    sweep = DAFSweepConfig(**REQUIRED[DAFSweepConfig])
    with pytest.raises(ValueError, match="'ent_coef' is also in search_space"):
        sweep.base_hyperparameters = {"ent_coef": 0.1}
    assert sweep.base_hyperparameters == {}
    assert DAFSweepConfig.from_yaml(sweep.to_yaml(tmp_path / "s.yaml")) == sweep

    with pytest.raises(ValueError, match="invalid value for 'base_hyperparameters'"):
        sweep.base_hyperparameters = {"mission.max_steps": math.nan}  # fails the save-and-reload check
    assert sweep.base_hyperparameters == {}
    sweep.base_hyperparameters = {"mission.max_steps": 50}
    assert DAFSweepConfig.from_yaml(sweep.to_yaml(tmp_path / "s.yaml")).base_hyperparameters == {
        "mission.max_steps": 50
    }


NUMBER_FIELDS = [(model, field) for model in MODELS for field in number_fields(model)]


@pytest.mark.parametrize(
    ("model", "field"), NUMBER_FIELDS, ids=[f"{m.__name__}.{f}" for m, f in NUMBER_FIELDS]
)
def test_every_number_field_refuses_booleans(model: type[DAFConfigBase], field: str) -> None:
    with pytest.raises(ValueError, match=f"invalid value for '{field}': True .*boolean"):
        model(**{**REQUIRED[model], field: True})
    config = model(**REQUIRED[model])
    with pytest.raises(ValueError, match=f"'{field}'"):
        setattr(config, field, False)


def test_training_seed_true_is_refused_in_a_file(tmp_path: Path) -> None:
    message = load_error(DAFTrainingConfig, tmp_path / "t.yaml", "seed: true\n")
    assert "invalid value for 'seed': True" in message
