"""DAFPipelineConfig: one file holds a whole pipeline; what a listed stage lacks is refused at load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from daf_core.config import PIPELINE_STAGES, DAFConfig, DAFPipelineConfig
from daf_core.config.pipeline import STAGE_DEPENDENCIES, policy_source, stage_dependencies

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SWEEP = {"name": "s", "missions": ["tiny_walk"], "search_space": {"learning_rate": [0.001, 0.003]}}
DEPLOYMENT = {
    "policy_name": "p",
    "policy_class_path": "lstm",
    "deployment_endpoint": "http://127.0.0.1:8000",
    "version": "1.0.0",
}


@pytest.mark.parametrize(
    ("stages", "sections", "expected"),
    [
        (["sweep", "evaluate"], {}, ["stages", "'sweep'", "'sweep' section"]),
        (["train", "package", "deploy"], {}, ["stages", "'deploy'", "'deployment' section"]),
        (["train", "validate"], {}, ["'validate'", "'package' listed before it"]),
        (["evaluate", "train"], {}, ["'evaluate'", "evaluation.policies"]),
        (["evaluate"], {"evaluation": {"policies": ["random"]}}, ["evaluation.missions"]),
        (
            ["compare"],
            {"comparison": {"name": "c", "policies": ["random"], "missions": ["x"]}},
            ["'comparison'"],
        ),
        (["benchmark"], {}, ["benchmark.policies"]),
        (["package"], {}, ["'deployment' section"]),
        (["train"], {"name": "../escape"}, ["'name'", "'../escape'"]),
        (["train"], {"daf_config": {"max_parallel_jobs": 0}}, ["'daf_config'", "max_parallel_jobs"]),
        (["train"], {"training": {"num_stpes": 5}}, ["unknown field 'training.num_stpes'"]),
    ],
)
def test_a_stage_without_what_it_needs_is_refused_when_loaded(
    tmp_path: Path, stages: list[str], sections: dict, expected: list[str]
) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"name": "p", "stages": stages, **sections}))
    with pytest.raises(ValueError) as excinfo:
        DAFPipelineConfig.from_file(path)
    message = str(excinfo.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_stages_with_sensible_defaults_need_no_section() -> None:
    config = DAFPipelineConfig(
        name="p", stages=["environment_check", "train", "evaluate", "compare", "package"]
    )
    assert config.training is None and config.comparison is None and config.deployment is None
    with_sections = DAFPipelineConfig(
        name="p", stages=["sweep", "package", "validate", "deploy"], sweep=SWEEP, deployment=DEPLOYMENT
    )
    assert with_sections.sweep.name == "s"


def test_section_outputs_go_under_the_pipelines_folder_unless_given(tmp_path: Path) -> None:
    config = DAFPipelineConfig(
        name="run1",
        stages=["train", "evaluate", "compare"],
        output_dir=tmp_path / "a",
        daf_config={"verbose": True},
        training={"missions": ["collect"]},
        evaluation={},
        comparison={"name": "c", "policies": ["random"], "missions": ["collect"], "output_dir": "/elsewhere"},
    )
    folder = tmp_path / "a" / "run1"
    assert config.folder == folder
    assert config.training.checkpoint_dir == folder / "checkpoints"
    assert "checkpoint_dir" in config.training.model_fields_set  # so the trainer uses it over DAFConfig's
    assert config.evaluation.output_dir == folder / "evaluation"
    assert (
        config.daf_config.output_dir == folder and config.daf_config.checkpoint_dir == folder / "checkpoints"
    )
    assert config.comparison.output_dir == Path("/elsewhere")  # given: kept

    moved = config.with_changes(output_dir=str(tmp_path / "b"))
    assert moved.training.checkpoint_dir == tmp_path / "b" / "run1" / "checkpoints"
    assert moved.daf_config.output_dir == tmp_path / "b" / "run1"
    assert moved.comparison.output_dir == Path("/elsewhere")

    for saved in (config.to_yaml(tmp_path / "p.yaml"), config.to_json(tmp_path / "p.json")):
        assert DAFPipelineConfig.from_file(saved) == config


def test_daf_config_is_inline_or_the_path_of_its_file(tmp_path: Path) -> None:
    DAFConfig(max_parallel_jobs=2).to_yaml(tmp_path / "daf.yaml")
    by_path = DAFPipelineConfig(name="p", stages=["train"], daf_config=str(tmp_path / "daf.yaml"))
    assert by_path.daf_config == tmp_path / "daf.yaml"
    assert DAFPipelineConfig.from_file(by_path.to_yaml(tmp_path / "p.yaml")) == by_path
    with pytest.raises(ValueError, match="invalid value for 'daf_config'"):
        DAFPipelineConfig(name="p", stages=["train"], daf_config=["not", "a", "config"])


def test_each_stage_waits_for_the_stages_listed_before_it_that_it_reads() -> None:
    assert set(STAGE_DEPENDENCIES) == set(PIPELINE_STAGES)
    stages = ["environment_check", "train", "evaluate", "compare", "package", "validate", "deploy"]
    assert stage_dependencies(stages) == {
        "environment_check": (),
        "train": ("environment_check",),
        "evaluate": ("environment_check", "train"),
        "compare": ("environment_check", "train"),
        "package": ("environment_check", "train"),
        "validate": ("environment_check", "package"),
        "deploy": ("environment_check", "package", "validate"),
    }
    # Listed first, a comparison compares its own policies and waits for nothing.
    assert stage_dependencies(["compare", "train", "evaluate"]) == {
        "compare": (),
        "train": (),
        "evaluate": ("train",),
    }
    # A stage works on the policy of the closest train or sweep before it.
    order = ["train", "evaluate", "sweep", "compare"]
    assert policy_source(order, "evaluate") == "train" and policy_source(order, "compare") == "sweep"


def test_the_shipped_pipeline_trains_lstm_on_collect_then_compares_it_with_random() -> None:
    config = DAFPipelineConfig.from_file(CONFIGS / "pipeline_train_compare.yaml")
    assert config.stages == ["environment_check", "train", "evaluate", "compare"]
    assert config.training.missions == ["collect"] and config.training.policy_class_path == "lstm"
    assert 10_000 <= config.training.num_steps <= 20_000
    assert config.comparison.policies == ["random"]
    assert config.evaluation.seed == config.comparison.seed  # the same held-out episodes
    assert config.folder == Path("daf_output/pipelines/train_then_compare")
    assert config.training.checkpoint_dir == config.folder / "checkpoints"
