"""The comparison report as HTML: what it states, that it is self-contained, escaped and written atomically.

The page is parsed (the standard library's HTMLParser) and checked against the report's own numbers: a
real comparison on tiny_walk (three policies, four episodes each) and hand-made reports for the cases a
real run rarely gives (names with markup, one policy, no episodes, an aggregate that changes the order).
What a browser makes of it (sorting, tooltips, a phone's width) is tests/visualization/test_browser.py.
"""

from __future__ import annotations

import base64
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from daf_core.comparison import ComparisonReport
from daf_core.comparison import formatting as fmt
from daf_core.config import DAFComparisonConfig, DAFSweepConfig
from daf_core.orchestrators import daf_compare_from_config
from daf_core.sweeps import SweepResult, SweepTrialResult
from daf_core.visualization import comparison_plots, sweep_plots, training_curves
from daf_core.visualization.html_report import daf_export_comparison_html
from daf_core.visualization.html_sweep_report import daf_export_sweep_html
from daf_core.visualization.html_training_report import daf_export_training_html
from daf_core.visualization.leaderboard import leaderboard_rows
from tests.visualization.comparison_outputs import (
    EPISODES,
    MISSION,
    NAME,
    POLICIES,
    SEED,
    comparison_dir,
    tiny_walk_comparison,
    tiny_walk_page,
)

SEEDS = range(6)


