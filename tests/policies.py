"""Small policies that misbehave on purpose, importable by worker processes as ``tests.policies.X``."""

import os

from mettagrid.policy.policy import AgentPolicy, MultiAgentPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from mettagrid.simulator import Action, AgentObservation


class _NoopAgent(AgentPolicy):
    def step(self, obs: AgentObservation) -> Action:
        return Action(name="noop")


class FailsOnSecondEpisodePolicy(MultiAgentPolicy):
    """Plays noop for one episode, then raises when the next episode starts."""

    fail_on_episode = 2

    def __init__(self, policy_env_info: PolicyEnvInterface, device: str = "cpu"):
        super().__init__(policy_env_info, device=device)
        self._episodes_started = 0

    def agent_policy(self, agent_id: int) -> AgentPolicy:
        # The rollout asks for agent 0's policy once at the start of every episode.
        if agent_id == 0:
            self._episodes_started += 1
            if self._episodes_started >= self.fail_on_episode:
                self.fail()
        return _NoopAgent(self._policy_env_info)

    def fail(self) -> None:
        raise RuntimeError("policy exploded on purpose")


class KillsWorkerPolicy(FailsOnSecondEpisodePolicy):
    """Ends its whole process as soon as an episode starts, as a segfault in native code would."""

    fail_on_episode = 1

    def fail(self) -> None:
        os._exit(3)
