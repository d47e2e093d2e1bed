"""Parallel sweep workers open a new SQLite MLflow store, and create its experiment, at the same moment;
every one of them must get the store and the same experiment."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Imports everything first, then at each word from the test: opens the store, creates the experiment.
OPENER = """
import sys, time
from pathlib import Path
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore  # noqa: F401 - loaded before the race
from daf_core.tracking.mlflow_log import experiment_id, mlflow_client
uri, me, words = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])

def at_word(word):
    (me.parent / f"{me.name}.{word}").touch()
    while not (words / word).exists():
        time.sleep(0.005)

at_word("open")
client = mlflow_client(uri)
at_word("create")
print(experiment_id(client, uri, "raced"))
"""


def test_processes_opening_a_new_sqlite_store_together_all_get_it_and_one_experiment(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    words = tmp_path / "words"
    words.mkdir()
    names = [tmp_path / f"opener{i}" for i in range(2)]
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, uri, str(name), str(words)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    for word in ("open", "create"):  # each step starts in every process at once
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(
            Path(f"{name}.{word}").exists() or opener.poll() is not None
            for name, opener in zip(names, openers, strict=True)
        ):
            time.sleep(0.01)
        (words / word).touch()
    results = [opener.communicate(timeout=120) for opener in openers]
    assert [opener.returncode for opener in openers] == [0, 0], [err[-1500:] for _, err in results]
    ids = [out.strip().splitlines()[-1] for out, _ in results]
    assert ids[0] == ids[1] != "0"
