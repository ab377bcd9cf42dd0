"""One style toolchain: pre-commit, CI (scripts/test) and the constraints file agree."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def pinned(package: str) -> str:
    text = (ROOT / "requirements" / "constraints.txt").read_text()
    match = re.search(rf"^{re.escape(package)}==(\S+)$", text, flags=re.M | re.I)
    assert match, f"{package} is not pinned in requirements/constraints.txt"
    return match.group(1)


def tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    assert path, f"{name} is not installed: run bash scripts/setup"
    return str(path)


def pre_commit_hooks() -> list[dict]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    return [hook | {"repo": repo["repo"]} for repo in config["repos"] for hook in repo["hooks"]]


def test_ruff_required_version_is_the_pinned_one():
    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    assert ruff["required-version"] == f"=={pinned('ruff')}"


def test_installed_ruff_and_nbstripout_are_the_pinned_versions():
    ruff = subprocess.run([tool("ruff"), "--version"], capture_output=True, text=True, check=True)
    assert ruff.stdout.split() == ["ruff", pinned("ruff")]
    strip = subprocess.run(
        [tool("nbstripout"), "--version"], capture_output=True, text=True, check=True
    )
    assert strip.stdout.strip() == pinned("nbstripout")


def test_pre_commit_hooks_are_local_and_run_the_installed_tools():
    hooks = pre_commit_hooks()
    # a hook from a GitHub repo would be fetched (unreachable here) and pin a second version
    assert {h["repo"] for h in hooks} == {"local"}
    assert all(h["language"] == "system" for h in hooks)
    entries = {h["id"]: h["entry"].split() for h in hooks}
    assert entries == {
        "nbstripout": ["nbstripout", "--keep-id"],
        "ruff-check": ["ruff", "check", "--fix", "--force-exclude"],
        "ruff-format": ["ruff", "format", "--force-exclude"],
    }


def test_ci_lint_stage_runs_ruff_check_and_format_check():
    script = (ROOT / "scripts" / "test").read_text()
    lint = re.search(r"^lint\(\) \{.*?^\}", script, flags=re.M | re.S)
    assert lint, "scripts/test defines no lint() function"
    assert "ruff check ." in lint.group(0)
    assert "ruff format --check ." in lint.group(0)
    assert re.search(r'^stage "lint[^"]*" lint$', script, flags=re.M)


def test_notebooks_are_committed_stripped():
    notebooks = sorted(
        str(p.relative_to(ROOT))
        for folder in ("chapters", "exercises/source")
        for p in (ROOT / folder).rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    )
    assert notebooks
    result = subprocess.run(
        [tool("nbstripout"), "--keep-id", "--verify", *notebooks],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
