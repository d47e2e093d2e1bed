"""A real ``daf serve`` in a subprocess on a loopback port, for tests (the server's and the clients').

``start_server(tmp_path)`` creates an admin and an act token with ``daf token create`` (as an operator
would), starts ``daf serve --port 0`` in its own process group, reads the port uvicorn chose from its log
and waits for ``/health``. ``restart()`` stops it and starts it again on the same port, store and flags;
``stop()`` ends the process group. Tiny validation settings keep uploads fast (override with
``extra_args``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

#: Validation of every upload in tests: one short episode of the smallest mission. The action budget is
#: far wider than the tournament's 250 ms: on a loaded 2-core test machine the first actions of a fresh
#: validating interpreter were seen to take 1.7-2.9 s (p50 0.7 ms), and the budget is not what the
#: server's tests check (the validation's own tests do).
FAST_VALIDATION = (
    "--validation-mission", "tiny_walk",
    "--validation-episodes", "1",
    "--validation-max-steps", "20",
    "--max-action-ms", "30000",
)  # fmt: skip
_LISTENING = re.compile(r"Uvicorn running on http://([\d.]+):(\d+)")


def daf_command() -> list[str]:
    """The installed ``daf`` console script beside this interpreter, else ``python -m daf_core.cli``."""
    script = Path(sys.executable).with_name("daf")
    return [str(script)] if script.exists() else [sys.executable, "-m", "daf_core.cli"]


def server_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "METTAGRID_LOG_LEVEL": "WARNING"}


def daf(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``daf ARGS`` and return the finished process (stdout/stderr as text)."""
    return subprocess.run(
        [*daf_command(), *args], capture_output=True, text=True, timeout=timeout, env=server_env()
    )


def create_token(store_args: list[str], name: str, *scopes: str) -> str:
    scope_args = [arg for scope in scopes for arg in ("--scope", scope)]
    done = daf("token", "create", "--name", name, *scope_args, *store_args)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@dataclass
class RunningServer:
    store_dir: Path
    database_url: str | None
    extra_args: tuple[str, ...]
    admin_token: str
    act_token: str
    log_path: Path
    url: str = ""
    port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def store_args(self) -> list[str]:
        """The flags naming this server's store, for ``daf token ...``."""
        args = ["--store-dir", str(self.store_dir)]
        return [*args, "--database-url", self.database_url] if self.database_url else args

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    def client(self, token: str | None = None, timeout: float = 120) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(token), timeout=timeout)

    def upload(
        self, policy_name: str, bundle: Path | bytes, *, version: str | None = None, token: str | None = None
    ) -> httpx.Response:
        """POST a bundle (a path or the zip's bytes) as a new version of ``policy_name``."""
        body = bundle.read_bytes() if isinstance(bundle, Path) else bundle
        params = {"version": version} if version else {}
        with self.client(token) as client:
            return client.post(
                f"/v1/policies/{policy_name}/versions",
                params=params,
                content=body,
                headers={"Content-Type": "application/zip"},
            )

    def upload_ok(self, policy_name: str, bundle: Path | bytes, **kwargs: str | None) -> dict:
        """:meth:`upload`, which must succeed (201); the new version's JSON, or the server's reason."""
        response = self.upload(policy_name, bundle, **kwargs)
        assert response.status_code == 201, f"upload of {policy_name}: {response.status_code} {response.text}"
        return response.json()

    def start(self, ready_timeout: float = 120) -> None:
        command = [*daf_command(), "serve", *self.store_args, "--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [*command, *self.extra_args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=server_env(),
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"daf serve exited with {self.process.returncode}:\n{self.log_path.read_text()}"
                )
            found = _LISTENING.findall(self.log_path.read_text())
            if found:
                host, port = found[-1]
                self.port, self.url = int(port), f"http://{host}:{port}"
                try:
                    if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"daf serve was not ready in {ready_timeout} s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """SIGTERM to the process group (uvicorn shuts down gracefully), SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """Stop, then start again on the same port with the same store and flags."""
        self.stop()
        self.start()


def start_server(
    tmp_path: Path, *, database_url: str | None = None, extra_args: tuple[str, ...] | list[str] = ()
) -> RunningServer:
    """A started ``daf serve`` with its store under ``tmp_path/store``, and an admin and an act token."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    store_dir = tmp_path / "store"
    store_args = ["--store-dir", str(store_dir)]
    if database_url:
        store_args += ["--database-url", database_url]
    server = RunningServer(
        store_dir=store_dir,
        database_url=database_url,
        extra_args=(*FAST_VALIDATION, *extra_args),
        admin_token=create_token(store_args, "admin", "admin"),
        act_token=create_token(store_args, "player", "act"),
        log_path=tmp_path / "server.log",
    )
    server.start()
    return server
