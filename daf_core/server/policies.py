"""Build a stored bundle's policy inside the server, without running anything the bundle ships.

A bundle names a class in ``policy_spec.json``; the server builds it only if the class is on its allowlist
(full class paths of code installed with the server, or those classes' shorthands such as ``lstm``). The
bundle is never put on ``sys.path`` and its ``setup_script`` is refused, so the only things taken from it
are data: the spec's JSON, the policy-environment interface and the weights, read with
``torch.load(weights_only=True)`` straight out of the zip into the class's network.

Playing: a :class:`Player` holds one session's recurrent state per agent. For a network that follows
PufferLib's ``forward_eval(obs, state)`` convention (mettagrid's ``lstm``, ``stateless``) all agents of a
request go through the network in one batch, exactly as ``daf_core.evaluation.batched_rollout`` drives it:
unused token slots read ``[255, 0, 0]``, LSTM state rows ``(agents, layers, hidden)`` start at zero, actions
are drawn from the softmax of the logits by a generator seeded per session. So a session with seed ``s``
plays the actions the in-process batched rollout plays for episode seed ``s``. Other policies (``random``,
``noop``) get one ``agent_policy`` per agent, stepped with mettagrid's ``AgentObservation``.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from daf_core._internal.process_state import import_preserving_process_state

if TYPE_CHECKING:
    from mettagrid.policy.policy import MultiAgentPolicy
    from mettagrid.policy.policy_env_interface import PolicyEnvInterface

logger = logging.getLogger(__name__)

POLICY_SPEC_FILE = "policy_spec.json"
#: Loaded versions kept in memory; sessions hold their own reference, so eviction never breaks one.
LOADED_VERSIONS_KEPT = 8

_EMPTY = 255


class PolicyLoadError(ValueError):
    """The bundle's policy cannot be built here; the message says which rule or file (400 on upload)."""


def _mettagrid(module: str) -> Any:
    """mettagrid modules go through DAF's guard: importing mettagrid reconfigures the root logger."""
    return import_preserving_process_state(module)


@functools.lru_cache(maxsize=16)
def allowed_classes(allowed_class_paths: tuple[str, ...]) -> dict[str, str]:
    """Every name a bundle may use for an allowed class (its full path and its shorthands) -> full path.

    Imports the allowed classes (code installed with the server, never a bundle's). Call it once at
    start-up from the main thread: some policy modules' imports install signal handlers, which only the
    main thread may do, and the guard restores.
    """
    multi_agent_policy = _mettagrid("mettagrid.policy.policy").MultiAgentPolicy
    names: dict[str, str] = {}
    for class_path in allowed_class_paths:
        module_name, _, class_name = class_path.rpartition(".")
        try:
            cls = getattr(import_preserving_process_state(module_name), class_name)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"allowed_class_paths: {class_path!r} cannot be imported ({err})") from err
        if not (isinstance(cls, type) and issubclass(cls, multi_agent_policy)):
            raise ValueError(f"allowed_class_paths: {class_path!r} is not a mettagrid MultiAgentPolicy")
        names[class_path] = class_path
        for short in getattr(cls, "short_names", None) or []:
            names.setdefault(short, class_path)
    return names


def read_policy_spec(bundle: Path) -> dict[str, Any]:
    """``policy_spec.json`` of a bundle, as JSON."""
    with zipfile.ZipFile(bundle) as archive:
        try:
            raw = archive.read(POLICY_SPEC_FILE)
        except KeyError:
            raise PolicyLoadError(f"{POLICY_SPEC_FILE}: missing from the bundle") from None
    try:
        spec = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PolicyLoadError(f"{POLICY_SPEC_FILE}: not valid JSON ({err})") from None
    if not isinstance(spec, dict):
        raise PolicyLoadError(f"{POLICY_SPEC_FILE}: expected a JSON object, got {type(spec).__name__}")
    return spec


