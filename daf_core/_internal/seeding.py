"""One seeding function for every generator a policy or a trainer may draw from.

Common random numbers (the same seed gives every policy the same maps and the same draws) only hold if
every source of randomness follows the seed: Python's ``random`` (mettagrid's ``random`` policy samples
from it), NumPy's global generator and torch's default generator (network initialisation, action
sampling). torch is seeded only when it is already imported: importing it just to seed it would cost
scripted-policy workers seconds, and a module that has not imported torch cannot draw from it. Callers
that build a network therefore import its class before seeding (see ``daf_core.evaluation``).
"""

from __future__ import annotations

import random
import sys

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and (if imported) torch's global generators with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
