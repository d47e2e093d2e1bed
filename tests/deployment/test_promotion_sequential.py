"""The promotion gate when it stops as soon as it is decided (``stop_when="decided"``), measured.

As in test_promotion.py, :func:`promotion_decision` itself judges simulated two-mission benchmarks (both
policies on the same seeds, a seed effect they share). Here each simulated benchmark is read look by
look - 5, 10, 15, 20 seeds - exactly as :func:`daf_promote_policy` reads its rounds, stopping at the
first look whose decision says stop. A rate is checked against its bound with a one-sided binomial test
at 0.001.
"""

import json

import numpy as np
import pytest
import scipy.stats

from daf_core.comparison import BenchmarkSuite
from daf_core.deployment import daf_promote_policy, promotion_decision
from tests.deployment.served import lstm_bundle
from tests.deployment.test_promotion import benchmark
from tests.server.running_server import start_server

ALPHA = 0.05
LOOKS = (5, 10, 15, 20)
SETTINGS = {"stop_when": "decided", "max_episodes": 20, "round_episodes": 5}


def gate(frame, **settings):
    """The gate over a simulated 20-seed benchmark, read look by look; the decision where it stopped."""
    for n in LOOKS:
        decision = promotion_decision(
            frame[frame["seed"] < n], "candidate", "incumbent", **{**SETTINGS, **settings}
        )
        if decision.sequential["stop"]:
            break
    return decision


def test_reading_the_looks_one_by_one_decides_as_reading_them_all_at_once():
    """A decision is frozen at its look, so one call over all 20 seeds gives the gate's decision where
    the look-by-look loop of daf_promote_policy stops - which lets the level test below simulate 600
    benchmarks in one call each."""
    rng = np.random.default_rng(20)
    for gain in [(0.0, 0.0)] * 10 + [(0.8, 0.8)] * 10:
        frame = benchmark(rng, 20, gain=gain)
        stepwise = gate(frame)
        at_once = promotion_decision(frame, "candidate", "incumbent", **SETTINGS)
        assert stepwise.promote == at_once.promote
        assert {k: stepwise.sequential[k] for k in ("decision", "look", "episodes", "rci_low")} == {
            k: at_once.sequential[k] for k in ("decision", "look", "episodes", "rci_low")
        }


@pytest.mark.slow(seconds=6)
def test_an_equal_candidate_is_promoted_at_most_alpha_of_the_time_however_early_it_stops():
    """600 simulated benchmarks of an equal candidate, 4 looks each: promoted in 5.2% (measured, 31 of
    600: one-sided binomial p = 0.4 against 5%, so no evidence of a level above alpha)."""
    rng = np.random.default_rng(21)
    decisions = [
        promotion_decision(benchmark(rng, 20), "candidate", "incumbent", **SETTINGS) for _ in range(600)
    ]
    promoted = sum(d.promote for d in decisions)
    assert scipy.stats.binomtest(promoted, 600, ALPHA, alternative="greater").pvalue > 0.001, promoted
    assert promoted / 600 > 0.015  # the level is used, not wasted


def test_a_clearly_better_candidate_is_promoted_at_the_second_look():
    """A gain of 1.5 episode-noise SDs: promoted in all 40 simulated benchmarks, after 10.5 seeds on
    average (measured) where the fixed gate plays 20."""
    rng = np.random.default_rng(22)
    decisions = [gate(benchmark(rng, 20, gain=(1.5, 1.5))) for _ in range(40)]
    assert np.mean([d.promote for d in decisions]) >= 0.95
    assert np.mean([d.n_seeds for d in decisions]) <= 11  # about half of the 20 a fixed gate plays
    promoted = next(d for d in decisions if d.promote)
    assert promoted.sequential["decision"] == "better" and promoted.lower_bound > 0
    assert promoted.lower_bound == promoted.sequential["rci_low"]
    assert promoted.sequential["design"]["alpha"] == pytest.approx(2 * ALPHA)  # one-sided ALPHA
    json.dumps(promoted.to_dict(), allow_nan=False)


def test_a_worse_candidate_is_refused_early_and_an_equivalent_one_with_a_margin():
    rng = np.random.default_rng(23)
    worse = gate(benchmark(rng, 20, gain=(-1.5, -1.5)))
    assert not worse.promote and worse.sequential["decision"] == "worse" and worse.n_seeds <= 10
    same = gate(benchmark(rng, 20), equivalence_margin=3.0)
    assert not same.promote and same.sequential["decision"] == "equivalent"
    assert same.n_seeds < 20


