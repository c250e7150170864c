#!/usr/bin/env bash
# `make chaos`: the multi-host fault scenarios (chaos/run.py). As root, each host gets a network namespace of its own
# on a private bridge (198.18.0.0/24); otherwise the hosts run as plain processes and the scenarios that cut a host
# off the network are skipped. Writes docs/chaos/latest.json and docs/chaos/README.md.
# Options: CHAOS_ARGS="--scenario sigkill,cut_redis --hosts 3" or `bash scripts/chaos.sh --smoke`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var/chaos
bash scripts/provision.sh >/dev/null || true  # iproute2, iptables, faketime (as root)
export PYTHONUNBUFFERED=1
# shellcheck disable=SC2086 # CHAOS_ARGS is a list of options
exec .venv/bin/python -m chaos.run ${CHAOS_ARGS:-} "$@"
