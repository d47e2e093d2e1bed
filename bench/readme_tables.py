"""The README's measurement tables, rendered from ``bench/results/*.json``: the README holds no figure
that no results file holds.

    .venv/bin/python bench/readme_tables.py            # rewrite the tables in README.md
    .venv/bin/python bench/readme_tables.py --check    # exit 1 if README.md differs from the files

Each table sits between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` in the README, and everything
between the markers is replaced by ``RENDERERS[NAME]`` applied to the results directory: the table, and
a caption line with the date, the machine's CPUs and load, and how many repetitions each figure is the
median of. Prose outside the markers says what the figures mean and carries no figures of its own.
``make bench`` runs this after the benchmarks; a test checks the README against the committed files.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"
MARKER = re.compile(r"(<!-- bench:(?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)", re.S)


# --------------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------------


def load(results: Path, name: str) -> dict[str, Any]:
    path = results / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no results file (run `make bench` or the script that writes it)")
    return json.loads(path.read_text())


def by_steps(results: Path, prefix: str) -> list[dict[str, Any]]:
    """The ``<prefix>_<steps>.json`` files, loaded, fewest steps first (one table row each)."""
    files = sorted(results.glob(f"{prefix}_*.json"), key=lambda p: int(p.stem.split("_")[1]))
    return [json.loads(path.read_text()) for path in files]


def median(value: Any) -> float:
    """A figure's median (a summarised figure) or the figure itself (one run)."""
    return float(value["median"]) if isinstance(value, dict) else float(value)


def fmt(value: float, digits: int | None = None) -> str:
    """Numbers as a reader wants them: 3 significant digits, thousands separated."""
    if digits is not None:
        return f"{value:,.{digits}f}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def spread(value: Any, digits: int | None = None, unit: str = "") -> str:
    """``median (min-max)`` of a summarised figure; a single run's figure as it is."""
    if not isinstance(value, dict):
        return f"{fmt(float(value), digits)}{unit}"
    mid, low, high = (fmt(float(value[k]), digits) for k in ("median", "min", "max"))
    if len(value.get("runs", [])) < 2:
        return f"{mid}{unit}"
    return f"{mid}{unit} ({low}-{high})"


def times(value: Any) -> str:
    """A ratio as ``1.23x (1.10-1.30)``, bold median."""
    if not isinstance(value, dict):
        return f"**{float(value):.2f}x**"
    if len(value.get("runs", [])) < 2:
        return f"**{float(value['median']):.2f}x**"
    low, high = float(value["min"]), float(value["max"])
    return f"**{float(value['median']):.2f}x** ({low:.2f}-{high:.2f})"


def caption(result: dict[str, Any], script: str, work: str = "") -> str:
    """Where, when and how often (and ``work``, what was measured): the line under each table.

    Files written before the repetitions convention (2026-12-03) hold one run, no date and at most the
    CPU count and the 1-minute load; the caption says so.
    """
    machine = result.get("machine") or {
        "cpu_count": result.get("cpu_count", result.get("work", {}).get("cpu_count")),
        "load_average": [x]
        if (x := result.get("load_average", result.get("work", {}).get("loadavg_1m")))
        else None,
        "date": "before 2026-12-03",
    }
    after = result.get("machine_after", {})
    load = machine.get("load_average")
    load_text = f"load {load[0]:.2f}" if load else "load not recorded"
    if after.get("load_average"):
        load_text += f" before, {after['load_average'][0]:.2f} after"
    reps = result.get("reps")
    reps_text = f"median of {reps} repetitions (min-max)" if reps and reps > 1 else "one run"
    work_text = f"; {work}" if work else ""
    return (
        f"_`{script}`, {machine.get('date', 'date not recorded')}, {machine.get('cpu_count') or '?'} CPUs, "
        f"{load_text}; {reps_text}{work_text}._"
    )


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# One renderer per README table
# --------------------------------------------------------------------------------------------------


def render_missions(results: Path) -> str:
    data = load(results, "missions")
    policies = ["random", "noop", "lstm"]
    rows = []
    for mission, by_policy in data["missions"].items():
        cells = [f"`{mission}`"]
        for policy in policies:
            figures = by_policy[policy]
            cells.append(f"{fmt(figures['mean_reward'])}, {figures['seconds_per_episode']:.2f} s")
        rows.append(cells)
    header = [
        "mission",
        "random: reward, s/episode",
        "noop: reward, s/episode",
        "untrained lstm: reward, s/episode",
    ]
    note = (
        f"{data['episodes']} episodes per policy, seeds {data['seed']}-{data['seed'] + data['episodes'] - 1}"
    )
    return f"{table(header, rows)}\n\n{caption(data, 'bench/bench_missions.py', note)}\n"


