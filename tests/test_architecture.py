"""The layers the code promises (pyproject.toml's import-linter contracts) hold."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which(tool, path=str(BIN)) or tool
    return subprocess.run([binary, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold():
    result = run("lint-imports", "--no-cache")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_first_party_import_hides_inside_a_function():
    result = run("ruff", "check", "--select", "PLC0415", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout[-4000:]
