"""A policy that passes validation and then fails: shipped inside a bundle (validation imports it from the
bundle, as cogames loads submitted code) and importable by a test's policy server through PYTHONPATH
(the server builds only allowlisted classes it can import itself, never the bundle's code).

This directory is not a package on purpose: its modules are top-level names, as in a submission zip.
"""

import numpy as np
from mettagrid.policy.policy import AgentPolicy, MultiAgentPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from mettagrid.simulator import Action, AgentObservation


class _RandomMoveAgent(AgentPolicy):
    def __init__(self, policy_env_info: PolicyEnvInterface, seed: int):
        super().__init__(policy_env_info)
        self._moves = [name for name in policy_env_info.action_names if name.startswith("move")]
        self._rng = np.random.default_rng(seed)

    def step(self, obs: AgentObservation) -> Action:
        return Action(name=self._moves[self._rng.integers(len(self._moves))])


class MovesThenFailsPolicy(MultiAgentPolicy):
    """Moves at random in its first episode (validation refuses bundles that only emit no-ops), then raises
    in every episode after: served, a deployment that starts failing its act requests."""

    def __init__(self, policy_env_info: PolicyEnvInterface, device: str = "cpu"):
        super().__init__(policy_env_info, device=device)
        self._episodes_started = 0

    def agent_policy(self, agent_id: int) -> AgentPolicy:
        # Agent 0's policy is asked for once at the start of every episode (every server session).
        if agent_id == 0:
            self._episodes_started += 1
        if self._episodes_started > 1:
            raise RuntimeError("policy exploded on purpose")
        return _RandomMoveAgent(self._policy_env_info, seed=agent_id)
