"""Tests for daf_core.config, written as examples of how DAF configs are used.

Every config model loads from YAML/JSON, saves atomically and loads back equal; bad input of any
kind raises FileNotFoundError or ValueError with a message that names the field and the bad value.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

import daf_core._internal.atomic
from daf_core.config import (
    PIPELINE_STAGES,
    DAFComparisonConfig,
    DAFConfig,
    DAFConfigBase,
    DAFDeploymentConfig,
    DAFPipelineConfig,
    DAFSweepConfig,
    DAFTrainingConfig,
    configure_logging,
    daf_load_config,
)
from daf_core.missions import list_missions

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS_DIR = REPO_ROOT / "configs"


def _sweep(**overrides) -> DAFSweepConfig:
    fields = {
        "name": "explore_lr",
        "missions": ["tiny_walk", "explore"],
        "search_space": {"learning_rate": {"low": 1e-4, "high": 3e-3, "log": True}, "ent_coef": [0.0, 0.01]},
    }
    return DAFSweepConfig(**{**fields, **overrides})


def _deployment(**overrides) -> DAFDeploymentConfig:
    fields = {
        "policy_name": "explore-lstm",
        "policy_class_path": "lstm",
        "deployment_endpoint": "http://localhost:8080",
        "version": "1.0.0",
    }
    return DAFDeploymentConfig(**{**fields, **overrides})


# One non-default instance of every model, so the round trips exercise every field type.
EXAMPLES: dict[str, DAFConfigBase] = {
    "DAFConfig": DAFConfig(
        output_dir="/data/daf",
        max_checkpoints_to_keep=2,
        max_parallel_jobs=8,
        enable_gpu=False,
        gpu_memory_fraction=0.5,
        verbose=True,
        log_to_file=False,
        monitor_system_stats=False,
        track_experiments=False,
    ),
    "DAFSweepConfig": _sweep(
        strategy="grid", num_trials=3, episodes_per_trial=2, optimize_direction="minimize", seed=7
    ),
    "DAFDeploymentConfig": _deployment(
        weights_path="runs/explore_lstm.pt",
        authentication_server="https://auth.example.org/token",
        validation_missions=["tiny_walk"],
        version="2.0.0-rc.1+build.5",
        enable_rollback=False,
    ),
    "DAFComparisonConfig": DAFComparisonConfig(
        name="baselines",
        policies=["random", "noop"],
        missions=["tiny_walk", "explore_large"],
        episodes_per_mission=3,
        generate_html_report=False,
        significance_level=0.01,
    ),
    "DAFPipelineConfig": DAFPipelineConfig(
        name="train_compare", stages=["train", "evaluate", "compare"], parallel_stages=True
    ),
}


# --------------------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_yaml_round_trip_is_equal(tmp_path: Path, name: str) -> None:
    config = EXAMPLES[name]
    path = config.to_yaml(tmp_path / "nested" / "dir" / "config.yaml")  # parent dirs are created
    assert path.is_file()
    assert type(config).from_yaml(path) == config


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_json_round_trip_is_equal(tmp_path: Path, name: str) -> None:
    config = EXAMPLES[name]
    path = config.to_json(tmp_path / "config.json")
    assert json.loads(path.read_text())  # plain JSON that any tool can read
    assert type(config).from_json(path) == config


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_daf_load_config_picks_the_parser_by_suffix(tmp_path: Path, suffix: str) -> None:
    config = EXAMPLES["DAFConfig"]
    path = config.to_file(tmp_path / f"daf_config{suffix}")
    assert daf_load_config(path) == config
    assert daf_load_config(str(path)) == config


def test_pydantic_json_validation_works_too() -> None:
    # model_validate_json is what a Dagster run config or an HTTP body would go through.
    assert DAFConfig.model_validate_json("{}") == DAFConfig()
    config = EXAMPLES["DAFConfig"]
    assert DAFConfig.model_validate_json(config.model_dump_json()) == config
    with pytest.raises(ValueError, match="'verbose': 'maybe'"):
        DAFConfig.model_validate_json('{"verbose": "maybe"}')


def test_saving_leaves_no_temporary_files_and_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    _sweep(num_trials=3).to_yaml(path)
    _sweep(num_trials=4).to_yaml(path)
    assert DAFSweepConfig.from_yaml(path).num_trials == 4
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.yaml"]


def test_a_failed_save_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sweep(num_trials=3).to_yaml(tmp_path / "sweep.yaml")

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(daf_core._internal.atomic.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        _sweep(num_trials=4).to_yaml(path)
    assert DAFSweepConfig.from_yaml(path).num_trials == 3
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.yaml"]


def test_yaml_scientific_notation_is_a_float(tmp_path: Path) -> None:
    # PyYAML alone reads `1e-4` as the string "1e-4"; a sweep range must get numbers.
    path = tmp_path / "sweep.yaml"
    path.write_text("name: s\nmissions: [explore]\nsearch_space:\n  learning_rate: {low: 1e-4, high: 3E-3}\n")
    space = DAFSweepConfig.from_yaml(path).search_space
    assert space["learning_rate"] == {"low": 1e-4, "high": 3e-3}


# --------------------------------------------------------------------------------------------------
# Defaults (as in the API reference) and derived values
# --------------------------------------------------------------------------------------------------


def test_daf_config_defaults_match_the_reference() -> None:
    config = DAFConfig()
    assert config.output_dir == Path("./daf_output")
    assert config.checkpoint_dir == Path("./daf_output/checkpoints")
    assert config.max_checkpoints_to_keep == 5
    assert config.max_parallel_jobs == 4
    assert config.enable_gpu is True
    assert config.gpu_memory_fraction == 0.8
    assert config.verbose is False
    assert config.log_to_file is True
    assert config.monitor_system_stats is True
    assert config.track_experiments is True


def test_sweep_defaults() -> None:
    sweep = DAFSweepConfig(name="s", missions=["explore"], search_space={"ent_coef": [0.0, 0.01]})
    assert sweep.policy_class_path == "lstm"
    assert sweep.strategy == "random"
    assert sweep.num_trials == 10
    assert sweep.episodes_per_trial == 5
    assert sweep.objective_metric == "mean_reward"
    assert sweep.optimize_direction == "maximize"
    assert sweep.seed == 42
    assert sweep.max_parallel_jobs == 1
    assert sweep.output_dir == Path("./daf_output/sweeps")


def test_deployment_comparison_and_pipeline_defaults() -> None:
    deployment = _deployment()
    assert deployment.weights_path is None
    assert deployment.authentication_server is None
    assert deployment.validation_missions == []
    assert deployment.enable_rollback is True

    comparison = DAFComparisonConfig(name="c", policies=["random"], missions=["explore"])
    assert comparison.episodes_per_mission == 5
    assert comparison.generate_html_report is True
    assert comparison.save_raw_results is True
    assert comparison.seed == 42
    assert comparison.significance_level == 0.05
    assert comparison.output_dir == Path("./daf_output/comparisons")

    pipeline = DAFPipelineConfig(name="p", stages=["train"])
    assert pipeline.stop_on_failure is True
    assert pipeline.parallel_stages is False


def test_checkpoint_dir_follows_output_dir_unless_given(tmp_path: Path) -> None:
    assert DAFConfig(output_dir="/x").checkpoint_dir == Path("/x/checkpoints")
    assert DAFConfig(output_dir="/x", checkpoint_dir=None).checkpoint_dir == Path("/x/checkpoints")
    assert DAFConfig(output_dir="/x", checkpoint_dir="/ckpt").checkpoint_dir == Path("/ckpt")

    path = tmp_path / "daf.yaml"
    path.write_text("output_dir: /runs/a\n")
    loaded = daf_load_config(path)
    assert loaded.checkpoint_dir == Path("/runs/a/checkpoints")
    assert daf_load_config(loaded.to_yaml(tmp_path / "saved.yaml")) == loaded


def test_paths_are_pathlib_and_user_expanded() -> None:
    config = DAFConfig(output_dir="~/daf_runs")
    assert isinstance(config.output_dir, Path)
    assert config.output_dir == Path.home() / "daf_runs"
    assert config.checkpoint_dir == Path.home() / "daf_runs" / "checkpoints"


def test_valid_semantic_versions_and_urls_are_accepted() -> None:
    for version in ["0.1.0", "1.2.3", "1.0.0-rc.1", "1.0.0-alpha+001", "10.20.30+build.7"]:
        assert _deployment(version=version).version == version
    for url in ["http://localhost:8080", "https://policies.example.org/api/v1"]:
        assert _deployment(deployment_endpoint=url, authentication_server=url).deployment_endpoint == url


# --------------------------------------------------------------------------------------------------
# Bad input: FileNotFoundError / ValueError naming the field (or file) and the offending value
# --------------------------------------------------------------------------------------------------

SWEEP_YAML = "name: s\nmissions: [explore]\nsearch_space: {ent_coef: [0.0, 0.01]}\n"
DEPLOY_YAML = "policy_name: p\npolicy_class_path: lstm\ndeployment_endpoint: http://localhost:8080\n"

# (case id, model, file name, file text, substrings the error message must contain)
BAD_FILES = [
    ("malformed_yaml", DAFConfig, "c.yaml", "output_dir: [unclosed\n", ["malformed YAML", 'c.yaml", line']),
    ("malformed_json", DAFConfig, "c.json", '{"output_dir": "x",}', ["malformed JSON", "line 1"]),
    ("non_mapping", DAFConfig, "c.yaml", "- a\n- b\n", ["mapping", "list", "['a', 'b']"]),
    ("empty_file", DAFConfig, "c.yaml", "", ["empty"]),
    ("comments_only", DAFConfig, "c.yaml", "# nothing here\n", ["empty"]),
    ("wrong_type", DAFSweepConfig, "s.yaml", SWEEP_YAML + "num_trials: many\n", ["num_trials", "'many'"]),
    ("bool_for_int", DAFConfig, "c.yaml", "max_parallel_jobs: true\n", ["max_parallel_jobs", "True"]),
    ("out_of_range", DAFConfig, "c.yaml", "gpu_memory_fraction: 1.5\n", ["gpu_memory_fraction", "1.5"]),
    ("zero_jobs", DAFConfig, "c.yaml", "max_parallel_jobs: 0\n", ["max_parallel_jobs", "0"]),
    (
        "unknown_strategy",
        DAFSweepConfig,
        "s.yaml",
        SWEEP_YAML + "strategy: exhaustive\n",
        ["strategy", "'exhaustive'", "'grid'"],
    ),
    (
        "unknown_direction",
        DAFSweepConfig,
        "s.yaml",
        SWEEP_YAML + "optimize_direction: up\n",
        ["optimize_direction", "'up'"],
    ),
    (
        "unknown_key",
        DAFSweepConfig,
        "s.yaml",
        SWEEP_YAML + "num_trails: 5\n",
        ["DAFSweepConfig: unknown field 'num_trails' (value 5); did you mean 'num_trials'?"],
    ),
    ("bad_semver", DAFDeploymentConfig, "d.yaml", DEPLOY_YAML + "version: '1.0'\n", ["version", "'1.0'"]),
    (
        "bad_url",
        DAFDeploymentConfig,
        "d.yaml",
        DEPLOY_YAML.replace("http://localhost:8080", "localhost:8080") + "version: 1.0.0\n",
        ["deployment_endpoint", "'localhost:8080'", "http"],
    ),
    (
        "unknown_stage",
        DAFPipelineConfig,
        "p.yaml",
        "name: p\nstages: [environment_check, trian]\n",
        ["stages", "'trian'", "did you mean 'train'?"],
    ),
    (
        "empty_missions",
        DAFComparisonConfig,
        "c.yaml",
        "name: c\npolicies: [random]\nmissions: []\n",
        ["missions", "[]"],
    ),
    ("missing_field", DAFPipelineConfig, "p.yaml", "stages: [train]\n", ["missing required field 'name'"]),
    ("duplicate_key", DAFConfig, "c.yaml", "verbose: true\nverbose: false\n", ["duplicate key 'verbose'"]),
    ("duplicate_json_key", DAFConfig, "c.json", '{"verbose": true, "verbose": false}', ["duplicate key"]),
]


@pytest.mark.parametrize(
    ("model", "filename", "text", "expected"),
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_bad_config_file_raises_value_error_naming_field_and_value(
    tmp_path: Path, model: type[DAFConfigBase], filename: str, text: str, expected: list[str]
) -> None:
    path = tmp_path / filename
    path.write_text(text)
    with pytest.raises(ValueError) as excinfo:
        model.from_file(path)
    message = str(excinfo.value)
    assert str(path) in message  # the file is named, so the user knows which one to fix
    for fragment in expected:
        assert fragment in message
    assert not isinstance(excinfo.value, ValidationError)


def test_missing_file_raises_file_not_found_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "daf_config.yaml"
    with pytest.raises(FileNotFoundError, match="nowhere/daf_config.yaml"):
        daf_load_config(path)
    with pytest.raises(FileNotFoundError, match="sweep.json"):
        DAFSweepConfig.from_json(tmp_path / "sweep.json")


def test_unsupported_suffix_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "daf_config.toml"
    path.write_text("verbose = true\n")
    with pytest.raises(ValueError, match=r"unsupported config file suffix '\.toml'"):
        daf_load_config(path)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: DAFConfig(max_checkpoints_to_keep=0), ["max_checkpoints_to_keep", "0"]),
        (lambda: DAFConfig(gpu_memory_fraction=0), ["gpu_memory_fraction", "0"]),
        (lambda: DAFConfig(output_dir=""), ["output_dir", "''"]),
        (lambda: DAFConfig(verbos=True), ["unknown field 'verbos' (value True); did you mean 'verbose'?"]),
        (lambda: _sweep(missions=[]), ["missions", "[]"]),
        (lambda: _sweep(strategy="annealing"), ["strategy", "'annealing'"]),
        (lambda: _sweep(episodes_per_trial=0), ["episodes_per_trial", "0"]),
        (lambda: _deployment(authentication_server="ftp://auth"), ["authentication_server", "'ftp://auth'"]),
        (lambda: _deployment(version="v1.2.3"), ["version", "'v1.2.3'"]),
        (
            lambda: DAFComparisonConfig(name="c", policies=["random"], missions=["x"], significance_level=1),
            ["significance_level", "1"],
        ),
        (lambda: DAFComparisonConfig(name="c", policies=[], missions=["x"]), ["policies", "[]"]),
        (lambda: DAFPipelineConfig(name="p", stages=["train", "deploy", "train"]), ["stages", "'train'"]),
        (lambda: DAFPipelineConfig(name="p", stages=[]), ["stages", "[]"]),
    ],
)
def test_constructing_in_python_raises_value_error_naming_field_and_value(build, expected) -> None:
    with pytest.raises(ValueError) as excinfo:
        build()
    assert not isinstance(excinfo.value, ValidationError)  # our message, not pydantic's
    for fragment in expected:
        assert fragment in str(excinfo.value)


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(ValueError) as excinfo:
        _sweep(num_trials=0, strategy="exhaustive")
    message = str(excinfo.value)
    assert "2 problems" in message
    assert "'num_trials': 0" in message and "'strategy': 'exhaustive'" in message


def test_assignment_is_validated_too() -> None:
    config = DAFConfig()
    with pytest.raises(ValueError, match="max_parallel_jobs"):
        config.max_parallel_jobs = 0
    assert config.max_parallel_jobs == 4
    config.max_parallel_jobs = 2
    assert config.max_parallel_jobs == 2


def test_every_pipeline_stage_is_accepted() -> None:
    config = DAFPipelineConfig(
        name="all",
        stages=list(PIPELINE_STAGES),
        sweep={"name": "s", "missions": ["explore"], "search_space": {"learning_rate": [0.001]}},
        deployment={
            "policy_name": "p",
            "policy_class_path": "lstm",
            "deployment_endpoint": "http://localhost:8080",
            "version": "1.0.0",
        },
    )
    assert config.stages == list(PIPELINE_STAGES)


# --------------------------------------------------------------------------------------------------
# The example configs shipped in configs/
# --------------------------------------------------------------------------------------------------

# Example files are matched to their model by name, so a new example is checked as soon as it is added.
EXAMPLE_PREFIXES: dict[str, type[DAFConfigBase]] = {
    "daf_config": DAFConfig,
    "sweep_": DAFSweepConfig,
    "comparison_": DAFComparisonConfig,
    "deployment_": DAFDeploymentConfig,
    "pipeline_": DAFPipelineConfig,
    "training_": DAFTrainingConfig,
}
EXPECTED_EXAMPLES = {
    "daf_config.yaml",
    "sweep_explore.yaml",
    "comparison_explore.yaml",
    "deployment_example.yaml",
    "pipeline_train_compare.yaml",
    "training_collect.yaml",
}


def _example_files() -> list[tuple[Path, type[DAFConfigBase]]]:
    found = []
    for path in sorted(CONFIGS_DIR.glob("*")):
        for prefix, model in EXAMPLE_PREFIXES.items():
            if path.suffix in (".yaml", ".yml", ".json") and path.name.startswith(prefix):
                found.append((path, model))
    return found


def test_all_expected_examples_exist() -> None:
    assert EXPECTED_EXAMPLES <= {path.name for path, _model in _example_files()}


@pytest.mark.parametrize(("path", "model"), _example_files(), ids=lambda value: getattr(value, "name", ""))
def test_example_config_loads_with_its_model(tmp_path: Path, path: Path, model: type[DAFConfigBase]) -> None:
    config = model.from_file(path)
    assert model.from_yaml(config.to_yaml(tmp_path / path.name)) == config


def test_examples_use_real_mission_and_policy_names() -> None:
    known_missions = set(list_missions())
    sweep = DAFSweepConfig.from_yaml(CONFIGS_DIR / "sweep_explore.yaml")
    comparison = DAFComparisonConfig.from_yaml(CONFIGS_DIR / "comparison_explore.yaml")
    deployment = DAFDeploymentConfig.from_yaml(CONFIGS_DIR / "deployment_example.yaml")
    training = DAFTrainingConfig.from_yaml(CONFIGS_DIR / "training_collect.yaml")
    for name in [*sweep.missions, *comparison.missions, *deployment.validation_missions, *training.missions]:
        assert name in known_missions
    assert set(comparison.policies) <= {"random", "noop", "lstm"}
    assert sweep.search_space == {
        "learning_rate": {"low": 1e-4, "high": 3e-3, "log": True},
        "ent_coef": [0.0, 0.01, 0.05],
    }


# --------------------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------------------


def _flush(daf: logging.Logger) -> None:
    for handler in daf.handlers:
        handler.flush()


def test_configure_logging_writes_the_log_file(tmp_path: Path, daf_logger: logging.Logger) -> None:
    log_path = configure_logging(DAFConfig(output_dir=tmp_path))
    assert log_path == tmp_path / "logs" / "daf.log"
    logging.getLogger("daf_core.sweeps").info("trial 3 finished")
    logging.getLogger("daf_core.sweeps").debug("hidden unless verbose")
    _flush(daf_logger)
    text = log_path.read_text()
    assert "trial 3 finished" in text
    assert "hidden unless verbose" not in text
    assert daf_logger.level == logging.INFO


def test_verbose_sets_debug_and_adds_one_stream_handler(tmp_path: Path, daf_logger: logging.Logger) -> None:
    log_path = configure_logging(DAFConfig(output_dir=tmp_path, verbose=True))
    assert daf_logger.level == logging.DEBUG
    logging.getLogger("daf_core.training").debug("step 100")
    _flush(daf_logger)
    assert "step 100" in log_path.read_text()
    streams = [
        h
        for h in daf_logger.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    assert len(streams) == 1


def test_repeated_calls_do_not_duplicate_handlers(tmp_path: Path, daf_logger: logging.Logger) -> None:
    config = DAFConfig(output_dir=tmp_path, verbose=True)
    before = len(daf_logger.handlers)
    for _ in range(3):
        configure_logging(config)
    assert len(daf_logger.handlers) == before + 2  # one file handler, one stream handler

    # A new output_dir moves the log file rather than adding a second one.
    other = configure_logging(DAFConfig(output_dir=tmp_path / "other", verbose=True))
    files = [h for h in daf_logger.handlers if isinstance(h, logging.FileHandler)]
    assert [Path(h.baseFilename) for h in files] == [other]


def test_log_to_file_false_writes_no_file(tmp_path: Path, daf_logger: logging.Logger) -> None:
    assert configure_logging(DAFConfig(output_dir=tmp_path, log_to_file=False)) is None
    assert not any(isinstance(h, logging.FileHandler) for h in daf_logger.handlers)
    assert not (tmp_path / "logs").exists()


def test_configure_logging_leaves_the_root_logger_alone(tmp_path: Path, daf_logger: logging.Logger) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging(DAFConfig(output_dir=tmp_path, verbose=True))
    configure_logging(DAFConfig(output_dir=tmp_path, verbose=False))
    assert root.handlers == handlers
    assert root.level == level


def test_importing_daf_core_leaves_the_root_logger_alone(tmp_path: Path) -> None:
    # A fresh interpreter: this test process has long since imported daf_core (and mettagrid).
    code = (
        "import logging\n"
        "root = logging.getLogger()\n"
        "before = (list(root.handlers), root.level)\n"
        "import daf_core, daf_core.config\n"
        "print(repr(before), '|', repr((list(root.handlers), root.level)))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    before, after = result.stdout.strip().splitlines()[-1].split(" | ")
    assert before == after == "([], 30)"


def test_training_config_holds_every_ppo_setting_and_rejects_unknown_ones() -> None:
    config = DAFTrainingConfig(ppo={"learning_rate": 0.003, "gamma": 0.98})
    assert (config.ppo.learning_rate, config.ppo.gamma, config.ppo.clip_coef) == (0.003, 0.98, 0.2)
    with pytest.raises(ValueError, match=r"unknown field 'ppo.gama' \(value 0.9\); did you mean 'gamma'"):
        DAFTrainingConfig(ppo={"gama": 0.9})
    with pytest.raises(ValueError, match=r"ppo.learning_rate.*-1"):
        DAFTrainingConfig(ppo={"learning_rate": -1})


def test_a_copy_with_changes_is_validated_like_any_other_input() -> None:
    """pydantic's model_copy(update=...) skips validation; DAF's configs check the update."""
    config = DAFTrainingConfig(num_steps=4096)
    with pytest.raises(ValueError, match="num_steps"):
        config.model_copy(update={"num_steps": -1})
    with pytest.raises(ValueError, match="seed"):
        config.model_copy(update={"seed": True})
    renamed = config.model_copy(update={"run_name": "named"})
    assert renamed.run_name == "named" and renamed.num_steps == 4096
    assert renamed.model_fields_set == {"num_steps", "run_name"}