def allowed_class_path(spec: dict[str, Any], allowed_class_paths: tuple[str, ...]) -> str:
    """The full allowed class path the spec names; PolicyLoadError if it names anything else."""
    class_path = spec.get("class_path")
    if spec.get("setup_script"):
        raise PolicyLoadError(
            f"{POLICY_SPEC_FILE}: setup_script {spec['setup_script']!r} is code from the bundle, "
            "which this server never runs"
        )
    names = allowed_classes(allowed_class_paths)
    if not isinstance(class_path, str) or class_path not in names:
        raise PolicyLoadError(
            f"{POLICY_SPEC_FILE}: class_path {class_path!r} is not allowed on this server "
            f"(allowed: {', '.join(allowed_class_paths)})"
        )
    return names[class_path]


@dataclass
class LoadedPolicy:
    """A version's policy, built and holding its weights; shared by every session of that version."""

    class_path: str
    policy: MultiAgentPolicy
    env_interface: PolicyEnvInterface
    network: Any | None
    recurrent: bool

    def new_player(self, seed: int) -> Player:
        return Player(self, seed)


def _weights_member(data_path: Any, names: set[str]) -> str:
    """The zip entry ``data_path`` names; never a path outside the bundle."""
    if not isinstance(data_path, str) or not data_path:
        raise PolicyLoadError(
            f"{POLICY_SPEC_FILE}: data_path must be a file name in the bundle, got {data_path!r}"
        )
    path = PurePosixPath(data_path)
    if path.is_absolute() or ".." in path.parts:
        raise PolicyLoadError(f"{POLICY_SPEC_FILE}: data_path {data_path!r} points outside the bundle")
    member = "/".join(part for part in path.parts if part != ".")
    if member not in names:
        raise PolicyLoadError(f"{POLICY_SPEC_FILE}: data_path {data_path!r} is not a file in the bundle")
    return member


def load_policy(bundle: Path, allowed_class_paths: tuple[str, ...]) -> LoadedPolicy:
    """Build the bundle's policy: allowed class, the spec's interface and init kwargs, its weights."""
    import torch  # noqa: PLC0415 - only a server that loads a policy needs torch

    spec = read_policy_spec(bundle)
    class_path = allowed_class_path(spec, allowed_class_paths)
    interface_cls = _mettagrid("mettagrid.policy.policy_env_interface").PolicyEnvInterface
    if spec.get("policy_env_interface") is None:
        raise PolicyLoadError(
            f"{POLICY_SPEC_FILE}: no policy_env_interface; package the bundle with the mission it plays"
        )
    try:
        env_interface = interface_cls.model_validate(spec["policy_env_interface"])
    except ValueError as err:
        raise PolicyLoadError(f"{POLICY_SPEC_FILE}: policy_env_interface is not valid ({err})") from None
    init_kwargs = spec.get("init_kwargs") or {}
    if not isinstance(init_kwargs, dict):
        raise PolicyLoadError(f"{POLICY_SPEC_FILE}: init_kwargs must be an object, got {init_kwargs!r}")
    if "device" in init_kwargs:
        init_kwargs = {**init_kwargs, "device": "cpu"}  # the server's device, whatever training used
    module_name, _, class_name = class_path.rpartition(".")
    cls = getattr(import_preserving_process_state(module_name), class_name)
    try:
        policy = cls(env_interface, **init_kwargs)
    except (TypeError, ValueError) as err:
        raise PolicyLoadError(f"{class_path} cannot be built from this bundle's spec ({err})") from None
    network = policy.network()
    if spec.get("data_path") is not None:
        if network is None:
            raise PolicyLoadError(f"{class_path} has no network to load the bundle's weights into")
        with zipfile.ZipFile(bundle) as archive:
            member = _weights_member(spec["data_path"], set(archive.namelist()))
            raw = archive.read(member)
        try:
            state_dict = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
            network.load_state_dict(state_dict)
        except Exception as err:  # noqa: BLE001 - unpickling refusals and shape mismatches have many types
            raise PolicyLoadError(
                f"{member}: weights cannot be loaded with torch.load(weights_only=True) into {class_path} "
                f"({type(err).__name__}: {str(err)[:300]})"
            ) from None
    batchable = network if network is not None and hasattr(network, "forward_eval") else None
    if batchable is not None:
        batchable.eval()
    recurrent = bool(getattr(policy, "is_recurrent", lambda: False)())
    return LoadedPolicy(class_path, policy, env_interface, batchable, recurrent)


