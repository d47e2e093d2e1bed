"""Missions of installed cogames games, through DAF's public functions, with a real game package installed.

The game is the test stand-in for ``cogsguard`` (``tests/fixtures/cogsguard_game``): importable only
inside the ``cogsguard`` fixture, and resolved by cogames exactly as the real package would be.
"""

import pytest
from cogames.standalone_games import STANDALONE_GAMES

from daf_core.evaluation import evaluate_policies
from daf_core.missions import installed_games, list_missions, load_mission, save_mission
from tests.fixtures.games import installed_test_game

GAME_MISSIONS = [
    "cogsguard:tutorial",
    "cogsguard:tutorial.miner",
    "cogsguard:tutorial.scout",
    "cogsguard:arena",
    "cogsguard:machina_1",
    "cogsguard:ore_rush",  # an eval mission
]


@pytest.fixture
def cogsguard():
    """The cogames game ``cogsguard`` (DAF's stand-in) as cogames itself finds it: its module registers it."""
    from cogames.game import get_game

    with installed_test_game():
        yield get_game("cogsguard")


def cogames_config(game, mission, variants=None, cogs=None):
    """What cogames' own command line builds for ``-m mission -v ... --cogs N``."""
    from cogames.cli.mission import resolve_mission

    return resolve_mission(game, mission, variants, cogs)[1]


def test_the_test_game_leaves_no_trace():
    # Guards the other tests: outside the fixture the machine is as it was, game or no game.
    before = (installed_games(), list_missions())
    with installed_test_game():
        assert "cogsguard:tutorial.miner" in list_missions()
    assert (installed_games(), list_missions()) == before


def test_list_missions_lists_missions_sub_missions_and_evals(cogsguard):
    assert "cogsguard" in installed_games()
    listed = list_missions()
    assert {"tiny_walk", "explore", "explore_large", "collect"} <= set(listed)
    assert [n for n in listed if n.startswith("cogsguard:")] == GAME_MISSIONS


def test_every_listed_game_mission_loads_as_cogames_builds_it(cogsguard):
    for name in GAME_MISSIONS:
        mission = name.split(":", 1)[1]
        assert load_mission(name).model_dump() == cogames_config(cogsguard, mission).model_dump(), name


@pytest.mark.parametrize("plain", ["tutorial", "tutorial.miner", "ore_rush", "evals.ore_rush"])
def test_plain_names_resolve_like_qualified_ones(cogsguard, plain):
    expected = cogames_config(cogsguard, plain).model_dump()
    assert load_mission(plain).model_dump() == expected
    assert load_mission(f"cogsguard:{plain}").model_dump() == expected


def test_a_sub_mission_is_its_mission_with_the_variant(cogsguard):
    tutorial, miner = load_mission("tutorial"), load_mission("tutorial.miner")
    assert "ore" not in tutorial.game.objects
    assert miner.game.objects["ore"].name == "ore"
    assert miner.game.map_builder.objects["ore"] == 8
    assert load_mission("tutorial.scout").game.agent.rewards["explore"].weight == pytest.approx(0.05)


def test_cogs_and_variants_apply_as_cogames_command_line_does(cogsguard):
    expected = cogames_config(cogsguard, "tutorial", ["compact", "miner"], 3)
    loaded = load_mission("cogsguard:tutorial", cogs=3, variants=["compact", "miner"])
    assert loaded.model_dump() == expected.model_dump()
    assert loaded.game.num_agents == 3
    assert loaded.game.map_builder.width == 8 and "wall" not in loaded.game.map_builder.objects
    for alias in ("num_agents", "num_cogs"):
        assert (
            load_mission("tutorial", **{alias: 3}).model_dump()
            == cogames_config(cogsguard, "tutorial", None, 3).model_dump()
        )
    # cogames' --steps: set after the mission is built.
    assert load_mission("tutorial.miner", cogs=1, max_steps=7).game.max_steps == 7


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"widht": 10}, r"unknown parameter\(s\) \['widht'\].*'cogs'.*'variants'.*'max_steps'"),
        ({"cogs": 9}, "cogs=9 is outside the 1-4"),
        ({"cogs": 0}, "cogs must be a positive integer, got 0"),
        ({"num_agents": 2, "cogs": 3}, "disagree"),
        ({"variants": ["nope"]}, "variants=\\['nope'\\].*Unknown variant 'nope'.*compact, miner, scout"),
        ({"variants": [3]}, "variants must be a list of variant names, got \\[3\\]"),
        ({"max_steps": 0}, "max_steps must be a positive integer, got 0"),
    ],
)
def test_bad_game_mission_parameters_are_refused_naming_them(cogsguard, params, message):
    with pytest.raises(ValueError, match=message):
        load_mission("cogsguard:tutorial", **params)


