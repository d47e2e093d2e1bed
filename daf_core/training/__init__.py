"""DAF's trainer: PufferLib's PPO with every hyperparameter exposed, resumable, and data-parallel.

``cogames.train.train`` hard-codes the PPO settings, so a sweep through it changes nothing. This package
builds the same thing cogames builds (the same environments, policy classes and ``pufferl.PuffeRL``)
but takes the settings from :class:`daf_core.config.PPOConfig`, and adds checkpoints in cogames' layout
that resume, a per-epoch metrics log, data-parallel training over ``torch.distributed`` and a Ctrl-C
that saves. Run it with :func:`train`, or as ``python -m daf_core.training --config run.yaml`` (also
what ``torchrun --nproc-per-node N -m daf_core.training --config run.yaml`` starts on each node).

The rooms: :mod:`~.trainer` (the loop), :mod:`~.environments`, :mod:`~.settings` (PuffeRL's settings),
:mod:`~.checkpoints`, :mod:`~.run_files` (metrics), :mod:`~.process_group` (torch.distributed),
:mod:`~.interrupts` (Ctrl-C) and :mod:`~.result`.
"""

from daf_core._internal.process_state import import_preserving_process_state

# mettagrid configures the root logger and PufferLib replaces the SIGINT handler when first imported.
import_preserving_process_state("mettagrid")
import_preserving_process_state("pufferlib.pufferl")

from daf_core.training.checkpoints import TrainingStatus, read_status, read_trainer_state  # noqa: E402
from daf_core.training.environments import TRAINING_MAP_SEED_BASE, load_training_missions  # noqa: E402
from daf_core.training.process_group import WorkerContext  # noqa: E402
from daf_core.training.result import DistributedTrainingResult, TrainingResult  # noqa: E402
from daf_core.training.run_files import default_run_name  # noqa: E402
from daf_core.training.trainer import DAFTrainer, train  # noqa: E402

__all__ = [
    "TRAINING_MAP_SEED_BASE",
    "DAFTrainer",
    "DistributedTrainingResult",
    "TrainingResult",
    "TrainingStatus",
    "WorkerContext",
    "default_run_name",
    "load_training_missions",
    "read_status",
    "read_trainer_state",
    "train",
]
