"""The reference's four workflows as plain functions: each builds a DAFPipelineConfig and runs it.

Every function takes the arguments of its workflow, which build the sections of that workflow
(``training``, ``evaluation``, ``comparison``, ``sweep``, ``benchmark``), and optionally a
``pipeline_config``: a :class:`~daf_core.config.DAFPipelineConfig` whose name, stages,
``stop_on_failure``, ``parallel_stages``, ``output_dir``, ``daf_config`` and other sections (an
``environment_check``, a ``deployment``) are used, its sections of the same names replaced by the
function's. ``stages``, ``stop_on_failure``, ``parallel_stages``, ``name``,
``output_dir`` and ``daf_config``, when given, override both. ``daf_config`` is a DAFConfig (used as
it is), a mapping of its fields (whose output locations follow the pipeline's folder) or its file.
The config that ran is saved in the pipeline's folder, so ``daf run <folder>/pipeline_config.yaml``
runs the same pipeline again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from daf_core.config import DAFConfig, DAFPipelineConfig, DAFSweepConfig
from daf_core.orchestrators.result import PipelineResult
from daf_core.orchestrators.runner import daf_run_pipeline

#: The sections a pipeline function may fill from its arguments.
_SECTIONS = ("environment_check", "training", "evaluation", "sweep", "comparison", "benchmark", "deployment")


def _folder_name(text: str) -> str:
    """``text`` as a pipeline name: what is not a letter, digit, '.', '_' or '-' becomes '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip("._-")[:128] or "pipeline"


def _compose(
    default: dict[str, Any],
    pipeline_config: DAFPipelineConfig | None,
    overrides: Mapping[str, Any],
) -> DAFPipelineConfig:
    """``pipeline_config`` (or ``default``'s name and stages) with ``default``'s sections and the
    ``overrides`` that were given."""
    given = {key: value for key, value in overrides.items() if value is not None}
    if isinstance(given.get("output_dir"), Path):
        given["output_dir"] = str(given["output_dir"])
    if pipeline_config is None:
        return DAFPipelineConfig.from_dict({**default, **given})
    sections = {key: value for key, value in default.items() if key in _SECTIONS}
    return pipeline_config.with_changes(**sections, **given)


def _orchestration(
    name: str | None,
    stages: Sequence[str] | None,
    stop_on_failure: bool | None,
    parallel_stages: bool | None,
    output_dir: str | Path | None,
    daf_config: DAFConfig | Mapping[str, Any] | str | Path | None,
) -> dict[str, Any]:
    return {
        "name": name,
        "stages": list(stages) if stages is not None else None,
        "stop_on_failure": stop_on_failure,
        "parallel_stages": parallel_stages,
        "output_dir": output_dir,
        "daf_config": (
            str(daf_config)
            if isinstance(daf_config, Path)
            else dict(daf_config)
            if isinstance(daf_config, Mapping)
            else daf_config
        ),
    }


def _baseline_comparison(
    name: str, baselines: Sequence[str], missions: Sequence[str], episodes: int, seed: int
) -> dict[str, Any]:
    """The compare section that sets the trained policy against ``baselines`` on the evaluation seeds."""
    return {
        "name": name,
        "policies": list(baselines),
        "missions": list(missions),
        "episodes_per_mission": episodes,
        "seed": seed,
    }


def daf_run_training_pipeline(
    policy_class_path: str = "lstm",
    mission_names: Sequence[str] = ("collect",),
    num_training_steps: int = 300_000,
    *,
    seed: int = 0,
    device: str = "auto",
    vector_num_envs: int = 16,
    hyperparameters: Mapping[str, Any] | None = None,
    evaluation_episodes: int = 5,
    evaluation_seed: int = 100_000,
    baselines: Sequence[str] = ("random",),
    package: bool = False,
    name: str | None = None,
    output_dir: str | Path | None = None,
    daf_config: DAFConfig | Mapping[str, Any] | str | Path | None = None,
    pipeline_config: DAFPipelineConfig | None = None,
    stages: Sequence[str] | None = None,
    stop_on_failure: bool | None = None,
    parallel_stages: bool | None = None,
    show_progress: bool = False,
) -> PipelineResult:
    """Check the environment, train ``policy_class_path`` on ``mission_names``, evaluate the checkpoint
    on held-out seeds, compare it with ``baselines`` (none: no compare stage) and, with ``package``,
    package and validate it. ``hyperparameters`` are PPO settings (:class:`~daf_core.config.PPOConfig`
    fields). The default name is ``train_<class>_<missions>``."""
    missions = list(mission_names)
    default_stages = ["environment_check", "train", "evaluate"]
    default_stages += ["compare"] if baselines else []
    default_stages += ["package", "validate"] if package else []
    short = policy_class_path.rsplit(".", 1)[-1]
    default: dict[str, Any] = {
        "name": _folder_name(f"train_{short}_{'_'.join(Path(m).stem for m in missions)}"),
        "stages": default_stages,
        "training": {
            "missions": missions,
            "policy_class_path": policy_class_path,
            "num_steps": num_training_steps,
            "seed": seed,
            "device": device,
            "vector_num_envs": vector_num_envs,
            "ppo": dict(hyperparameters or {}),
        },
        "evaluation": {"episodes": evaluation_episodes, "seed": evaluation_seed},
    }
    if baselines:
        default["comparison"] = _baseline_comparison(
            default["name"], baselines, missions, evaluation_episodes, evaluation_seed
        )
    overrides = _orchestration(name, stages, stop_on_failure, parallel_stages, output_dir, daf_config)
    return daf_run_pipeline(_compose(default, pipeline_config, overrides), show_progress=show_progress)


