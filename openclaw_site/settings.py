"""Settings for the gateway: one module, read from the environment.

Two ways to run, one code path (see README):
- embedded (default): SQLite in the data dir, in-memory channel layer, Celery on the
  in-process ``memory://`` transport run by the ``gateway`` command itself;
- team: ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` (channel layer + Celery broker).

Importing this module never writes anything: the data dir and its key files are
created by ``core.datadir.bootstrap_data_dir()`` once start-up checks have passed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import django_stubs_ext
import environ

from core.dbconfig import default_database
from core.env import (
    check_control_ui_dir,
    check_directory,
    check_model_timeout,
    check_networks,
    check_password_mode,
    check_redis_url,
    check_time_zone,
    check_token_length,
    check_url,
    encryption_keys,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    secret_key,
)

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

if env_bool("DJANGO_READ_DOT_ENV_FILE", False):
    # Real environment variables always win over the file.
    environ.Env.read_env(str(BASE_DIR / ".env"), overwrite=False)

# --- data dir -----------------------------------------------------------------------
DATA_DIR = check_directory(
    "OPENCLAW_DATA_DIR",
    Path(env_str("OPENCLAW_DATA_DIR", "~/.openclaw-django")).expanduser().resolve(),
)
SECRET_KEY_FILE = DATA_DIR / "secret_key"
ENCRYPTION_KEY_FILE = DATA_DIR / "encryption.key"
GATEWAY_TOKEN_FILE = DATA_DIR / "gateway-token"
WORKSPACES_DIR = DATA_DIR / "workspaces"

# --- mode ---------------------------------------------------------------------------
REDIS_URL = check_redis_url("REDIS_URL", env_str("REDIS_URL", "").strip())
DATABASE_URL = env_str("DATABASE_URL", "").strip()

DEPLOYMENT = env_choice(
    "OPENCLAW_DEPLOYMENT", "team" if REDIS_URL else "embedded", ("embedded", "team")
)
TEAM_MODE = DEPLOYMENT == "team"

DEBUG = env_bool("DJANGO_DEBUG", False)

# --- secret key ---------------------------------------------------------------------
# Embedded mode: a key file in the data dir, made at first run (core.datadir, core.env).
SECRET_KEY, SECRET_KEY_GENERATED = secret_key(
    "DJANGO_SECRET_KEY",
    env_str("DJANGO_SECRET_KEY", "").strip(),
    key_file=SECRET_KEY_FILE,
    team_mode=TEAM_MODE,
    debug=DEBUG,
)

# Secrets at rest: comma-separated Fernet keys (first encrypts, all decrypt) for key
# rotation; in embedded mode a key file in the data dir is created on first need.
ENCRYPTION_KEYS = encryption_keys("OPENCLAW_ENCRYPTION_KEY", team_mode=TEAM_MODE)

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
GATEWAY_BIND = env_choice(
    "OPENCLAW_GATEWAY_BIND", "loopback", ("loopback", "lan", "tailnet", "custom")
)  # with GATEWAY_PORT and the next: flag > environment > database > default (gateway.listen)
GATEWAY_CUSTOM_HOST = env_str("OPENCLAW_GATEWAY_CUSTOM_HOST", "").strip()
# Credentials beyond loopback: STRENGTH_RULE; on loopback the env token may be this short.
GATEWAY_MIN_TOKEN_LENGTH = 24
GATEWAY_MIN_LOOPBACK_TOKEN_LENGTH = 8
GATEWAY_TOKEN = check_token_length(
    "OPENCLAW_GATEWAY_TOKEN",
    env_str("OPENCLAW_GATEWAY_TOKEN", "").strip(),
    minimum=GATEWAY_MIN_LOOPBACK_TOKEN_LENGTH,
)
GATEWAY_PASSWORD = env_str("OPENCLAW_GATEWAY_PASSWORD", "")
GATEWAY_AUTH_MODE = check_password_mode(
    "OPENCLAW_GATEWAY_AUTH_MODE",
    env_choice(
        "OPENCLAW_GATEWAY_AUTH_MODE",
        "password" if GATEWAY_PASSWORD else "token",
        ("token", "password"),
    ),
    needs="OPENCLAW_GATEWAY_PASSWORD",
    value=GATEWAY_PASSWORD,
)
# Browser origins allowed besides OpenClaw's own rules (gateway.origins); also settable
# with `manage.py config set gateway.controlUi.allowedOrigins`.
GATEWAY_ALLOWED_ORIGINS = [
    check_url("OPENCLAW_GATEWAY_ALLOWED_ORIGINS", origin)
    for origin in env_list("OPENCLAW_GATEWAY_ALLOWED_ORIGINS", [])
]
# Proxies whose X-Forwarded-For is believed (also `config set gateway.trustedProxies`);
# from any other peer the header is ignored and the peer's own address is the client's.
GATEWAY_TRUSTED_PROXIES = check_networks(
    "OPENCLAW_TRUSTED_PROXIES", env_list("OPENCLAW_TRUSTED_PROXIES", [])
)
GATEWAY_TICK_INTERVAL_MS = env_int("OPENCLAW_TICK_INTERVAL_MS", 30_000, minimum=100)
# Team mode: an idle event-bus subscription PINGs Redis this often (gateway.bus_redis).
GATEWAY_BUS_HEALTH_CHECK_S = env_int("OPENCLAW_BUS_HEALTH_CHECK_S", 15, minimum=1)
# The health summary is rebuilt and broadcast as the `health` event this often while a
# client is connected (OpenClaw: 60 s); a connect triggers one at most this often too.
GATEWAY_HEALTH_REFRESH_S = env_int("OPENCLAW_HEALTH_REFRESH_S", 60, minimum=1)
GATEWAY_HEALTH_CONNECT_REFRESH_S = GATEWAY_HEALTH_REFRESH_S
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
# Embedded mode: run tasks in this many worker processes the gateway starts (each with
# OPENCLAW_WORKER_THREADS threads; gateway/workers.py); 0: on the gateway's own threads
# (the least memory). Team mode ignores it: its workers are `celery worker` processes.
EMBEDDED_WORKER_PROCESSES = env_int("OPENCLAW_WORKER_PROCESSES", 0, minimum=0, maximum=32)
EMBEDDED_BROKER_SOCKET = env_str("OPENCLAW_BROKER_SOCKET", "")  # set for worker processes
# Channel sends that fail transiently are retried after 1, 2, 4 ... times this (capped at
# 5 minutes; a 429's retry_after wins when longer), at most 8 attempts.
CHANNEL_RETRY_BASE_MS = env_int("OPENCLAW_CHANNEL_RETRY_BASE_MS", 1000, minimum=10)
# How often the gateway shows "typing" in chats whose run is running, looks for channel
# work queued by another process (manage.py pairing approve, config set) and for channel
# accounts without a poller (one beat task; Telegram's indicator lasts 5 s).
CHANNEL_SWEEP_SECONDS = env_int("OPENCLAW_CHANNEL_SWEEP_SECONDS", 4, minimum=1)

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
WARM_START = env_bool("OPENCLAW_WARM_START", True)  # load the model SDK once up (runtime.warm)
# Limit of a whole run: checked between steps and while streaming, and enforced by the
# run watchdog (agents.runtime.watchdog) in every Celery pool, the threads pool included.
AGENT_RUN_TIMEOUT_S = env_int("OPENCLAW_RUN_TIMEOUT_S", 600, minimum=5)
check_model_timeout(
    "OPENCLAW_MODEL_TIMEOUT_S",
    AGENT_MODEL_TIMEOUT_S,
    lease_name="OPENCLAW_WORK_LEASE_SECONDS",
    lease_s=WORK_LEASE_SECONDS,
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
    "gateway.admin_site.GatewayAdminConfig",  # django.contrib.admin with the dashboard
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "sessions_app",
    "pairing",
    "agents",
    "channels_app",
    "gateway",
]

MIDDLEWARE = [
    "gateway.http.middleware.RequestContextMiddleware",  # first: request ids, latency
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]
from openclaw_site.login_settings import *  # noqa: E402, F403  (admin login rate limit)
from openclaw_site.node_settings import *  # noqa: E402, F403  (cluster nodes)

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
# PostgreSQL from DATABASE_URL (team mode needs it), else SQLite in the data dir, with
# WAL, busy_timeout and IMMEDIATE transactions (core.dbconfig).
DATABASES = {"default": default_database(DATABASE_URL, team_mode=TEAM_MODE, data_dir=DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- channel layer ------------------------------------------------------------------
# Channels' own layer: the gateway's events do not use it (gateway/bus_redis.py, Redis
# pub/sub, has no group membership for a Redis restart or group_expiry to drop).
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
    # Woken on publish, unlike kombu's memory transport (1 s polls); see core/localbroker.
    CELERY_BROKER_TRANSPORT = (
        f"core.{'localbroker' if EMBEDDED_BROKER_SOCKET else 'kombu_memory'}:Transport"
    )
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
from openclaw_site.beat import CRON_ENABLED, CRON_TICK_SECONDS, beat_schedule  # noqa: E402, F401

CELERY_BEAT_SCHEDULE = beat_schedule(
    sweep_s=SWEEP_INTERVAL_SECONDS, channel_sweep_s=CHANNEL_SWEEP_SECONDS
)
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
# OpenClaw's built Control UI (the openclaw npm package's dist/control-ui): served at /
# when set (gateway.web.control_ui), and the home page moves to /home.
CONTROL_UI_DIR = check_control_ui_dir(
    "OPENCLAW_CONTROL_UI_DIR", env_str("OPENCLAW_CONTROL_UI_DIR", "").strip()
)

# --- logging and metrics ------------------------------------------------------------
METRICS_PUBLIC = env_bool("OPENCLAW_METRICS_PUBLIC", False)  # /metrics without the token
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
        # python-telegram-bot logs its base URL, which holds the bot token, at DEBUG.
        "telegram": {"level": "INFO"},
    },
}