class Page(HTMLParser):
    """Every element's attributes, the text, every <script>'s content and every table's cells by section."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self.tables: dict[str, list[list[list[str]]]] = {}
        self._section = ""
        self._cell: list[str] | None = None
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if tag == "section":
            self._section = attributes.get("id") or ""
        elif tag == "table":
            self.tables.setdefault(self._section, []).append([])
        elif tag == "tr":
            self.tables[self._section][-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._section][-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())

    def table(self, section: str, index: int = 0) -> list[dict[str, str]]:
        """One table of a section as rows keyed by header (the header's text, without its sort arrow)."""
        header, *rows = self.tables[section][index]
        return [dict(zip(header, row, strict=True)) for row in rows]

    def with_attribute(self, name: str) -> list[tuple[str, str]]:
        return [(tag, a[name]) for tag, a in self.elements if a.get(name) is not None]


def seeded(values):
    return dict(zip(SEEDS, values, strict=True))


def hand_made(name="hand made", **policies) -> ComparisonReport:
    report = ComparisonReport(name)
    for policy, missions in policies.items():
        report.add_policy_results(policy, {m: seeded(v) for m, v in missions.items()})
    return report


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The real comparison, its HTML written beside report.json and the records, and the parsed page."""
    report, path = tiny_walk_page(tmp_path_factory.getbasetemp())
    return report, path, Page(path.read_text())


# ---------------------------------------------------------------------------------------------------
# A real comparison
# ---------------------------------------------------------------------------------------------------


def test_the_design_is_stated(real):
    report, _, page = real
    text = page.all_text()
    specs = report.metadata["policy_specs"]
    policies = {row["Policy"]: row for row in page.table("design", 0)}
    assert set(policies) == set(POLICIES)
    for policy in POLICIES:
        assert policies[policy]["Class path"] == specs[policy]["class_path"]
        assert policies[policy]["Fingerprint"] == specs[policy]["fingerprint"]
        assert policies[policy]["Checkpoint"] == "none (no weights)"  # no policy here loads weights
    [mission] = page.table("design", 1)
    assert mission["Mission"] == MISSION
    assert mission["Fingerprint"] == report.metadata["mission_fingerprints"][MISSION]
    assert mission["Episodes per policy"] == str(EPISODES)
    assert mission["Seeds"].startswith(f"{SEED}–{SEED + EPISODES - 1}")
    for package, version in report.metadata["versions"].items():
        assert f"{package} version {version}" in text
    assert f"{EPISODES} per policy and mission" in text
    assert "0.05 (Holm-Bonferroni over all comparisons)" in text


def test_the_leaderboard_shows_every_policy_with_its_intervals(real):
    report, _, page = real
    rows = page.table("leaderboard")
    summary = report.summary_statistics
    assert [row["Policy"] for row in rows] == sorted(POLICIES, key=lambda p: -summary[p][MISSION]["iqm"])
    for row in rows:
        stats = summary[row["Policy"]][MISSION]
        assert row["IQM"] == fmt.number(stats["iqm"])
        assert row["IQM 95% CI"] == fmt.interval(stats["iqm_ci_low"], stats["iqm_ci_high"])
        assert row["Mean"] == fmt.number(stats["mean"])
        assert row["Mean 95% CI"] == fmt.interval(stats["ci_low"], stats["ci_high"])
    ties = {r.policy: r.tie for r in leaderboard_rows(report, "iqm")}
    assert {row["Policy"]: row["vs leader"] or "behind" for row in rows} == ties
    tied = [p for p, tie in ties.items() if tie == "tied"]
    if tied:
        assert f"Not separated from it by the intervals: {', '.join(tied)}." in page.all_text()


def test_each_mission_has_its_summary_and_every_comparison_with_raw_and_holm_p(real):
    report, _, page = real
    summary_rows = {row["Policy"]: row for row in page.table("missions", 0)}
    assert set(summary_rows) == set(POLICIES)
    for policy, row in summary_rows.items():
        stats = report.summary_statistics[policy][MISSION]
        assert row["95% CI (t)"] == fmt.interval(stats["ci_low"], stats["ci_high"])
        assert row["n"] == str(EPISODES)

    shown = {(row["a"], row["b"]): row for row in page.table("missions", 1)}
    assert len(shown) == len(report.comparisons) == 3
    for c in report.comparisons:
        row = shown[(c.policy_a_name, c.policy_b_name)]
        assert row["p"] == fmt.p_value(c.p_value)
        assert row["Holm p"] == fmt.p_value(c.p_value_adjusted)
        assert row["Effect"] == fmt.number(c.effect_size)
        assert row["Effect 95% CI"] == fmt.interval(c.effect_size_ci_low, c.effect_size_ci_high)
        assert row["Effect size"] == fmt.EFFECT_LABELS[c.effect_size_name]
        assert row["Rank test p"] == fmt.p_value(c.p_value_nonparametric)
        assert row["Verdict"] == (f"{c.better_policy} better" if c.is_significant else "n.s.")
    # Holm's correction is visible: at least one adjusted p-value differs from its raw one.
    assert any(row["p"] != row["Holm p"] for row in shown.values())


def test_every_figure_is_embedded_as_svg(real):
    report, _, page = real
    expected = list(comparison_plots.comparison_figures(report))
    figures = [a["data-figure"] for tag, a in page.elements if tag == "figure" and "data-figure" in a]
    assert figures == expected and figures
    images = [a["src"] for tag, a in page.elements if tag == "img"]
    assert len(images) == len(expected)
    for src in images:
        head, data = src.split(",", 1)
        assert head == "data:image/svg+xml;base64"
        assert b"<svg" in base64.b64decode(data)[:2000]


def test_the_chart_carries_each_points_value_and_interval(real):
    report, _, page = real
    tips = [tip for _, tip in page.with_attribute("data-tip")]
    assert len(tips) == len(POLICIES)  # one mission: one point per policy
    for policy in POLICIES:
        stats = report.summary_statistics[policy][MISSION]
        [tip] = [t for t in tips if t.startswith(f"{policy} on {MISSION}")]
        assert (
            f"mean {fmt.number(stats['mean'])}, 95% CI {fmt.interval(stats['ci_low'], stats['ci_high'])}"
            in tip
        )


def test_degenerate_cases_are_noted(real):
    report, _, page = real
    notes = page.all_text().split("Notes", 1)[1]
    noop = report.summary_statistics["noop"][MISSION]["note"]
    assert noop.startswith("zero variance") and f"noop on {MISSION}: {noop}" in notes


def test_the_raw_episodes_beside_it_are_linked(real):
    _, path, page = real
    links = [href for _, href in page.with_attribute("href") if not href.startswith("#")]
    assert links == ["episodes.parquet", "episodes.csv", "report.json"]
    assert all((path.parent / link).is_file() for link in links)


def test_nothing_is_fetched_from_anywhere(real):
    _, path, page = real
    text = path.read_text()
    for _, value in page.with_attribute("src") + page.with_attribute("href"):
        assert not value.startswith(("http:", "https:", "//", "file:")), value
    assert "http://" not in text and "https://" not in text
    assert [tag for tag, _ in page.elements].count("script") == 1
    assert all("src" not in a for tag, a in page.elements if tag == "script")  # the one script is inline
    assert "sortable" in page.scripts[0]
    assert not any(tag == "link" for tag, _ in page.elements)  # no external style sheet or font
    assert "@import" not in text and "url(" not in text
    [policy] = [a["content"] for tag, a in page.elements if a.get("http-equiv") == "Content-Security-Policy"]
    assert policy.startswith("default-src 'none'")


# ---------------------------------------------------------------------------------------------------
# Hand-made reports: names, settings and bad input
# ---------------------------------------------------------------------------------------------------


# Names from users may hold markup: the pages below must show them as text, never as elements.
SPIKY = '<script>alert("spiky")</script>'
STEADY = 'steady & "<b>co</b>"'
MISSIONS = ("m1 <i>", "m2")


@pytest.fixture(scope="module")
def two_missions(tmp_path_factory):
    """A report whose mean and IQM disagree, on two missions, as pages ranked by each (no raw files)."""
    spiky, steady = [1, 1, 1, 1, 1, 60], [3, 3.5, 4, 3, 3.5, 4]
    report = hand_made(
        "<b>report</b>", **{SPIKY: dict.fromkeys(MISSIONS, spiky), STEADY: dict.fromkeys(MISSIONS, steady)}
    )
    folder = tmp_path_factory.mktemp("two_missions")
    texts = {
        aggregate: daf_export_comparison_html(
            report, folder / f"{aggregate}.html", aggregate=aggregate
        ).read_text()
        for aggregate in ("iqm", "mean")
    }
    return report, texts, {aggregate: Page(text) for aggregate, text in texts.items()}


def test_every_name_is_escaped(two_missions):
    _, texts, pages = two_missions
    for text, page in zip(texts.values(), pages.values(), strict=True):
        assert SPIKY not in text and "<b>" not in text and "<i>" not in text
        assert [tag for tag, _ in page.elements].count("script") == 1
        assert not any(tag in ("b", "i") for tag, _ in page.elements)
        for name in (SPIKY, STEADY, *MISSIONS, "<b>report</b>"):
            assert name in page.all_text()  # shown as text, literally


def test_the_aggregate_setting_changes_the_ranking(two_missions, tmp_path):
    report, _, pages = two_missions
    assert [r["Policy"] for r in pages["iqm"].table("leaderboard")] == [STEADY, SPIKY]
    assert [r["Policy"] for r in pages["mean"].table("leaderboard")] == [SPIKY, STEADY]
    assert f"Leader by IQM: {STEADY}" in pages["iqm"].all_text()
    assert f"Leader by Mean: {SPIKY}" in pages["mean"].all_text()
    with pytest.raises(ValueError, match="aggregate: expected one of"):
        daf_export_comparison_html(report, tmp_path / "x.html", aggregate="median")
    assert not list(tmp_path.iterdir())


def test_several_missions_get_their_own_tables_and_the_aggregate(two_missions):
    report, _, pages = two_missions
    page = pages["iqm"]
    headings = [
        a.get("id") for tag, a in page.elements if tag == "h3" and (a.get("id") or "").startswith("mission")
    ]
    assert headings == ["mission-m1-i", "mission-m2", "mission-all"]
    aggregate = page.table("missions", 4)  # m1 summary, m1 tests, m2 summary, m2 tests, then "all"
    [c] = [c for c in report.comparisons if c.mission == "all"]
    assert aggregate[0]["Test"].startswith("stratified t")
    assert aggregate[0]["Holm p"] == fmt.p_value(c.p_value_adjusted)
    assert len([t for _, t in page.with_attribute("data-tip")]) == 2 * 2 + 2  # per mission, then across


def test_without_raw_files_beside_it_the_page_says_how_to_get_them(two_missions):
    _, _, pages = two_missions
    assert not [h for _, h in pages["iqm"].with_attribute("href") if not h.startswith("#")]
    assert "The raw episodes are not beside this file" in pages["iqm"].all_text()


def test_one_policy_gets_a_page_that_says_there_is_nothing_to_compare(tmp_path):
    report = hand_made(alone={"m": [1, 2, 3, 4, 5, 6]})
    page = Page(daf_export_comparison_html(report, tmp_path / "r.html").read_text())

    assert "No pairwise comparisons: this report has 1 policy (alone)" in page.all_text()
    assert [r["Policy"] for r in page.table("leaderboard")] == ["alone"]
    assert any(tag == "figure" for tag, _ in page.elements)


def test_an_empty_report_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="comparison_report: report 'empty' has no episodes"):
        daf_export_comparison_html(ComparisonReport("empty"), tmp_path / "r.html")
    assert not list(tmp_path.iterdir())


def test_a_failure_while_building_leaves_the_previous_report_whole(tmp_path, monkeypatch):
    report = hand_made(a={"m": [1, 2, 3, 4, 5, 6]}, b={"m": [2, 3, 4, 5, 6, 7]})
    target = tmp_path / "report.html"
    target.write_text("the previous report")

    def broken(_report):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(comparison_plots, "comparison_figures", broken)
    with pytest.raises(RuntimeError, match="figure failed"):
        daf_export_comparison_html(report, target)
    assert target.read_text() == "the previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


# ---------------------------------------------------------------------------------------------------
# DAFComparisonConfig.generate_html_report
# ---------------------------------------------------------------------------------------------------


def reuse_episodes(tmp_path_factory, output_dir: Path, name: str) -> None:
    """Copy the session's recorded episodes where a config run with this name looks for them (it resumes)."""
    tiny_walk_comparison(tmp_path_factory.getbasetemp())
    source = comparison_dir(tmp_path_factory.getbasetemp())
    (output_dir / name).mkdir(parents=True)
    for file in ("episodes.parquet", "episodes.csv", "evaluation.json"):
        shutil.copy(source / file, output_dir / name / file)


@pytest.mark.parametrize("generate", [True, False])
def test_a_config_run_writes_the_html_report_beside_report_json(tmp_path_factory, tmp_path, generate):
    reuse_episodes(tmp_path_factory, tmp_path, NAME)
    config = DAFComparisonConfig(
        name=NAME,
        policies=POLICIES,
        missions=[MISSION],
        episodes_per_mission=EPISODES,
        seed=SEED,
        output_dir=tmp_path,
        generate_html_report=generate,
    )
    daf_compare_from_config(config, show_progress=False)

    folder = tmp_path / NAME
    assert (folder / "report.json").is_file()
    assert (folder / "report.html").is_file() == generate
    if generate:
        page = Page((folder / "report.html").read_text())
        assert {r["Policy"] for r in page.table("leaderboard")} == set(POLICIES)
        assert "episodes.parquet" in [h for _, h in page.with_attribute("href")]


# ---------------------------------------------------------------------------------------------------
# Sweep and training reports
# ---------------------------------------------------------------------------------------------------


def sweep_on_disk(folder: Path, trials: list[SweepTrialResult]) -> Path:
    """A sweep directory as a sweep leaves it: results.json and sweep_config.yaml (no study database)."""
    config = DAFSweepConfig(
        name="lr_sweep",
        missions=[MISSION],
        search_space={"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "gamma": [0.9, 0.99]},
        strategy="random",
        num_trials=len(trials),
        output_dir=folder,
    )
    sweep_dir = folder / "lr_sweep"
    sweep_dir.mkdir(parents=True)
    config.to_yaml(sweep_dir / "sweep_config.yaml")
    result = SweepResult(
        "lr_sweep", strategy="random", num_trials_planned=len(trials), output_dir=str(sweep_dir)
    )
    for trial in trials:
        result.add_trial(trial)
    result.save_json(sweep_dir / "results.json")
    return sweep_dir


def trial(trial_id: int, state: str, value: float | None = None, **extra) -> SweepTrialResult:
    parameters = {"learning_rate": 10 ** (-4 + trial_id * 0.5), "gamma": [0.9, 0.99][trial_id % 2]}
    return SweepTrialResult(trial_id, parameters, value, success=state == "complete", state=state, **extra)


def test_the_sweep_report_lists_every_trial_with_state_objective_and_parameters(tmp_path):
    trials = [
        trial(0, "complete", 0.31, duration_s=4.2),
        trial(1, "complete", 0.42, duration_s=3.9),
        trial(2, "pruned", intermediate_values={1: 0.12, 2: 0.15}),
        trial(3, "failed", error="Traceback (most recent call last):\nRuntimeError: <boom> & more"),
        trial(4, "running"),
    ]
    sweep_dir = sweep_on_disk(tmp_path, trials)

    path = daf_export_sweep_html(sweep_dir, tmp_path / "sweep_report.html")
    page = Page(path.read_text())

    rows = {int(row["Trial"]): row for row in page.table("trials")}
    assert {i: rows[i]["State"] for i in rows} == {t.trial_id: t.state for t in trials}
    assert rows[1]["mean_reward"] == fmt.number(0.42) and rows[3]["mean_reward"] == "n/a"
    assert rows[2]["Last reported"] == f"{fmt.number(0.15)} (chunk 2)"
    for t in trials:
        assert rows[t.trial_id]["learning_rate"] == f"{t.hyperparameters['learning_rate']:.4g}"
        assert rows[t.trial_id]["gamma"] == f"{t.hyperparameters['gamma']:.4g}"
    assert rows[3]["Error"] == "RuntimeError: <boom> & more"  # escaped in the file, literal as text
    text = page.all_text()
    assert "Best trial: 1 with mean_reward 0.42" in text
    assert "Trial 3 failed" in text and "Not finished when this report was written: trials [4]" in text
    figures = [a["data-figure"] for tag, a in page.elements if tag == "figure" and "data-figure" in a]
    assert figures == list(sweep_plots.sweep_figures(sweep_dir))
    assert all(not v.startswith(("http:", "https:", "//")) for _, v in page.with_attribute("src"))
    assert [tag for tag, _ in page.elements].count("script") == 1 and "<boom>" not in path.read_text()


def test_a_sweep_with_no_finished_trial_is_refused_and_nothing_written(tmp_path):
    sweep_dir = sweep_on_disk(tmp_path, [trial(0, "running"), trial(1, "waiting")])
    with pytest.raises(ValueError, match="no trial has an objective value yet"):
        daf_export_sweep_html(sweep_dir, tmp_path / "sweep_report.html")
    assert not (tmp_path / "sweep_report.html").exists()
    with pytest.raises(FileNotFoundError, match="sweep results file not found"):
        daf_export_sweep_html(tmp_path / "nowhere", tmp_path / "sweep_report.html")


def metrics_row(epoch: int, reward: float) -> dict:
    """A row as DAF's trainer writes it (training/run_files.py metrics_row), the fields the report reads."""
    return {
        "epoch": epoch,
        "agent_steps": 2048 * epoch,
        "sps": 1000.0 + epoch,
        "learning_rate": 0.001,
        "wall_time_s": 2.0 * epoch,
        "losses/policy_loss": -0.01 * epoch,
        "losses/value_loss": 0.1,
        "losses/entropy": 1.6 - 0.1 * epoch,
        "losses/approx_kl": 0.001,
        "losses/clipfrac": 0.02,
        f"env/per_label_rewards/{MISSION}": reward,
        "missions": [MISSION],
    }


def training_runs(root: Path) -> Path:
    """Two runs as the trainer leaves them: config.yaml and metrics.jsonl (one with a torn last line)."""
    for name, rewards, torn in (("run_a", [0.1, 0.2, 0.3], False), ("run_b", [0.2, 0.25], True)):
        run = root / name
        run.mkdir(parents=True)
        (run / "config.yaml").write_text(f"policy_class_path: lstm\nnum_steps: 8192\nmissions: [{MISSION}]\n")
        lines = [json.dumps(metrics_row(e, r)) for e, r in enumerate(rewards, start=1)]
        (run / "metrics.jsonl").write_text("\n".join(lines) + ('\n{"epoch": 3, "agent_' if torn else "\n"))
    return root


def test_the_training_report_shows_each_runs_steps_speed_and_last_reward(tmp_path):
    checkpoint_dir = training_runs(tmp_path / "checkpoints")

    path = daf_export_training_html(checkpoint_dir, tmp_path / "training_report.html")
    page = Page(path.read_text())

    rows = {row["Run"]: row for row in page.table("runs")}
    assert set(rows) == {"run_a", "run_b"}
    assert (rows["run_a"]["Epochs"], rows["run_a"]["Agent steps"]) == ("3", f"{3 * 2048:,}")
    assert (rows["run_b"]["Epochs"], rows["run_b"]["Agent steps"]) == ("2", f"{2 * 2048:,}")  # torn line out
    assert rows["run_a"][f"Last reward: {MISSION}"] == fmt.number(0.3)
    assert rows["run_b"]["Steps/s"] == fmt.number(1002.0)
    assert rows["run_a"]["Policy"] == "lstm" and rows["run_a"]["Planned steps"] == "8,192"
    figures = [a["data-figure"] for tag, a in page.elements if tag == "figure" and "data-figure" in a]
    assert figures == list(training_curves.training_figures(checkpoint_dir))


def test_a_checkpoint_dir_without_metrics_is_refused_and_nothing_written(tmp_path):
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(ValueError, match="no metrics.jsonl"):
        daf_export_training_html(tmp_path / "empty_run", tmp_path / "training_report.html")
    with pytest.raises(FileNotFoundError, match="checkpoint_dir"):
        daf_export_training_html(tmp_path / "missing", tmp_path / "training_report.html")
    assert not (tmp_path / "training_report.html").exists()