def render_learning(results: Path) -> str:
    data = load(results, "learning_collect")
    labels = {
        "trained": f"trained ({data['agent_steps']:,} agent steps, {data['train_seconds']:.1f} s)",
        "untrained": "untrained (same network before training)",
        "random": "random",
    }
    rows = [
        [labels.get(policy, policy), f"**{reward:.2f}**" if policy == "trained" else f"{reward:.2f}"]
        for policy, reward in data["mean_reward"].items()
    ]
    body = table(["policy", f"mean episode reward ({data['episodes']} episodes)"], rows)
    comparisons = "\n".join(data["comparisons"])
    return f"{body}\n\n```text\n{comparisons}\n```\n\n{caption(data, 'bench/learning_check.py')}\n"


def render_server(results: Path) -> str:
    data = load(results, "server")
    paths = {
        "in process, the server's own code (batched forward + sampling, no HTTP)": data["in_process"][
            "server_code_batched"
        ],
        "in process, mettagrid's per-agent `step` (what `cogames.evaluate` does)": data["in_process"][
            "mettagrid_per_agent"
        ],
    }
    for clients in data["work"]["clients"]:
        label = "1 client" if clients == 1 else f"{clients} concurrent clients"
        paths[f"server, {label}"] = data[f"server_{clients}_clients"]
    rows = [
        [
            name,
            spread(f["p50_ms"], unit=" ms"),
            spread(f["p99_ms"], unit=" ms"),
            spread(f["requests_per_s"], 0),
        ]
        for name, f in paths.items()
    ]
    note = f"{data['work']['requests']} timed requests per load per repetition"
    header = ["path", "p50", "p99", "requests/s"]
    return f"{table(header, rows)}\n\n{caption(data, 'bench/bench_server.py', note)}\n"


def render_dagster(results: Path) -> str:
    rows, captions = [], []
    for data in by_steps(results, "dagster"):
        if "work" in data:
            steps = data["work"]["training_steps"]
            direct, dagster = data["direct"]["seconds"], data["dagster"]["seconds"]
            ratio = data["ratio_dagster_vs_direct"]
        else:  # one run, before the repetitions convention
            steps, direct, dagster, ratio = (
                data[k] for k in ("training_steps", "direct_s", "dagster_s", "ratio")
            )
        outside = data.get("overhead_outside_training_s")
        rows.append(
            [
                f"{steps:,}",
                spread(direct, 1, " s"),
                spread(dagster, 1, " s"),
                spread(data["overhead_s"], 1, " s"),
                "not measured" if outside is None else spread(outside, 1, " s"),
                times(ratio).replace("x", ""),
            ]
        )
        captions.append(caption(data, f"bench/bench_dagster.py --steps {steps}"))
    header = [
        "training steps",
        "direct",
        "`dagster job execute`",
        "overhead",
        "overhead outside the training loop",
        "ratio",
    ]
    return f"{table(header, rows)}\n\n" + "\n".join(captions) + "\n"


def render_sweeps_postgres(results: Path) -> str:
    data = load(results, "sweeps_postgres")
    rows = [
        [
            name,
            spread(data[key]["seconds"], 1, " s"),
            spread(data[key]["trials_per_minute"], 1),
            spread(data[key]["duplicates"], 0),
            spread(data[key]["workers_that_ran_trials"], 0),
        ]
        for key, name in (("sqlite", "SQLite"), ("postgres", "PostgreSQL"))
    ]
    work = data["work"]
    header = ["study storage", "wall time", "trials/min", "duplicated trials", "workers that ran trials"]
    note = (
        f"{work['workers']} workers, {work['trials']} trials of {work['training_steps']:,} steps and "
        f"{work['episodes_per_trial']} episodes; PostgreSQL / SQLite rate "
        f"{times(data.get('ratio_postgres_vs_sqlite', data.get('postgres_rate_vs_sqlite')))}"
    )
    return f"{table(header, rows)}\n\n{caption(data, 'bench/bench_sweeps_postgres.py', note)}\n"


