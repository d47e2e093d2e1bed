"""daf_run_pipeline on real stages that really fail: stop_on_failure, skipped dependents, parallel stages.

The failures are real: a training run whose policy class cannot be imported, a comparison on a mission
file that does not exist. Times are seconds after the pipeline started, so overlap is read off them.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from daf_core.config import DAFPipelineConfig
from daf_core.orchestrators import PipelineResult, daf_run_pipeline
from daf_core.orchestrators.runner import CONFIG_FILE
from daf_core.orchestrators.stages import STAGE_STEPS
from tests.orchestrators.small import MISSING_MISSION_COMPARISON, TINY_TRAINING, pipeline

UNIMPORTABLE_TRAINING = {**TINY_TRAINING, "policy_class_path": "no_such_package.Policy"}


def overlap(a, b) -> bool:  # noqa: ANN001 - two StageResults
    return a.started_s < b.finished_s and b.started_s < a.finished_s


@pytest.mark.parametrize("stop_on_failure", [True, False])
def test_dependents_of_a_failed_training_are_skipped_with_the_reason(
    tmp_path: Path, stop_on_failure: bool
) -> None:
    config = pipeline(
        tmp_path,
        ["train", "evaluate", "package", "validate"],
        training=UNIMPORTABLE_TRAINING,
        stop_on_failure=stop_on_failure,
    )
    result = daf_run_pipeline(config)

    assert result.status == "failed" and not result.is_success()
    assert result.stages_failed == ["train"] and result.stages_skipped == ["evaluate", "package", "validate"]
    assert len(result.errors) == 1 and "no_such_package" in result.errors[0]
    train = result.stage("train")
    assert train.seconds > 0 and train.finished_s >= train.started_s
    for name in ("evaluate", "package", "validate"):
        skipped = result.stage(name)
        assert skipped.seconds == 0 and skipped.started_s is None
        if stop_on_failure:
            assert skipped.reason == "not run: the pipeline stopped after 'train' failed (stop_on_failure)"
        elif name == "validate":  # it needs the package, which needed train
            assert skipped.reason == "needs 'package', which was skipped"
        else:
            assert skipped.reason == "needs 'train', which failed"

    # What ran is on disk: the config, and the result, which loads back equal.
    assert DAFPipelineConfig.from_file(config.folder / CONFIG_FILE) == config
    assert PipelineResult.load_json(config.folder) == result


@pytest.mark.parametrize("stop_on_failure", [True, False])
def test_keep_going_runs_every_stage_that_does_not_depend_on_the_failed_one(
    tmp_path: Path, stop_on_failure: bool
) -> None:
    config = pipeline(
        tmp_path,
        ["compare", "train", "evaluate"],
        comparison=MISSING_MISSION_COMPARISON,
        stop_on_failure=stop_on_failure,
    )
    result = daf_run_pipeline(config)

    assert result.stages_failed == ["compare"]
    assert "FileNotFoundError" in result.errors[0] and "does_not_exist/mission.yaml" in result.errors[0]
    if stop_on_failure:
        assert result.status == "failed"
        assert result.stages_skipped == ["train", "evaluate"]
        return
    assert result.status == "partial" and not result.is_success()
    assert result.stages_completed == ["train", "evaluate"]
    # evaluate ran the checkpoint train made, under the trained policy's name.
    run_dir = result.outputs["train"].run_dir
    assert (run_dir / "policy_spec.json").is_file()
    records = result.outputs["evaluate"]
    assert set(records["policy"]) == {"trained_lstm"} and len(records) == 2
    assert result.stage("evaluate").summary["mean_reward"]["trained_lstm"]["tiny_walk"] == pytest.approx(
        records["reward"].mean()
    )


def meeting_at(barrier: threading.Barrier, step):
    """``step`` that first waits (at most the barrier's timeout) until the other stage holding the same
    barrier has started too: run one after the other, the first of them fails with BrokenBarrierError."""

    def wait_then_run(context):
        barrier.wait()
        return step(context)

    return wait_then_run


@pytest.mark.slow
def test_parallel_stages_overlap_where_independent_and_sequential_ones_never_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stages = ["train", "evaluate", "compare", "package", "validate"]
    results = {}
    for parallel in (True, False):
        # Forced, not timed: in parallel, evaluate (ready after train) must still be running when
        # validate (ready after train, then package) starts, whatever either costs on this machine.
        barrier = threading.Barrier(2, timeout=60)
        with monkeypatch.context() as patch:
            if parallel:
                for name in ("evaluate", "validate"):
                    patch.setitem(STAGE_STEPS, name, meeting_at(barrier, STAGE_STEPS[name]))
            results[parallel] = daf_run_pipeline(
                pipeline(
                    tmp_path / ("parallel" if parallel else "sequential"),
                    stages,
                    comparison={**MISSING_MISSION_COMPARISON, "missions": ["does_not_exist/mission.yaml"]},
                    parallel_stages=parallel,
                    stop_on_failure=False,
                )
            )
        result = results[parallel]
        assert result.status == "partial"
        assert result.stages_failed == ["compare"]
        assert result.stages_completed == ["train", "evaluate", "package", "validate"]
        validate = result.outputs["validate"]
        assert validate.passed and validate.episodes == 2  # the package of the trained checkpoint

    parallel, sequential = (
        {stage.name: stage for stage in results[mode].stages if stage.status != "skipped"}
        for mode in (True, False)
    )
    # evaluate overlapped package and validate; nothing started before what it depends on had finished.
    assert overlap(parallel["evaluate"], parallel["validate"])
    assert overlap(parallel["evaluate"], parallel["package"])
    for later, earlier in [("evaluate", "train"), ("package", "train"), ("validate", "package")]:
        assert parallel[later].started_s >= parallel[earlier].finished_s
    # One at a time, in the order listed.
    ordered = [sequential[name] for name in stages]
    for before, after in zip(ordered, ordered[1:], strict=False):
        assert after.started_s >= before.finished_s
    # The same work either way: the same seeds give the same episodes.
    assert (
        results[True].stage("evaluate").summary["mean_reward"]
        == results[False].stage("evaluate").summary["mean_reward"]
    )


def test_an_unhealthy_environment_fails_its_stage_and_gates_everything_after_it(tmp_path: Path) -> None:
    config = pipeline(
        tmp_path,
        ["environment_check", "train", "evaluate"],
        environment_check={"check_dependencies": False, "check_cuda": False, "min_available_gb": 1e9},
        stop_on_failure=False,
    )
    result = daf_run_pipeline(config)

    assert result.status == "failed"
    check = result.stage("environment_check")
    assert check.status == "failed" and "disk_space" in check.error and "UNHEALTHY" in check.error
    assert check.summary["healthy"] is False  # the checks' report is kept with the failure
    assert [check["name"] for check in check.summary["checks"]] == ["disk_space", "mission:tiny_walk"]
    assert result.stage("train").reason == "needs 'environment_check', which failed"
    assert result.stage("evaluate").reason == "needs 'environment_check', which failed"
