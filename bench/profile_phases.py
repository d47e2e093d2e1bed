"""Where the time goes: pyinstrument profiles of one DAF training run and one DAF evaluation, by phase.

    OMP_NUM_THREADS=1 .venv/bin/python bench/profile_phases.py [--steps 65536] [--episodes 16]

Training: ``train()`` in this process (one worker, serial environments; ``explore``, lstm, 16
environments), sampled every 2 ms. Evaluation: ``evaluate_policies(random, noop, lstm)`` on ``explore``
in this process (one worker, so every sample is in this process). Each phase is the time of the
outermost frames of one function (a phase nested in another is counted inside it): for training, the
rollout (PuffeRL's ``evaluate``) with the environments' step and the policy's forward pass inside it,
and the update (PuffeRL's ``train``) with its forward and backward passes and the optimizer's step;
for evaluation, the scripted episodes, the network batches and inside those the forward pass and the
simulator's step. Writes the phase table to ``--output`` (``bench/results/profile.json``) and each
profile's text to ``profiles/`` beside it.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from measure import machine
from pyinstrument import Profiler

from daf_core._internal.atomic import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).parent / "results"

#: phase name -> (a substring of the file's path, the function's name); "parent: child" is counted only
#: inside the parent phase's frames.
TRAINING_PHASES = {
    "rollout": ("pufferlib/pufferl.py", "evaluate"),
    "rollout: environments' step": ("pufferlib/vector.py", "send"),
    "rollout: policy forward": ("mettagrid/policy/lstm.py", "forward_eval"),
    "update": ("pufferlib/pufferl.py", "train"),
    "update: policy forward": ("mettagrid/policy/lstm.py", "forward"),
    "update: backward": ("torch/_tensor.py", "backward"),
    "update: optimizer step": ("torch/optim/optimizer.py", "wrapper"),
    "checkpoints": ("daf_core/training/trainer.py", "checkpoint"),
}
EVALUATION_PHASES = {
    "scripted episodes (random, noop)": ("daf_core/evaluation/scripted_rollout.py", "run_scripted_episode"),
    "network batches (lstm)": ("daf_core/evaluation/batched_rollout.py", "run_batched_episodes"),
    "network batches (lstm): forward": ("mettagrid/policy/lstm.py", "forward_eval"),
}


def outermost(root: Any, file_part: str, function: str) -> list[Any]:
    """The outermost frames of ``function`` in a file whose path contains ``file_part``."""
    if root.function == function and file_part in (root.file_path or ""):
        return [root]
    return [frame for child in root.children for frame in outermost(child, file_part, function)]


def phase_seconds(root: Any, phases: dict[str, tuple[str, str]], phase: str) -> float:
    """A phase's time; ``parent: child`` within the parent phase's frames only."""
    parent, _, child = phase.partition(": ")
    roots = outermost(root, *phases[parent]) if child else [root]
    return sum(frame.time for top in roots for frame in outermost(top, *phases[phase]))


def profiled(work: Callable[[], Any], phases: dict[str, tuple[str, str]], text: Path) -> dict[str, Any]:
    """Run ``work`` under the profiler; the phase table, and the profile's text written to ``text``."""
    profiler = Profiler(interval=0.002)
    profiler.start()
    work()
    profiler.stop()
    root = profiler.last_session.root_frame()
    total = root.time
    table = {
        phase: {"seconds": round(seconds, 3), "share": round(seconds / total, 3)}
        for phase in phases
        if (seconds := phase_seconds(root, phases, phase)) > 0
    }
    atomic_write_text(text, profiler.output_text(show_all=False))
    return {"seconds": round(total, 3), "phases": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=65_536)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--output", type=Path, default=RESULTS / "profile.json")
    args = parser.parse_args()
    from daf_core.config import DAFConfig, DAFTrainingConfig  # noqa: PLC0415 - imports are not profiled
    from daf_core.evaluation import evaluate_policies  # noqa: PLC0415
    from daf_core.training import train  # noqa: PLC0415

    profiles = args.output.parent / "profiles"
    before = machine()
    with tempfile.TemporaryDirectory() as scratch:
        config = DAFTrainingConfig(
            missions=["explore"],
            num_steps=args.steps,
            seed=0,
            device="cpu",
            checkpoint_dir=Path(scratch) / "c",
        )
        daf = DAFConfig(
            output_dir=Path(scratch), tensorboard=False, monitor_system_stats=False, log_to_file=False
        )
        training = profiled(
            lambda: train(config, daf, show_progress=False), TRAINING_PHASES, profiles / "training.txt"
        )
    evaluation = profiled(
        lambda: evaluate_policies(
            ["random", "noop", "lstm"],
            ["explore"],
            args.episodes,
            seed=0,
            max_parallel_jobs=1,
            show_progress=False,
        ),
        EVALUATION_PHASES,
        profiles / "evaluation.txt",
    )
    result = {
        "work": {"mission": "explore", "policy": "lstm", "steps": args.steps, "episodes": args.episodes},
        "machine": before,
        "machine_after": machine(),
        "training": training,
        "evaluation": evaluation,
    }
    atomic_write_json(args.output, result)
    for name in ("training", "evaluation"):
        print(f"{name}: {result[name]['seconds']:.1f} s")
        for phase, figures in result[name]["phases"].items():
            print(f"  {phase:40s} {figures['seconds']:7.2f} s  {figures['share']:6.1%}")


if __name__ == "__main__":
    main()