def render_imports(results: Path) -> str:
    data = load(results, "imports")
    labels = {
        "dagster": "`import dagster`",
        "definitions": "`import daf_dagster.definitions` (every asset, job, sensor and schedule)",
        "torch": "`import torch` (kept out of the definitions)",
        "cogames_train": "`import cogames.train` (kept out of the definitions)",
    }
    rows = [[label, spread(data[name]["seconds"], 2, " s")] for name, label in labels.items()]
    pulled = [name for name, loaded in data["definitions_pull_in"].items() if loaded]
    note = "the definitions' import loaded " + (
        " and ".join(pulled) if pulled else "neither torch nor cogames"
    )
    header = ["import, fresh interpreter", "seconds"]
    return f"{table(header, rows)}\n\n{caption(data, 'bench/bench_imports.py', note)}\n"


def render_evaluation(results: Path) -> str:
    data = load(results, "evaluation")
    work = data["work"]
    workers = work["workers"]
    rows = []
    for mission, arms in data["missions"].items():
        rows.append(
            [
                f"`{mission}`",
                spread(arms["cogames_evaluate"]["episodes_per_s"], unit=" ep/s"),
                spread(arms["daf_1_worker"]["episodes_per_s"], unit=" ep/s"),
                spread(arms[f"daf_{workers}_workers"]["episodes_per_s"], unit=" ep/s"),
                times(arms["ratio_daf_1_worker_vs_cogames"]),
                times(arms[f"ratio_daf_{workers}_workers_vs_cogames"]),
            ]
        )
    header = [
        "mission",
        "`cogames.evaluate`",
        "DAF, 1 worker",
        f"DAF, {workers} workers",
        "DAF 1 worker / cogames",
        f"DAF {workers} workers / cogames",
    ]
    note = f"{', '.join(work['policies'])} x {work['episodes']} episodes each, seeds from {work['seed']}"
    return f"{table(header, rows)}\n\n{caption(data, 'bench/bench_evaluation.py', note)}\n"


def render_training(results: Path) -> str:
    rows, captions = [], []
    for data in by_steps(results, "training"):
        steps = data["work"]["steps"]
        ranks = median(data["daf_all_cores"].get("workers", data["machine"]["cpu_count"]))
        rows.append(
            [
                f"{steps:,}",
                spread(data["cogames_train"]["sps"], 0),
                spread(data["daf_1_worker"]["sps"], 0),
                spread(data["daf_all_cores"]["sps"], 0),
                times(data["ratio_daf_1_worker_vs_cogames_train"]),
                times(data["ratio_daf_all_cores_vs_cogames_train"]),
                f"{spread(data['daf_1_worker']['outside_loop_seconds'], 1, ' s')} / "
                f"{spread(data['daf_all_cores']['outside_loop_seconds'], 1, ' s')}",
            ]
        )
        note = f"{ranks:.0f} gloo ranks on all cores"
        captions.append(caption(data, f"bench/bench_training.py --steps {steps}", note))
    header = [
        "agent steps",
        "`cogames.train` SPS",
        "DAF, 1 worker SPS",
        "DAF, all cores SPS",
        "DAF 1 worker / cogames",
        "DAF all cores / cogames",
        "DAF outside the training loop (1 worker / all cores)",
    ]
    return f"{table(header, rows)}\n\n" + "\n".join(captions) + "\n"


def render_sweep_workers(results: Path) -> str:
    files = sorted(results.glob("sweeps_workers_*.json"))
    rows, captions = [], []
    for path in files:
        data = json.loads(path.read_text())
        work = data["work"]
        parallel = f"sweep_{work['workers']}_workers"
        rows.append(
            [
                f"{work['trials']} x {work['steps']:,} steps",
                spread(data["sweep_1_worker"]["seconds"], 1, " s"),
                spread(data[parallel]["seconds"], 1, " s"),
                times(data[f"ratio_{parallel}_vs_sweep_1_worker"]),
            ]
        )
        note = f"random search on `{work['mission']}`, {work['episodes']} evaluation episodes per trial"
        captions.append(
            caption(data, f"bench/bench_sweeps.py --workers-only --trials {work['trials']}", note)
        )
    header = ["trials", "1 worker", "2 workers", "speed-up"]
    return f"{table(header, rows)}\n\n" + "\n".join(captions) + "\n"


def render_sweep_strategies(results: Path) -> str:
    data = load(results, "sweeps_8")
    work = data["work"]
    trials = work["trials"]
    shown = [i for i in (1, 2, 4, 8, 16) if i <= trials]
    rows = []
    for strategy, label in (("grid", "grid"), ("random", "random"), ("bayesian", "bayesian (TPE)")):
        best = data[strategy]["best_after_each_trial"]
        rows.append(
            [
                label,
                str(len(best)),
                ", ".join(fmt(best[i - 1]) for i in shown if i <= len(best)),
                spread(data[strategy]["seconds"], 1, " s"),
            ]
        )
    header = ["strategy", "trials", f"best after trial {', '.join(map(str, shown))}", "wall time"]
    episodes = work.get("episodes", work.get("episodes_per_trial"))
    note = f"`{work['mission']}`, {work['steps']:,} training steps and {episodes} episodes per trial"
    return f"{table(header, rows)}\n\n{caption(data, 'bench/bench_sweeps.py --trials 8', note)}\n"


