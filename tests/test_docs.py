"""README promises: the two commands, and CI running exactly the README's test command."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_CMD = 'python3 -m pip install ".[demo]" && python3 -m fusednet.demo'
TEST_CMD = 'python3 -m pip install ".[test]" && python3 -m pytest -q'

pytestmark = pytest.mark.skipif(not (ROOT / "README.md").is_file(), reason="not run from a source checkout")


def test_readme_has_the_two_commands():
    lines = [l.strip() for l in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()]
    assert DEMO_CMD in lines and TEST_CMD in lines


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [l.strip() for l in ci if l.strip() and not l.lstrip().startswith("#")]
    assert commands[-1] == TEST_CMD
    assert any("torch==2.13.0" in c for c in commands[:-1])
