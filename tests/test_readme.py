"""The README's promises: its test command is what CI runs, and its workflow example is valid."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from connector.catalog import load_catalog
from connector.engine.workflow import validate_workflow

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"^    (python3 -m venv .*)$", README, re.M)
    assert len(commands) >= 2, "the README opens with the run and test commands"
    run_main, run_tests = commands[0], commands[1]
    assert "connector run examples/weekly_campaign_report.yaml --sandbox" in run_main
    assert run_tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_workflow_example_is_valid() -> None:
    section = README.split("## Workflows", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    validate_workflow(yaml.safe_load(example.group(1)), load_catalog())


def test_top_level_api_names_resolve() -> None:
    import connector

    for name in connector.__all__:
        assert getattr(connector, name) is not None, name
