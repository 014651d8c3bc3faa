"""Settings for the gateway: one module, read from the environment.

Two ways to run, one code path (see README):
- embedded (default): SQLite in the data dir, in-memory channel layer, Celery on the
  in-process ``memory://`` transport run by the ``gateway`` command itself;
- team: ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` (channel layer + Celery broker).

Importing this module never writes anything: the data dir and its key files are
created by ``core.datadir.bootstrap_data_dir()`` once start-up checks have passed.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

from core.env import (
    check_fernet_keys,
    check_networks,
    check_time_zone,
    check_url,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
)

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

if env_bool("DJANGO_READ_DOT_ENV_FILE", False):
    # Real environment variables always win over the file.
    environ.Env.read_env(str(BASE_DIR / ".env"), overwrite=False)

# --- data dir -----------------------------------------------------------------------
DATA_DIR = Path(env_str("OPENCLAW_DATA_DIR", "~/.openclaw-django")).expanduser().resolve()
SECRET_KEY_FILE = DATA_DIR / "secret_key"
ENCRYPTION_KEY_FILE = DATA_DIR / "encryption.key"
GATEWAY_TOKEN_FILE = DATA_DIR / "gateway-token"
if DATA_DIR.exists() and not DATA_DIR.is_dir():
    raise ImproperlyConfigured(
        f"OPENCLAW_DATA_DIR={DATA_DIR} is not a directory; set OPENCLAW_DATA_DIR to a folder"
    )
WORKSPACES_DIR = DATA_DIR / "workspaces"

# --- mode ---------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "").strip()
DATABASE_URL = env_str("DATABASE_URL", "").strip()
if REDIS_URL and urlsplit(REDIS_URL).scheme not in {"redis", "rediss", "unix"}:
    raise ImproperlyConfigured(
        f"REDIS_URL has scheme {urlsplit(REDIS_URL).scheme or '(none)'!r}; "
        "use redis://host:6379/0 (or rediss:// for TLS)"
    )

DEPLOYMENT = env_choice(
    "OPENCLAW_DEPLOYMENT", "team" if REDIS_URL else "embedded", ("embedded", "team")
)
TEAM_MODE = DEPLOYMENT == "team"

DEBUG = env_bool("DJANGO_DEBUG", False)

# --- secret key ---------------------------------------------------------------------
_secret_key = env_str("DJANGO_SECRET_KEY", "").strip()
SECRET_KEY_GENERATED = False
if not _secret_key:
    if TEAM_MODE:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set; team mode needs the same secret key on every "
            "host: generate one with `python -c 'import secrets; print(secrets.token_urlsafe(50))'`"
        )
    try:
        _secret_key = SECRET_KEY_FILE.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        # First run: bootstrap_data_dir() persists this value (mode 600) once start-up
        # checks pass, so the key in memory now is the key on disk afterwards.
        _secret_key = secrets.token_urlsafe(50)
        SECRET_KEY_GENERATED = True
    except OSError as exc:
        raise ImproperlyConfigured(
            f"the secret key file {SECRET_KEY_FILE} cannot be read ({exc.strerror}); "
            "fix its permissions or set DJANGO_SECRET_KEY"
        ) from exc
    if len(_secret_key) < 32:
        raise ImproperlyConfigured(
            f"the secret key in {SECRET_KEY_FILE} is shorter than 32 characters; "
            "delete the file to have a new one generated"
        )
elif len(_secret_key) < 32 and not DEBUG:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is shorter than 32 characters; use a long random value"
    )
SECRET_KEY = _secret_key

# Secrets at rest: comma-separated Fernet keys (first encrypts, all decrypt) for key
# rotation; in embedded mode a key file in the data dir is created on first need.
ENCRYPTION_KEYS = check_fernet_keys(
    "OPENCLAW_ENCRYPTION_KEY", env_list("OPENCLAW_ENCRYPTION_KEY", [])
)
if TEAM_MODE and not ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "OPENCLAW_ENCRYPTION_KEY is not set; team mode needs one Fernet key shared by every "
        "host: generate one with `python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'`"
    )

# --- hosts and security -------------------------------------------------------------
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
ALLOWED_HOSTS_FROM_ENV = bool(env_str("DJANGO_ALLOWED_HOSTS", "").strip())
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Server-side: a new operator token shown once in the admin never sits in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
SESSION_COOKIE_HTTPONLY = True
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("OPENCLAW_BEHIND_TLS_PROXY", False) else None
)

# --- gateway ------------------------------------------------------------------------
GATEWAY_PORT = env_int("OPENCLAW_GATEWAY_PORT", 18789, minimum=1, maximum=65535)
GATEWAY_BIND = env_choice("OPENCLAW_GATEWAY_BIND", "loopback", ("loopback", "lan", "custom"))
GATEWAY_CUSTOM_HOST = env_str("OPENCLAW_GATEWAY_CUSTOM_HOST", "").strip()
GATEWAY_TOKEN = env_str("OPENCLAW_GATEWAY_TOKEN", "").strip()
# Beyond loopback every credential must be strong (gateway.lib.tokens.STRENGTH_RULE); on
# loopback the environment token may be as short as this (OpenClaw accepts any).
GATEWAY_MIN_TOKEN_LENGTH = 24
GATEWAY_MIN_LOOPBACK_TOKEN_LENGTH = 8
if GATEWAY_TOKEN and len(GATEWAY_TOKEN) < GATEWAY_MIN_LOOPBACK_TOKEN_LENGTH:
    raise ImproperlyConfigured(
        f"OPENCLAW_GATEWAY_TOKEN is shorter than {GATEWAY_MIN_LOOPBACK_TOKEN_LENGTH} "
        "characters; use a long random value (`openssl rand -hex 24`)"
    )
GATEWAY_PASSWORD = env_str("OPENCLAW_GATEWAY_PASSWORD", "")
GATEWAY_AUTH_MODE = env_choice(
    "OPENCLAW_GATEWAY_AUTH_MODE", "password" if GATEWAY_PASSWORD else "token", ("token", "password")
)
if GATEWAY_AUTH_MODE == "password" and not GATEWAY_PASSWORD:
    raise ImproperlyConfigured(
        "OPENCLAW_GATEWAY_AUTH_MODE=password needs OPENCLAW_GATEWAY_PASSWORD to be set"
    )
# Browser origins allowed besides the gateway's own host (Control UI served elsewhere).
GATEWAY_ALLOWED_ORIGINS = [
    check_url("OPENCLAW_GATEWAY_ALLOWED_ORIGINS", origin)
    for origin in env_list("OPENCLAW_GATEWAY_ALLOWED_ORIGINS", [])
]
# Reverse proxies whose X-Forwarded-For is believed (OpenClaw gateway.trustedProxies;
# also settable with `manage.py config set gateway.trustedProxies`). From any other
# peer the header is ignored and the peer's own address is the client's.
GATEWAY_TRUSTED_PROXIES = check_networks(
    "OPENCLAW_TRUSTED_PROXIES", env_list("OPENCLAW_TRUSTED_PROXIES", [])
)
GATEWAY_TICK_INTERVAL_MS = env_int("OPENCLAW_TICK_INTERVAL_MS", 30_000, minimum=100)
# Per-socket send backlog before a slow client's events are dropped / it is closed.
GATEWAY_MAX_BUFFERED_BYTES = env_int(
    "OPENCLAW_MAX_BUFFERED_BYTES", 50 * 1024 * 1024, minimum=64 * 1024
)
# Failed connects per address: 10 per minute, then a 5-minute lockout (OpenClaw's defaults).
AUTH_RATE_LIMIT_ATTEMPTS = env_int("OPENCLAW_AUTH_RATE_LIMIT_ATTEMPTS", 10, minimum=1)
AUTH_RATE_LIMIT_WINDOW_S = env_int("OPENCLAW_AUTH_RATE_LIMIT_WINDOW_S", 60, minimum=1)
AUTH_RATE_LIMIT_LOCKOUT_S = env_int("OPENCLAW_AUTH_RATE_LIMIT_LOCKOUT_S", 300, minimum=1)
AUTH_RATE_LIMIT_EXEMPT_LOOPBACK = env_bool("OPENCLAW_AUTH_RATE_LIMIT_EXEMPT_LOOPBACK", True)
SHUTDOWN_TIMEOUT_SECONDS = 5.0
# Work whose lease ran out is handed back to the queue by the sweeper.
WORK_LEASE_SECONDS = env_int("OPENCLAW_WORK_LEASE_SECONDS", 300, minimum=10)
SWEEP_INTERVAL_SECONDS = env_int("OPENCLAW_SWEEP_INTERVAL_SECONDS", 60, minimum=5)
EMBEDDED_WORKER_THREADS = env_int("OPENCLAW_WORKER_THREADS", 4, minimum=1, maximum=64)

# --- agent runtime (agents.services.runs, agents.runtime.failover, agents.tools) ---------------------
# Model provider keys from the environment (each also takes *_FILE); more keys, and
# OpenAI-compatible servers, are added in the admin (Agents → Model providers).
ANTHROPIC_API_KEY = env_str("ANTHROPIC_API_KEY", "")
ANTHROPIC_BASE_URL = check_url("ANTHROPIC_BASE_URL", env_str("ANTHROPIC_BASE_URL", "").strip())
OPENAI_API_KEY = env_str("OPENAI_API_KEY", "")
OPENAI_BASE_URL = check_url("OPENAI_BASE_URL", env_str("OPENAI_BASE_URL", "").strip())
# Which OpenAI wire API to speak: chat completions (any compatible server) or responses.
OPENAI_API = env_choice("OPENAI_API", "chat", ("chat", "responses"))
# Extra model ids an OpenAI-compatible server at OPENAI_BASE_URL serves (for models.list).
OPENAI_MODELS = env_list("OPENAI_MODELS", [])
# The default model (provider/model) of agents that name none; blank = pick one of the
# configured providers. OPENCLAW_MODEL_FALLBACKS are tried after an agent's own fallbacks.
OPENCLAW_MODEL = env_str("OPENCLAW_MODEL", "")
OPENCLAW_MODEL_FALLBACKS = env_list("OPENCLAW_MODEL_FALLBACKS", [])
# Per model call: connect+read timeout of the provider request.
AGENT_MODEL_TIMEOUT_S = env_int("OPENCLAW_MODEL_TIMEOUT_S", 120, minimum=1)
# Limit of a whole run: checked between steps and while streaming, and enforced by the
# run watchdog (agents.runtime.watchdog) in every Celery pool, the threads pool included.
AGENT_RUN_TIMEOUT_S = env_int("OPENCLAW_RUN_TIMEOUT_S", 600, minimum=5)
if AGENT_MODEL_TIMEOUT_S >= WORK_LEASE_SECONDS:
    raise ImproperlyConfigured(
        f"OPENCLAW_MODEL_TIMEOUT_S ({AGENT_MODEL_TIMEOUT_S}) must be shorter than "
        f"OPENCLAW_WORK_LEASE_SECONDS ({WORK_LEASE_SECONDS}): a model call silent for longer "
        "than the lease would let the sweeper hand its run to another worker"
    )
AGENT_MAX_STEPS = env_int("OPENCLAW_AGENT_MAX_STEPS", 25, minimum=1, maximum=200)
AGENT_MAX_OUTPUT_TOKENS = env_int("OPENCLAW_MAX_OUTPUT_TOKENS", 4096, minimum=16)
# Failover: attempts per model call (a key in cooldown is skipped, never retried at once).
AGENT_MAX_ATTEMPTS = env_int("OPENCLAW_MODEL_MAX_ATTEMPTS", 3, minimum=1, maximum=10)
# Queue mode of a message arriving while its session runs: collect | followup | steer |
# interrupt (OpenClaw messages.queue.mode); sessions.patch queueMode overrides it.
AGENT_QUEUE_MODE = env_choice(
    "OPENCLAW_QUEUE_MODE", "collect", ("collect", "followup", "steer", "interrupt")
)
# Compaction: tokens kept free for the reply, and recent history kept verbatim.
COMPACTION_RESERVE_TOKENS = env_int("OPENCLAW_COMPACTION_RESERVE_TOKENS", 16_000, minimum=0)
COMPACTION_KEEP_RECENT_TOKENS = env_int("OPENCLAW_COMPACTION_KEEP_RECENT_TOKENS", 20_000, minimum=0)
# Context window assumed for models that are not in the built-in table.
DEFAULT_CONTEXT_WINDOW = env_int("OPENCLAW_DEFAULT_CONTEXT_WINDOW", 128_000, minimum=1024)
# The IANA time zone the system prompt states (blank = the host's).
AGENT_TIMEZONE = check_time_zone("OPENCLAW_TIMEZONE", env_str("OPENCLAW_TIMEZONE", "").strip())
# web_fetch may reach these hosts even though they resolve to private addresses.
WEB_FETCH_ALLOWED_HOSTS = env_list("OPENCLAW_WEB_FETCH_ALLOWED_HOSTS", [])

# --- apps ---------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "sessions_app",
    "pairing",
    "agents",
    "channels_app",
    "gateway",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "openclaw_site.urls"
ASGI_APPLICATION = "openclaw_site.asgi.application"

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
            ],
        },
    },
]


# --- database -----------------------------------------------------------------------
def _database_from_url(url: str) -> dict[str, Any]:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL has scheme {scheme or '(none)'!r}; use "
            "postgres://user:password@host:5432/dbname (or sqlite:////absolute/path.sqlite3)"
        )
    config: dict[str, Any] = dict(environ.Env.db_url_config(url))
    if scheme != "sqlite" and not config.get("NAME"):
        raise ImproperlyConfigured(
            "DATABASE_URL names no database; use postgres://user:password@host:5432/dbname"
        )
    return config


def _sqlite_options() -> dict[str, Any]:
    # WAL lets readers run beside the one writer; busy_timeout waits for the writer
    # instead of failing with "database is locked"; IMMEDIATE takes the write lock at
    # BEGIN so two writers never deadlock upgrading read locks (Django >= 5.1).
    return {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; PRAGMA synchronous=NORMAL;"
            " PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }


if DATABASE_URL:
    _db = _database_from_url(DATABASE_URL)
else:
    if TEAM_MODE:
        raise ImproperlyConfigured(
            "team mode (REDIS_URL set) needs DATABASE_URL pointing at PostgreSQL: "
            "every host must share one database"
        )
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DATA_DIR / "gateway.sqlite3")}

if _db["ENGINE"] == "django.db.backends.sqlite3":
    import sqlite3

    if sqlite3.sqlite_version_info < (3, 35):
        raise ImproperlyConfigured(
            f"SQLite {sqlite3.sqlite_version} is too old: the gateway needs 3.35 or newer "
            "(UPDATE ... RETURNING); upgrade the OS's libsqlite3 or use DATABASE_URL"
        )
    _db.setdefault("OPTIONS", {}).update(_sqlite_options())
    _db["CONN_MAX_AGE"] = None  # one connection per thread, kept: opening costs more than it saves
    # Tests use a file too (not Django's shared-cache in-memory database, whose table
    # locks fail concurrent threads at once): the WAL and busy_timeout the gateway runs
    # with are what the tests exercise.
    _db["TEST"] = {"NAME": str(DATA_DIR / "test-gateway.sqlite3")}
else:
    # A connection per request cost 5x throughput on this kind of machine.
    _db["CONN_MAX_AGE"] = env_int("DJANGO_CONN_MAX_AGE", 600, minimum=0)
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- channel layer ------------------------------------------------------------------
if REDIS_URL:
    CHANNEL_LAYERS: dict[str, Any] = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "max_connections": 1000}],
                # The default capacity (100) silently drops group messages under load.
                "capacity": 2000,
                "expiry": 60,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 2000}}
    }

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
if not REDIS_URL:
    # kombu's memory transport sleeps 1 s between empty polls; ours wakes on publish,
    # so tasks start at once while an idle worker still only wakes every few seconds.
    CELERY_BROKER_TRANSPORT = "core.kombu_memory:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"polling_interval": 5.0}
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 600
CELERY_TASK_TIME_LIMIT = 660
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
# Celery's Django fixup closes every database connection before and after each task
# unless this is set: a new SQLite/PostgreSQL connection per task cost ~8 % of a chat
# turn's CPU. Connections are kept like Django keeps them (CONN_MAX_AGE, health checks)
# and recycled after this many tasks. Read by the fixup as CELERY_DB_REUSE_MAX.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_DEFAULT_QUEUE = "default"
# The queues every worker listens on (-Q default,llm,connectors): model and tool work on
# ``llm``, channel pollers and senders on ``connectors``, chores on ``default``, so a
# team can give each its own workers. Routes match task names (glob), also for tasks
# sent by name (core.leases).
CELERY_TASK_ROUTES = {
    "agents.*": {"queue": "llm"},
    "channels.*": {"queue": "connectors"},
    "gateway.*": {"queue": "default"},
}
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "work-sweep": {
        "task": "gateway.work_sweep",
        "schedule": float(SWEEP_INTERVAL_SECONDS),
        "options": {"expires": float(SWEEP_INTERVAL_SECONDS)},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# --- auth, i18n, static -------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
# Django raises a bare ValueError for an unknown zone; this says what to set instead.
TIME_ZONE = check_time_zone("TZ", env_str("TZ", "UTC").strip()) or "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Set only where collectstatic runs (the Docker image); otherwise files come from the apps.
STATIC_ROOT = env_str("DJANGO_STATIC_ROOT", "").strip() or None
# Serve straight from the apps' static folders: no collectstatic step on a Pi.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- logging ------------------------------------------------------------------------
LOG_FORMAT = env_choice("LOG_FORMAT", "plain", ("plain", "json"))
LOG_LEVEL = env_choice(
    "LOG_LEVEL", "info", ("debug", "info", "warning", "error", "critical")
).upper()
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "stream": "ext://sys.stderr",
        },
        # The same lines in memory, for the logs.tail gateway method (core/logbuffer.py).
        "buffer": {"class": "core.logbuffer.RingBufferHandler", "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console", "buffer"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "celery": {"level": "WARNING"},
        "kombu": {"level": "ERROR"},
        "uvicorn.access": {"level": "WARNING"},
        "uvicorn.error": {"level": "WARNING"},
        # One INFO line per provider request or fetched URL (full URLs): noise, and a
        # web_fetch URL may carry a query the operator would not want in the log.
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