class PolicyCache:
    """Loaded versions by (policy, version), least recently used evicted past ``LOADED_VERSIONS_KEPT``."""

    def __init__(self, allowed_class_paths: tuple[str, ...]):
        self._allowed = allowed_class_paths
        self._loaded: OrderedDict[tuple[str, str], LoadedPolicy] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, policy_name: str, version: str, bundle: Path) -> LoadedPolicy:
        key = (policy_name, version)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        loaded = load_policy(bundle, self._allowed)  # outside the lock: loading takes milliseconds to seconds
        with self._lock:
            loaded = self._loaded.setdefault(key, loaded)
            self._loaded.move_to_end(key)
            while len(self._loaded) > LOADED_VERSIONS_KEPT:
                self._loaded.popitem(last=False)
        return loaded


class Player:
    """One session's play: per-agent recurrent state and the session's sampling generator."""

    def __init__(self, loaded: LoadedPolicy, seed: int):
        self.loaded = loaded
        self.seed = seed
        interface = loaded.env_interface
        self.num_agents = interface.num_agents
        self.observation_shape = tuple(interface.observation_shape)
        self._action_index = {name: i for i, name in enumerate(interface.all_action_names)}
        self._features = {feature.id: feature for feature in interface.obs_features}
        self._agents: dict[int, Any] = {}
        self._generator = None
        self._state: dict[str, Any] | None = None
        if loaded.network is not None:
            import torch  # noqa: PLC0415

            self._generator = torch.Generator().manual_seed(seed)
            self._state = self._zero_state()

    def _zero_state(self) -> dict[str, Any] | None:
        """Zero LSTM state for every agent, in the batched rollout's layout; None for feed-forward nets."""
        from daf_core.evaluation.batched_rollout import zero_recurrent_state  # noqa: PLC0415 - mettagrid

        if not self.loaded.recurrent:
            return None
        return zero_recurrent_state(self.loaded.network, self.num_agents)

    def reset(self) -> None:
        """A new episode: every agent's recurrent state starts over."""
        self._agents.clear()
        if self.loaded.network is not None:
            self._state = self._zero_state()

    def act(self, observations: np.ndarray, agent_ids: list[int]) -> list[int]:
        """Actions (indices into the interface's action names) for ``observations[i]`` of ``agent_ids[i]``."""
        if self.loaded.network is not None:
            return self._act_network(observations, agent_ids)
        return self._act_agents(observations, agent_ids)

    def _act_network(self, observations: np.ndarray, agent_ids: list[int]) -> list[int]:
        import torch  # noqa: PLC0415

        observations = observations.copy()
        observations[(observations == _EMPTY).all(axis=-1)] = (_EMPTY, 0, 0)
        rows = torch.tensor(agent_ids, dtype=torch.long)
        step_state = None if self._state is None else {key: value[rows] for key, value in self._state.items()}
        with torch.no_grad():
            logits, _ = self.loaded.network.forward_eval(torch.from_numpy(observations), step_state)
            if self._state is not None and step_state is not None:
                for key in self._state:
                    self._state[key][rows] = step_state[key].reshape(self._state[key][rows].shape)
            probabilities = torch.softmax(logits.float(), dim=-1)
            actions = torch.multinomial(probabilities, 1, generator=self._generator).squeeze(1)
        return [int(a) for a in actions.tolist()]

    def _act_agents(self, observations: np.ndarray, agent_ids: list[int]) -> list[int]:
        simulator = _mettagrid("mettagrid.simulator")
        actions = []
        for agent_id, rows in zip(agent_ids, observations, strict=True):
            tokens = []
            for raw in rows:
                if raw[1] == _EMPTY:
                    break
                feature = self._features.get(int(raw[1]))
                if feature is None:
                    raise ValueError(
                        f"observations: agent {agent_id} has a token of unknown feature id {raw[1]}"
                    )
                tokens.append(
                    simulator.ObservationToken(feature=feature, value=int(raw[2]), raw_token=tuple(raw))
                )
            agent = self._agents.get(agent_id)
            if agent is None:
                agent = self._agents[agent_id] = self.loaded.policy.agent_policy(agent_id)
            action = agent.step(simulator.AgentObservation(agent_id=agent_id, tokens=tokens))
            actions.append(self._action_index[action.name])
        return actions
