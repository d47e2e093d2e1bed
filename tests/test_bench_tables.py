"""The README's measurement tables are the results files rendered (``bench/readme_tables.py``), so the README
carries no figure that no file in ``bench/results/`` holds, and every results file the benchmarks write
has a table."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import readme_tables  # noqa: E402


def test_the_readme_tables_are_the_results_files_rendered():
    text = readme_tables.README.read_text()
    assert readme_tables.rendered(text) == text, "run `.venv/bin/python bench/readme_tables.py`"


def test_every_renderer_has_its_place_in_the_readme():
    names = {match.group("name") for match in readme_tables.MARKER.finditer(readme_tables.README.read_text())}
    assert names == set(readme_tables.RENDERERS)


def test_a_marker_without_a_renderer_is_an_error():
    with pytest.raises(KeyError, match="no_such_table"):
        readme_tables.rendered("<!-- bench:no_such_table -->\nold\n<!-- /bench:no_such_table -->\n")


def test_a_missing_results_file_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missions.json"):
        readme_tables.rendered("<!-- bench:missions -->\nold\n<!-- /bench:missions -->\n", tmp_path)
