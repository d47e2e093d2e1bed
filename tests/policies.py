"""Small policies that misbehave on purpose, importable by worker processes as ``tests.policies.X``."""

import os

import numpy as np
import torch
from mettagrid.policy.lstm import obs_to_obs_tensor
from mettagrid.policy.policy import AgentPolicy, MultiAgentPolicy
from mettagrid.policy.policy_env_interface import PolicyEnvInterface
from mettagrid.simulator import Action, AgentObservation
from torch import nn


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


class ObservationArgmaxNet(nn.Module):
    """A fixed random linear map from the observation to action scores, played greedily: every action
    depends on what the agent sees, and nothing is sampled, so two correct rollouts agree exactly."""

    def __init__(self, obs_size: int, num_actions: int):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.weight = nn.Parameter(torch.randn(obs_size, num_actions, generator=generator))

    def forward_eval(
        self, observations: torch.Tensor, state: object = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = observations.reshape(observations.shape[0], -1).float() @ self.weight
        logits = torch.full_like(scores, -1e4).scatter(1, scores.argmax(-1, keepdim=True), 0.0)
        return logits, torch.zeros(scores.shape[0], 1)


class _GreedyNetAgent(AgentPolicy):
    def __init__(self, policy_env_info: PolicyEnvInterface, net: ObservationArgmaxNet):
        super().__init__(policy_env_info)
        self._net = net

    def step(self, obs: AgentObservation) -> Action:
        tensor = obs_to_obs_tensor(obs, self.policy_env_info.observation_space.shape, torch.device("cpu"))
        logits, _ = self._net.forward_eval(tensor)
        return Action(name=self.policy_env_info.action_names[int(logits.argmax())])


class DeterministicNetworkPolicy(MultiAgentPolicy):
    """A neural policy with no randomness, for checking the batched rollout against mettagrid's loop."""

    def __init__(self, policy_env_info: PolicyEnvInterface, device: str = "cpu"):
        super().__init__(policy_env_info, device=device)
        obs_size = int(np.prod(policy_env_info.observation_space.shape))
        self._net = ObservationArgmaxNet(obs_size, len(policy_env_info.action_names))

    def network(self) -> nn.Module:
        return self._net

    def agent_policy(self, agent_id: int) -> AgentPolicy:
        return _GreedyNetAgent(self._policy_env_info, self._net)