def daf_run_sweep_pipeline(
    sweep_config: DAFSweepConfig | str | Path,
    *,
    evaluation_episodes: int = 5,
    evaluation_seed: int = 100_000,
    baselines: Sequence[str] = (),
    name: str | None = None,
    output_dir: str | Path | None = None,
    daf_config: DAFConfig | Mapping[str, Any] | str | Path | None = None,
    pipeline_config: DAFPipelineConfig | None = None,
    stages: Sequence[str] | None = None,
    stop_on_failure: bool | None = None,
    parallel_stages: bool | None = None,
    show_progress: bool = False,
) -> PipelineResult:
    """Check the environment, run the sweep, then evaluate its best trial's checkpoint on seeds the
    sweep never scored it on (and compare it with ``baselines``, when given). The default name is the
    sweep's; the sweep writes where its own ``output_dir`` says."""
    sweep = (
        sweep_config if isinstance(sweep_config, DAFSweepConfig) else DAFSweepConfig.from_file(sweep_config)
    )
    default: dict[str, Any] = {
        "name": sweep.name,
        "stages": ["environment_check", "sweep", "evaluate", *(["compare"] if baselines else [])],
        "sweep": sweep.to_dict(),
        "evaluation": {"episodes": evaluation_episodes, "seed": evaluation_seed},
    }
    if baselines:
        default["comparison"] = _baseline_comparison(
            sweep.name, baselines, sweep.missions, evaluation_episodes, evaluation_seed
        )
    overrides = _orchestration(name, stages, stop_on_failure, parallel_stages, output_dir, daf_config)
    return daf_run_pipeline(_compose(default, pipeline_config, overrides), show_progress=show_progress)


def daf_run_comparison_pipeline(
    policy_specs: Sequence[str | Path],
    missions: Sequence[str | Path],
    episodes_per_mission: int = 5,
    *,
    seed: int = 42,
    significance_level: float = 0.05,
    generate_html_report: bool = True,
    name: str | None = None,
    output_dir: str | Path | None = None,
    daf_config: DAFConfig | Mapping[str, Any] | str | Path | None = None,
    pipeline_config: DAFPipelineConfig | None = None,
    stages: Sequence[str] | None = None,
    stop_on_failure: bool | None = None,
    parallel_stages: bool | None = None,
    show_progress: bool = False,
) -> PipelineResult:
    """Check the environment (missions included), then compare ``policy_specs`` on ``missions`` on the
    same seeds: report, raw episodes, HTML report and leaderboard in ``<folder>/comparisons/<name>``.
    The default name is ``comparison``."""
    comparison_name = name or (pipeline_config.name if pipeline_config else "comparison")
    default: dict[str, Any] = {
        "name": comparison_name,
        "stages": ["environment_check", "compare"],
        "comparison": {
            "name": comparison_name,
            "policies": [str(policy) for policy in policy_specs],
            "missions": [str(mission) for mission in missions],
            "episodes_per_mission": episodes_per_mission,
            "seed": seed,
            "significance_level": significance_level,
            "generate_html_report": generate_html_report,
        },
    }
    overrides = _orchestration(name, stages, stop_on_failure, parallel_stages, output_dir, daf_config)
    return daf_run_pipeline(_compose(default, pipeline_config, overrides), show_progress=show_progress)


def daf_run_benchmark_pipeline(
    policy_specs: Sequence[str | Path],
    benchmark_name: str = "standard",
    *,
    episodes_per_mission: int | None = None,
    name: str | None = None,
    output_dir: str | Path | None = None,
    daf_config: DAFConfig | Mapping[str, Any] | str | Path | None = None,
    pipeline_config: DAFPipelineConfig | None = None,
    stages: Sequence[str] | None = None,
    stop_on_failure: bool | None = None,
    parallel_stages: bool | None = None,
    show_progress: bool = False,
) -> PipelineResult:
    """Check the environment (the suite's missions included), then run ``policy_specs`` on the suite
    ``benchmark_name`` ("quick", "standard"); ``episodes_per_mission`` overrides the suite's count
    (which changes its fingerprint). The default name is ``benchmark_<suite>``."""
    default: dict[str, Any] = {
        "name": _folder_name(f"benchmark_{benchmark_name}"),
        "stages": ["environment_check", "benchmark"],
        "benchmark": {
            "suite": benchmark_name,
            "policies": [str(policy) for policy in policy_specs],
            "episodes_per_mission": episodes_per_mission,
        },
    }
    overrides = _orchestration(name, stages, stop_on_failure, parallel_stages, output_dir, daf_config)
    return daf_run_pipeline(_compose(default, pipeline_config, overrides), show_progress=show_progress)