def test_builtin_missions_take_cogs_like_game_missions():
    assert load_mission("explore", cogs=2).game.num_agents == 2
    with pytest.raises(ValueError, match="variants=\\['compact'\\].*Unknown variant 'compact'"):
        load_mission("explore", variants=["compact"])


def test_a_mission_file_refuses_cogs_and_variants(tmp_path):
    path = save_mission(load_mission("tiny_walk"), tmp_path / "walk.yaml")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['cogs'\].*mission files"):
        load_mission(path, cogs=3)


def test_an_unknown_name_lists_a_few_close_matches_not_the_catalogue(cogsguard):
    with pytest.raises(ValueError) as err:
        load_mission("tutorial.minr")
    message = str(err.value)
    assert "Did you mean: cogsguard:tutorial.miner" in message
    assert "Installed games: ['cogsguard', 'daf']" in message
    for far in ("machina_1", "explore_large", "ore_rush", "collect"):
        assert far not in message

    with pytest.raises(ValueError) as err:
        load_mission("cogsguard:tutorail")
    assert "Did you mean: cogsguard:tutorial" in str(err.value)
    assert "machina_1" not in str(err.value)


def _absent_game() -> str:
    absent = [name for name in sorted(STANDALONE_GAMES) if name not in installed_games()]
    if not absent:
        pytest.skip("every cogames game is installed here")
    return absent[0]


def _check_absent_game_message(installed: list[str]) -> None:
    game = _absent_game()
    with pytest.raises(ValueError) as err:
        load_mission(f"{game}:arena")
    message = str(err.value)
    assert f"game '{game}' is not installed" in message
    source = STANDALONE_GAMES[game].source.git
    assert f'pip install "{STANDALONE_GAMES[game].package_name} @ git+{source}"' in message
    assert f"Installed games: {installed}" in message


def test_an_absent_game_says_how_to_install_it_and_what_is_installed():
    _check_absent_game_message(installed_games())


def test_an_absent_game_message_holds_with_a_game_installed(cogsguard):
    assert "cogsguard" in installed_games()
    _check_absent_game_message(installed_games())


def test_a_mistyped_game_name_suggests_the_game():
    with pytest.raises(ValueError, match="unknown game 'cogsgaurd'. Did you mean 'cogsguard'"):
        load_mission("cogsgaurd:tutorial")


def test_an_installed_game_that_fails_to_import_is_a_runtime_error(tmp_path):
    game = tmp_path / "cogsguard" / "game"
    game.mkdir(parents=True)
    (tmp_path / "cogsguard" / "__init__.py").write_text("")
    (game / "__init__.py").write_text("")
    (game / "game.py").write_text("import a_dependency_that_is_not_installed\n")
    with installed_test_game(tmp_path), pytest.raises(RuntimeError, match="installed but failed to import"):
        list_missions()


def test_a_plain_name_in_two_installed_games_is_refused_naming_both(cogsguard, tmp_path):
    # A second game, laid out as cogames expects hungercog (module hungercog.game), with a "tutorial" too.
    (tmp_path / "hungercog").mkdir()
    (tmp_path / "hungercog" / "__init__.py").write_text("")
    (tmp_path / "hungercog" / "game.py").write_text(
        "from cogames.game import CoGame, register_game\n"
        "from cogsguard.game.missions import ArenaMission\n"
        "tutorial = ArenaMission(name='tutorial', description='one cog', num_cogs=1)\n"
        "register_game(CoGame('hungercog', [tutorial], []))\n"
    )
    with installed_test_game(tmp_path, "hungercog"):
        assert "hungercog:tutorial" in list_missions()
        both = r"several installed games.*'cogsguard:tutorial', 'hungercog:tutorial'"
        with pytest.raises(ValueError, match=both):
            load_mission("tutorial")
        assert load_mission("hungercog:tutorial").game.num_agents == 1
        assert load_mission("tutorial.miner").game.num_agents == 2  # only cogsguard has it


def test_episodes_of_game_missions_run_through_evaluate_policies(cogsguard):
    records = evaluate_policies(
        {"random": "random", "noop": "noop"},
        ["cogsguard:tutorial.miner", ("tutorial_3_cogs", load_mission("tutorial", cogs=3))],
        episodes=2,
        seed=1,
        show_progress=False,
    )
    agents = records.groupby("mission")["num_agents"].unique().map(list).to_dict()
    assert agents == {"cogsguard:tutorial.miner": [2], "tutorial_3_cogs": [3]}
    assert (records["steps"] == 40).all()
    miner = records[records.mission == "cogsguard:tutorial.miner"]
    noop, walker = miner[miner.policy == "noop"], miner[miner.policy == "random"]
    # noop stays on its spawn cell and never walks into ore; random mines some of the miner variant's ore.
    assert noop["reward"].to_numpy() == pytest.approx([0.02, 0.02])
    assert walker["agent/ore.mined"].sum() > 0
    assert "agent/ore.mined" not in records[records.mission == "tutorial_3_cogs"].dropna(axis=1).columns
