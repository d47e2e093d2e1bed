"""A mettagrid policy that plays through a policy server: the deployed version chooses every action.

:class:`RemotePolicy` is a ``MultiAgentPolicy`` like any other, so anything that runs mettagrid policies
can run a deployed one - ``daf_core.evaluation.evaluate_policies`` with

    PolicySpec(class_path="daf_core.deployment.remote_policy.RemotePolicy",
               init_kwargs={"endpoint": url, "policy_name": name, "auth_token_env": "DAF_ACT_TOKEN"})

Each episode is one server session (bound to the version active when it starts, so a rollback mid-episode
never mixes versions), and each step is one act request for all agents: mettagrid's rollout hands a
group of agents that share a backing policy to ``step_group`` (``policy_group_keys`` in
``mettagrid.simulator.rollout.Rollout``, which ``single_episode_rollout`` sets to the agents' policy
assignment), and the agent policies here say yes to ``can_step_group`` for their siblings. The server
keeps each agent's recurrent state for the session.

A mettagrid policy never sees the rewards, so the remote policy cannot report an episode's reward by
itself. :func:`daf_evaluate_deployment` runs the episodes (mettagrid's own ``single_episode_rollout``,
seeded like ``evaluate_policies``), reads each episode's reward from the rollout and reports it to the
session's version with :meth:`RemotePolicy.finish_episode` - the episode rewards the monitor's reward
rule compares. Under ``evaluate_policies`` the records hold the rewards and the server is not told.

Tokens: ``auth_token_env`` names an environment variable holding the ``act`` token, so the token is not
part of the policy spec (``evaluate_policies`` writes specs into its manifest); ``auth_token`` works too.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from daf_core._internal.process_state import import_preserving_process_state
from daf_core._internal.seeding import seed_everything
from daf_core.deployment.client import DEFAULT_TIMEOUT_S, PolicyServerClient, PolicyServerError
from daf_core.evaluation import PolicySpec, resolve_missions
from daf_core.records import records_frame

if TYPE_CHECKING:
    from mettagrid.policy.policy_env_interface import PolicyEnvInterface
    from mettagrid.simulator import Action, AgentObservation

_policy = import_preserving_process_state("mettagrid.policy.policy")
_simulator = import_preserving_process_state("mettagrid.simulator")
_rollout = import_preserving_process_state("mettagrid.runner.rollout")

logger = logging.getLogger(__name__)

CLASS_PATH = "daf_core.deployment.remote_policy.RemotePolicy"
#: How mettagrid's per-agent path pads unused observation token slots (``mettagrid.policy.lstm``).
EMPTY_TOKEN = (255, 0, 0)


def observation_batch(observations: Sequence[AgentObservation], shape: tuple[int, ...]) -> np.ndarray:
    """Agents' observations as one ``(agents, tokens, 3)`` uint8 array, as mettagrid's per-agent path
    feeds a network: the tokens in order, unused slots ``[255, 0, 0]``."""
    batch = np.empty((len(observations), *shape), dtype=np.uint8)
    batch[:] = EMPTY_TOKEN
    for row, observation in enumerate(observations):
        raw = [token.raw_token for token in observation.tokens[: shape[0]]]
        if raw:
            batch[row, : len(raw)] = raw
    return batch


class _Session:
    """The server session of the episode being played (a box the finalizer can see)."""

    def __init__(self) -> None:
        self.id: str | None = None
        self.version: str | None = None
        self.requests = 0


def _release(client: PolicyServerClient, session: _Session) -> None:
    """Close the open session, if any, and the connection (when the policy is garbage collected)."""
    try:
        if session.id is not None:
            client.close_session(session.id)
    except PolicyServerError as err:
        logger.warning("Could not close session %s: %s", session.id, err)
    finally:
        session.id = None
        client.close()


class RemotePolicy(_policy.MultiAgentPolicy):
    """Plays the version of ``policy_name`` that ``endpoint`` serves (see the module docstring)."""

    def __init__(
        self,
        policy_env_info: PolicyEnvInterface,
        device: str = "cpu",
        *,
        endpoint: str,
        policy_name: str,
        auth_token: str | None = None,
        auth_token_env: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ):
        super().__init__(policy_env_info, device=device)
        token = auth_token
        if auth_token_env is not None:
            token = os.environ.get(auth_token_env)
            if not token:
                raise ValueError(f"auth_token_env: environment variable {auth_token_env!r} is not set")
        self._policy_name = policy_name  # mettagrid labels the agents with it
        self._client = PolicyServerClient(endpoint, token, timeout=timeout_s)
        self._session = _Session()
        self._finalizer = weakref.finalize(self, _release, self._client, self._session)
        self._observation_shape = tuple(policy_env_info.observation_shape)
        self._actions = [_simulator.Action(name=name) for name in policy_env_info.all_action_names]
        self._agents: dict[int, _RemoteAgentPolicy] = {}
        #: Seeds the server's sampling in the next episode's session (None: the server draws one).
        self.next_episode_seed: int | None = None

    @property
    def version(self) -> str | None:
        """The version playing the current (or last) episode."""
        return self._session.version

    def agent_policy(self, agent_id: int) -> _RemoteAgentPolicy:
        if agent_id not in self._agents:
            self._agents[agent_id] = _RemoteAgentPolicy(self, agent_id)
        return self._agents[agent_id]

    def reset(self) -> None:
        self.new_episode()

    def new_episode(self) -> None:
        """End the session of an episode that has been played (its agents' state is dropped)."""
        if self._session.id is not None and self._session.requests > 0:
            self._client.close_session(self._session.id)
            self._session.id = None

    def finish_episode(self, reward: float, steps: int | None = None) -> str:
        """Report the episode's reward for the session's version, end the session; returns the version."""
        if self._session.id is None:
            raise RuntimeError("finish_episode: no episode is being played")
        version = self._session.version
        self._client.report_episode(self._session.id, reward, steps)
        self._client.close_session(self._session.id)
        self._session.id = None
        return version

    def close(self) -> None:
        self._finalizer()

    def act(self, observations: Sequence[tuple[int, AgentObservation]]) -> list[Action]:
        """One act request for these agents' observations; a session is opened for a new episode."""
        if self._session.id is None:
            self._open_session()
        batch = observation_batch([observation for _, observation in observations], self._observation_shape)
        answer = self._client.act(self._session.id, batch, [agent_id for agent_id, _ in observations])
        self._session.requests += 1
        indices = answer["actions"]
        if len(indices) != len(observations):
            raise RuntimeError(f"the server answered {len(indices)} actions for {len(observations)} agents")
        if not all(isinstance(i, int) and 0 <= i < len(self._actions) for i in indices):
            raise RuntimeError(f"the server answered actions outside [0, {len(self._actions)}): {indices}")
        return [self._actions[i] for i in indices]

    def _open_session(self) -> None:
        opened = self._client.create_session(self._policy_name, self.next_episode_seed)
        self.next_episode_seed = None
        self._session.id, self._session.version = opened["session_id"], opened["version"]
        self._session.requests = 0
        try:
            self._check_interface(opened["policy_env_interface"], opened["version"])
        except ValueError:
            self._client.close_session(opened["session_id"])
            self._session.id = None
            raise

    def _check_interface(self, served: dict[str, Any], version: str) -> None:
        """The served version must see this mission as this one does: the same observation shape, the
        same actions in the same order (an action index means nothing otherwise), room for its agents."""
        names = [*served.get("action_names", []), *served.get("vibe_action_names", [])]
        shape = tuple(served.get("observation_shape") or ())
        agents = int(served.get("num_agents") or 0)
        mine = [action.name for action in self._actions]
        if names != mine or shape != self._observation_shape or agents < self.policy_env_info.num_agents:
            raise ValueError(
                f"policy {self._policy_name!r} version {version} was built for another mission: it serves "
                f"{agents} agents, actions {names} and observations {list(shape)}; this mission has "
                f"{self.policy_env_info.num_agents} agents, actions {mine} and observations "
                f"{list(self._observation_shape)}"
            )


class _RemoteAgentPolicy(_policy.AgentPolicy):
    """One agent's handle; agents of the same :class:`RemotePolicy` step together in one request."""

    def __init__(self, parent: RemotePolicy, agent_id: int):
        super().__init__(parent.policy_env_info)
        self._parent = parent
        self._agent_id = agent_id

    def step(self, obs: AgentObservation) -> Action:
        return self._parent.act([(self._agent_id, obs)])[0]

    def can_step_group(self, policies: Sequence[Any]) -> bool:
        return all(isinstance(p, _RemoteAgentPolicy) and p._parent is self._parent for p in policies)

    def step_group(self, observations: list[tuple[int, AgentObservation]]) -> list[Action]:
        return self._parent.act(observations)

    def reset(self, simulation: Any = None) -> None:
        # mettagrid resets every agent's policy when an episode starts: that ends the previous session.
        self._parent.new_episode()


def remote_policy_spec(
    endpoint: str, policy_name: str, *, auth_token_env: str | None = None, auth_token: str | None = None
) -> PolicySpec:
    """The ``PolicySpec`` that ``evaluate_policies`` loads as the deployed ``policy_name``."""
    kwargs: dict[str, Any] = {"endpoint": endpoint, "policy_name": policy_name}
    if auth_token_env is not None:
        kwargs["auth_token_env"] = auth_token_env
    if auth_token is not None:
        kwargs["auth_token"] = auth_token
    return PolicySpec(class_path=CLASS_PATH, init_kwargs=kwargs)


def daf_evaluate_deployment(
    deployment_id: str,
    endpoint: str,
    missions: Sequence[str | Path | Any],
    episodes: int = 5,
    auth_token: str | None = None,
    *,
    seed: int = 0,
    report_rewards: bool = True,
    action_timeout_ms: int = 10_000,
) -> pd.DataFrame:
    """Play ``episodes`` episodes per mission with the served version; one record per episode.

    Episode ``k`` uses seed ``seed + k`` like ``evaluate_policies`` (the same maps), and its session is
    seeded with it, so the server draws the actions the in-process batched rollout draws for that
    seed. With ``report_rewards`` each episode's reward (summed over
    agents, as in the records) is reported to the version that played it. Records carry a ``version``
    column and the columns of ``daf_core.records``' core.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes: must be a positive integer, got {episodes!r}")
    records: list[dict[str, Any]] = []
    for mission in resolve_missions(missions):
        env_cfg = mission.env_cfg
        policy = RemotePolicy(
            _policy.PolicyEnvInterface.from_mg_cfg(env_cfg),
            endpoint=endpoint,
            policy_name=deployment_id,
            auth_token=auth_token,
        )
        try:
            for k in range(episodes):
                episode_seed = seed + k
                seed_everything(episode_seed)
                policy.next_episode_seed = episode_seed
                started = time.perf_counter()
                result, _ = _rollout.single_episode_rollout(
                    [policy],
                    [0] * env_cfg.game.num_agents,
                    _rollout.resolve_env_for_seed(env_cfg, episode_seed),
                    seed=episode_seed,
                    max_action_time_ms=action_timeout_ms,
                    render_mode="none",
                    autostart=False,
                    capture_replay=False,
                    policy_names=[deployment_id],
                )
                rewards = [float(r) for r in result.rewards]
                version = policy.version
                if report_rewards:
                    policy.finish_episode(sum(rewards), int(result.steps))
                records.append(
                    {
                        "policy": deployment_id,
                        "mission": mission.name,
                        "episode": k,
                        "seed": episode_seed,
                        "version": version,
                        "reward": float(sum(rewards)),
                        "reward_per_agent": float(np.mean(rewards)) if rewards else 0.0,
                        "agent_rewards": rewards,
                        "agent_policies": [deployment_id] * len(rewards),
                        "lineup": deployment_id,
                        "num_agents": len(rewards),
                        "steps": int(result.steps),
                        "max_steps": int(env_cfg.game.max_steps),
                        "action_timeouts": int(sum(result.action_timeouts)),
                        "wall_time_s": time.perf_counter() - started,
                    }
                )
        finally:
            policy.close()
    return records_frame(records)
