#!/usr/bin/env bash
# `make run`: migrate, seed, then run web, workers, beat, Flower (and Redis and the sandbox when needed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p var
export DEBUG="${DEBUG:-1}"
export WEB_PORT="${WEB_PORT:-8000}" FLOWER_PORT="${FLOWER_PORT:-5555}" SANDBOX_PORT="${SANDBOX_PORT:-8765}"
export WORKER_CONCURRENCY="${WORKER_CONCURRENCY:-16}"
export PYTHONUNBUFFERED=1

redis_cmd="$(PY=$PY bash scripts/ensure_redis.sh)"
if [ -z "${FLOWER_BASIC_AUTH:-}" ]; then
  [ -f var/flower-auth ] || { umask 077; echo "ops:$($PY -c 'import secrets; print(secrets.token_urlsafe(12))')" > var/flower-auth; }
  export FLOWER_BASIC_AUTH="$(cat var/flower-auth)"
fi

$PY manage.py migrate --no-input -v 0
$PY manage.py seed_tiers
demo="$($PY manage.py ensure_demo_user)"

procfile=var/Procfile
: > "$procfile"
[ -n "$redis_cmd" ] && echo "redis: $redis_cmd" >> "$procfile"
if [ -z "${OPENAI_API_KEY:-}" ]; then
  echo "sandbox: $PY -m sandbox --host 127.0.0.1 --port $SANDBOX_PORT" >> "$procfile"
fi
cat >> "$procfile" <<PROCS
web: $PY -m interiorai.serve --host ${WEB_HOST:-127.0.0.1} --port $WEB_PORT
worker: $PY -m interiorai.supervise -- .venv/bin/celery -A interiorai worker -E -P threads -c $WORKER_CONCURRENCY -Q default,gen.priority,gen.standard -n gen@%h -l INFO
webhooks: $PY -m interiorai.supervise -- .venv/bin/celery -A interiorai worker -E -P threads -c ${WEBHOOK_CONCURRENCY:-8} -Q webhooks -n hooks@%h -l INFO
beat: $PY -m interiorai.supervise -- .venv/bin/celery -A interiorai beat -l INFO -s var/celerybeat-schedule
flower: .venv/bin/celery -A interiorai flower --address=127.0.0.1 --port=$FLOWER_PORT --basic-auth=\$FLOWER_BASIC_AUTH
PROCS

provider="OpenAI (${OPENAI_IMAGE_MODEL:-gpt-image-1})"
[ -z "${OPENAI_API_KEY:-}" ] && provider="the local sandbox on http://127.0.0.1:$SANDBOX_PORT (set OPENAI_API_KEY for the real API)"
cat <<INFO

  InteriorAI is starting
  ----------------------
  App:        http://127.0.0.1:$WEB_PORT/
  API docs:   http://127.0.0.1:$WEB_PORT/api/docs/
  Admin:      http://127.0.0.1:$WEB_PORT/admin/   (create an admin: .venv/bin/python manage.py createsuperuser)
  Flower:     http://127.0.0.1:$FLOWER_PORT/   (user:password = $FLOWER_BASIC_AUTH)
  Images:     $provider
  $demo
  Ctrl-C stops everything.

INFO
exec .venv/bin/honcho start -f "$procfile" -d .
