"""What the package ships for its ecosystem: ``py.typed`` in the wheel, and pre-commit hooks.

The wheel is built from this tree with hatchling (the build backend pyproject names), so a
file hatch would leave out fails here. The hooks file is what pre-commit reads from this
repository; each hook must name the console script the package installs and a real command.
"""

from __future__ import annotations

import re
import shlex
import zipfile
from pathlib import Path

import tomllib
import yaml
from hatchling.builders.wheel import WheelBuilder
from typer.testing import CliRunner

from keycard_serve.cli import app

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_py_typed(tmp_path: Path) -> None:
    wheel = next(WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"]))
    names = zipfile.ZipFile(wheel).namelist()
    assert "keycard_serve/py.typed" in names
    assert "keycard_serve/testing.py" in names


def _hooks() -> list[dict]:
    return yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())


def test_each_pre_commit_hook_runs_an_installed_command() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    hooks = _hooks()
    assert [hook["id"] for hook in hooks] == [
        "keycard-serve-validate",
        "keycard-serve-validate-system",
    ]
    for hook in hooks:
        assert {"id", "name", "entry", "language"} <= hook.keys()
        assert hook["language"] in ("python", "system")
        program, *arguments = shlex.split(hook["entry"])
        assert program in scripts
        # pre-commit appends the staged file names: the command must take files.
        result = CliRunner().invoke(app, [*arguments, "--help"])
        assert result.exit_code == 0, result.output
        assert "CONFIGS" in result.output
        assert re.search(hook["files"], "configs/quickstart.yaml")
        assert not re.search(hook["files"], ".github/workflows/ci.yml")


def test_the_hook_validates_the_files_pre_commit_passes(monkeypatch) -> None:
    """What pre-commit runs for two staged files: ``entry`` followed by their names."""
    monkeypatch.chdir(ROOT)
    _program, *arguments = shlex.split(_hooks()[0]["entry"])
    result = CliRunner().invoke(
        app, [*arguments, "configs/quickstart.yaml", "tests/config/broken/syntax.yaml"]
    )
    assert result.exit_code == 1
    assert "configs/quickstart.yaml: valid" in result.output
    assert "tests/config/broken/syntax.yaml: invalid" in result.output


def test_the_readme_uses_the_hook_of_this_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    snippet = readme.split("# .pre-commit-config.yaml", 1)[1].split("```", 1)[0]
    config = yaml.safe_load(snippet)
    (repo,) = config["repos"]
    assert repo["repo"] != "local"
    assert {hook["id"] for hook in repo["hooks"]} <= {hook["id"] for hook in _hooks()}
