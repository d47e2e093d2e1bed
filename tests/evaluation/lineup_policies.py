"""A policy that leaves a trace of every episode it plays (importable by worker processes)."""

from pathlib import Path

from mettagrid.policy.policy import AgentPolicy, MultiAgentPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from mettagrid.simulator import Action, AgentObservation


class _NoopAgent(AgentPolicy):
    def step(self, obs: AgentObservation) -> Action:
        return Action(name="noop")


class EpisodeCountingPolicy(MultiAgentPolicy):
    """Plays noop and appends a line to ``log`` for every agent it is given at the start of an episode,
    so the file says how many agent-episodes it played (resumed episodes leave no line)."""

    def __init__(self, policy_env_info: PolicyEnvInterface, device: str = "cpu", log: str = ""):
        super().__init__(policy_env_info, device=device)
        self._log = Path(log)

    def agent_policy(self, agent_id: int) -> AgentPolicy:
        with self._log.open("a") as log:
            log.write(f"agent {agent_id}\n")
        return _NoopAgent(self._policy_env_info)
