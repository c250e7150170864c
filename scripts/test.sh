#!/usr/bin/env bash
# `make test`: the whole suite against real Redis, a real Celery worker, the sandbox and headless Chromium.
# Uses PostgreSQL when DATABASE_URL is set (CI does), SQLite under var/ otherwise. System tools (Chromium,
# docker-compose, redis-server) come from scripts/provision.sh; tests whose tool is missing are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export TESTING=1
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
export CHANNELS_PREFIX=test-asgi
export VAR_DIR="${VAR_DIR:-$(pwd)/var/test}"
export MEDIA_ROOT="$VAR_DIR/media"
export PROGRESS_TICK_S=0.2 GENERATION_LEASE_S=8 REDISPATCH_AFTER_S=4 SWEEP_INTERVAL_S=1
export GENERATION_EXPECTED_S=2 WORKER_CONCURRENCY=8 PYTHONUNBUFFERED=1 PROVIDER_RPM=0 PROVIDER_IPM=0
unset OPENAI_API_KEY OPENAI_BASE_URL AWS_STORAGE_BUCKET_NAME REPLICATE_API_TOKEN REPLICATE_BASE_URL PROVIDER_CHAIN
# The suite runs on OpenAI alone unless a test asks for a chain (tests/pipeline/test_failover.py and others set
# PROVIDER_CHAIN): every other test's figures (prices, holds, breaker states) are a single provider's.
export REPLICATE_MODEL=""
mkdir -p "$VAR_DIR"
MISSING_TOOLS="$(bash scripts/provision.sh)"
export MISSING_TOOLS
redis_cmd="$(PY=.venv/bin/python REDIS_URL=redis://127.0.0.1:6379/0 bash scripts/ensure_redis.sh)"
if [ -n "$redis_cmd" ]; then
  $redis_cmd --daemonize yes --pidfile "$VAR_DIR/redis.pid" --logfile "$VAR_DIR/redis.log"
  trap 'kill "$(cat "$VAR_DIR/redis.pid")" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do .venv/bin/python -c "import redis; redis.Redis.from_url('$REDIS_URL').ping()" 2>/dev/null && break; sleep 0.1; done
fi
.venv/bin/python -m pytest "$@"