def test_a_regressing_mission_vetoes_a_decided_gain():
    """+4 on tiny_walk, -2 on explore: the suite gain is decided, explore's loss vetoes it."""
    rng = np.random.default_rng(7)
    decision = gate(benchmark(rng, 20, gain=(4.0, -2.0)))
    assert decision.sequential["decision"] == "better" and not decision.promote
    vetoes = {v["mission"]: v["decision"] for v in decision.sequential["missions"]}
    assert vetoes["explore"] == "worse" and vetoes["tiny_walk"] != "worse"
    assert any("'explore' regressed" in reason for reason in decision.reasons)


def test_an_undecided_gate_is_pending_until_the_last_look_and_refuses_there():
    rng = np.random.default_rng(24)
    frame = benchmark(rng, 20, gain=(0.1, 0.1))
    early = promotion_decision(frame[frame["seed"] < 5], "candidate", "incumbent", **SETTINGS)
    assert early.sequential["decision"] == "pending" and not early.sequential["stop"] and not early.promote
    assert any("next look is at 10 seeds" in r for r in early.reasons)
    last = promotion_decision(frame, "candidate", "incumbent", **SETTINGS)
    assert last.sequential["decision"] == "undecided" and last.sequential["stop"] and not last.promote


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"stop_when": "decided"}, "max_episodes: stop_when='decided' needs the design's last look"),
        ({"stop_when": "sometimes"}, "stop_when: must be 'fixed' or 'decided', got 'sometimes'"),
        ({**SETTINGS, "max_episodes": 3}, r"max_episodes: must be >= round_episodes \(5\), got 3"),
        ({**SETTINGS, "max_episodes": 10}, "records: 20 seeds, more than max_episodes"),
        ({**SETTINGS, "equivalence_margin": -1.0}, "equivalence_margin.*-1.0"),
        ({"max_episodes": 20}, "max_episodes: only used with stop_when='decided'"),
    ],
)
def test_bad_sequential_settings_are_refused(settings, message):
    frame = benchmark(np.random.default_rng(0), 20)
    with pytest.raises(ValueError, match=message):
        promotion_decision(frame, "candidate", "incumbent", **settings)


def test_the_gate_refuses_bad_settings_before_contacting_any_server(tmp_path):
    """No server listens on this endpoint: the settings error comes first, naming the field."""
    bundle = tmp_path / "candidate.zip"
    bundle.write_bytes(b"not read before the checks")
    with pytest.raises(ValueError, match="stop_when: must be 'fixed' or 'decided', got 'soon'"):
        daf_promote_policy(bundle, "walker", "http://127.0.0.1:9", stop_when="soon")
    with pytest.raises(ValueError, match=r"max_episodes: must be >= round_episodes \(5\), got 2"):
        daf_promote_policy(bundle, "walker", "http://127.0.0.1:9", stop_when="decided", max_episodes=2)


# -- against a real server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("sequential-promotion") / "server")
    yield running
    running.stop()


@pytest.mark.slow(seconds=17)
def test_a_better_bundle_is_promoted_before_the_last_round(server, tmp_path):
    """tests/deployment/served.py's walking lstm against the lazy one on tiny_walk: the gap is wide, so
    the gate stops after 10 of at most 20 seeds, reusing the first round's episodes."""
    suite = BenchmarkSuite(name="walk", version="1", missions=("tiny_walk",), episodes_per_mission=20)
    lazy, walker = lstm_bundle(tmp_path, "0.1.0", lazy=True), lstm_bundle(tmp_path, "0.2.0")
    common = {"benchmark": suite, "stop_when": "decided", "round_episodes": 5}
    first = daf_promote_policy(lazy, "seq-walker", server.url, server.admin_token, **common)
    assert first.decision == "deployed_first"

    result = daf_promote_policy(
        walker, "seq-walker", server.url, server.admin_token, output_dir=tmp_path / "out", **common
    )
    assert result.decision == "promoted", result.reasons
    sequential = result.comparison["sequential"]
    assert sequential["decision"] == "better" and sequential["episodes"] == result.comparison["n_seeds"] < 20
    assert sequential["design"]["looks"] == [5, 10, 15, 20]
    report = json.loads((tmp_path / "out" / "benchmark" / "report.json").read_text())
    assert report["metadata"]["episodes_per_mission"] == result.comparison["n_seeds"]
