"""System tools the suite needs (scripts/provision.sh installs them when `make test` runs as root)."""

from __future__ import annotations

import shutil

import pytest


def require_tool(name: str, package: str, skipped: str) -> str:
    """The path of the command `name`, or skip the test: it is not installed, so `skipped` cannot run.

    Only a command that is not there skips: a present but broken tool is left to fail the test.
    """
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is missing (apt-get install {package} as root); {skipped} are skipped")
    return path