def render_profile(results: Path) -> str:
    data = load(results, "profile")
    work = data["work"]
    rows = []
    for name, label in (
        ("training", f"training, {work['steps']:,} steps, 1 worker"),
        ("evaluation", f"evaluation, random+noop+lstm x {work['episodes']}, 1 worker"),
    ):
        rows.append([f"**{label}**", f"{data[name]['seconds']:.1f} s", "100%"])
        rows += [
            [phase, f"{figures['seconds']:.2f} s", f"{figures['share']:.0%}"]
            for phase, figures in data[name]["phases"].items()
        ]
    note = f"`{work['mission']}`; the profiles' text is in `bench/results/profiles/`"
    return f"{table(['phase', 'time', 'share'], rows)}\n\n{caption(data, 'bench/profile_phases.py', note)}\n"


def render_sequential(results: Path) -> str:
    data = load(results, "sequential")
    work, fixed = data["work"], data["fixed_equal_power"]
    labels = {"clear": "clear", "close": "close (planned)", "null": "none"}
    rows = []
    for name, label in labels.items():
        s = data["scenarios"][name]
        seq = s["sequential"]
        decided = seq["better"] + seq["worse"]
        rows.append(
            [
                f"{label}: {s['effect_sd']:g} SD",
                f"{100 * decided:.1f}%",
                f"{seq['episodes_mean']:.1f} (max {seq['episodes_max']})",
                f"{s['fixed_n']} ({100 * s['fixed_power']:.1f}%)",
                f"**{100 * s['fewer_episodes']:.0f}%**",
                f"{100 * (1 - seq['episodes_mean'] / work['max_episodes']):.0f}% "
                f"({100 * s['fixed_at_max_power']:.1f}%)",
            ]
        )
    header = [
        "true difference",
        "sequential: decided different",
        "sequential: episodes, mean",
        "fixed n of equal power (its rate)",
        "fewer episodes",
        f"fewer than fixed n = {work['max_episodes']} (its rate)",
    ]
    note = (
        f"{work['simulations']:,} simulated paired comparisons per row, looks every {work['round_episodes']} "
        f"up to {work['max_episodes']}, O'Brien-Fleming-type spending at {work['alpha']:g}; fixed n = "
        f"{fixed['n']}: the smallest paired t design with the sequential power at the planned difference"
    )
    real = data.get("real")
    if real:
        note += (
            f"; real episodes, {' vs '.join(real['policies'])} on {real['mission']}: "
            f"{real['decision']} after {real['episodes_used']} of {real['max_episodes']} episodes "
            f"({real['sequential_seconds']:.1f} s against {real['fixed_seconds']:.1f} s fixed)"
        )
    return f"{table(header, rows)}\n\n{caption(data, 'bench/bench_sequential.py', note)}\n"


RENDERERS: dict[str, Callable[[Path], str]] = {
    "profile": render_profile,
    "training": render_training,
    "sweep_workers": render_sweep_workers,
    "sweep_strategies": render_sweep_strategies,
    "evaluation": render_evaluation,
    "imports": render_imports,
    "missions": render_missions,
    "learning": render_learning,
    "server": render_server,
    "dagster": render_dagster,
    "sweeps_postgres": render_sweeps_postgres,
    "sequential": render_sequential,
}


# --------------------------------------------------------------------------------------------------
# The README
# --------------------------------------------------------------------------------------------------


def rendered(text: str, results: Path = RESULTS) -> str:
    """``text`` with every marked table replaced by its rendering; an unknown marker is an error."""
    found = [match.group("name") for match in MARKER.finditer(text)]
    unknown = sorted(set(found) - set(RENDERERS))
    if unknown:
        raise KeyError(f"README markers without a renderer: {unknown}; known: {sorted(RENDERERS)}")
    return MARKER.sub(lambda m: m.group(1) + RENDERERS[m.group("name")](results) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README differs; change nothing")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    new = rendered(text, args.results)
    if args.check:
        if new != text:
            print(f"{args.readme}: measurement tables differ from {args.results}", file=sys.stderr)
            return 1
        return 0
    if new != text:
        args.readme.write_text(new)
        print(f"rewrote the measurement tables of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
