"""``manage.py gateway``: HTTP and WebSocket on one port, plus (embedded) Celery.

Start-up checks run first and write nothing: bad settings, an unusable data dir, an
unreachable database or Redis, a taken port or a weak token stop start-up with one line
on stderr and exit code 2. Then the data dir is created, migrations applied, agent
``main`` and an operator token ensured, and work whose lease expired re-driven.
SIGTERM/SIGINT close sockets (1012), stop the worker and beat, and exit within 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Generator
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from channels.routing import get_default_application
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from agents.runtime.watchdog import watchdog
from channels_app.services.polling import pollers_ensure
from core.datadir import DataDirError, bootstrap_data_dir, check_data_dir
from core.leases import work_recover
from gateway import listen
from gateway.consumers import announce_shutdown
from gateway.embedded import EmbeddedRuntime
from gateway.lib.tokens import STRENGTH_RULE, secret_is_strong
from gateway.services import TokenError, describe_bootstrap, gateway_bootstrap, weak_credentials

logger = logging.getLogger(__name__)

EXIT_CONFIG_ERROR = 2
# Shutdown: how long the runs in flight get to hand themselves back before the port is
# freed (they stop at once; a stuck one is handed back without it), and how long before
# SHUTDOWN_TIMEOUT_SECONDS the hard exit fires.
RUN_CUTOFF_WAIT_S = 1.5
HARD_EXIT_MARGIN_S = 0.3


class StartupError(Exception):
    """A start-up check failed; the message is the one line the operator sees."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Command(BaseCommand):
    help = "Run the gateway: HTTP + WebSocket on one port (and Celery in embedded mode)."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=None, help="port (default 18789)")
        parser.add_argument(
            "--bind",
            choices=listen.BINDS,
            default=None,
            help="loopback (127.0.0.1, default), lan (0.0.0.0), tailnet (Tailscale) or custom",
        )
        parser.add_argument("--host", default=None, help="address to bind with --bind custom")
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="embedded mode: do not run the in-process Celery worker and beat",
        )

    # Channel accounts polled by this process (set at bootstrap).
    pollers = 0
    listen: listen.Listen

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            host, port = self._resolve_address(options)
            sock = self._preflight(host, port)
        except StartupError as exc:
            self.stderr.write(f"error: {exc}")
            sys.exit(EXIT_CONFIG_ERROR)
        started = time.monotonic()
        try:
            self._bootstrap()
            if not _is_loopback(host):
                self._check_stored_credentials(host)
        except StartupError as exc:
            sock.close()
            self.stderr.write(f"error: {exc}")
            sys.exit(EXIT_CONFIG_ERROR)
        embedded = not settings.REDIS_URL and not options["no_worker"]
        self._serve(sock, host, port, embedded=embedded, started=started)

    # --- start-up checks (write nothing) ------------------------------------------
    def _resolve_address(self, options: dict[str, Any]) -> tuple[str, int]:
        """Flag > environment > database > default (gateway.listen)."""
        db = settings.DATABASES["default"]
        stored = connection.vendor != "sqlite" or Path(str(db["NAME"])).exists()
        try:
            self.listen = listen.resolve(
                port=options["port"], bind=options["bind"], host=options["host"], db=stored
            )
        except listen.ListenError as exc:
            raise StartupError(str(exc)) from None
        return self.listen.host, self.listen.port

    def _preflight(self, host: str, port: int) -> socket.socket:

        if not _is_loopback(host):
            if settings.GATEWAY_TOKEN and not secret_is_strong(settings.GATEWAY_TOKEN):
                raise StartupError(
                    f"refusing to bind {host} with a weak OPENCLAW_GATEWAY_TOKEN: use "
                    f"{STRENGTH_RULE} (`openssl rand -hex 24`)"
                )
            if settings.GATEWAY_PASSWORD and not secret_is_strong(settings.GATEWAY_PASSWORD):
                raise StartupError(
                    f"refusing to bind {host} with a weak OPENCLAW_GATEWAY_PASSWORD: use "
                    f"{STRENGTH_RULE}"
                )
            if not settings.ALLOWED_HOSTS_FROM_ENV:
                # Reached by address from the LAN; the token guards every door anyway.
                settings.ALLOWED_HOSTS = ["*"]
        if not settings.TEAM_MODE:
            try:
                check_data_dir()
            except DataDirError as exc:
                raise StartupError(str(exc)) from None
        self._check_database()
        if settings.REDIS_URL:
            self._check_redis()
        return self._bind(host, port)

    def _check_database(self) -> None:
        db = settings.DATABASES["default"]
        if connection.vendor == "sqlite":
            return  # a file in the checked data dir; connecting would create it

        try:
            connection.ensure_connection()
        except OperationalError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise StartupError(
                f"cannot connect to the database in DATABASE_URL "
                f"({db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db.get('NAME')}): "
                f"{reason}; check the URL and that PostgreSQL is running"
            ) from None
        finally:
            connection.close()

    def _check_redis(self) -> None:
        import redis  # noqa: PLC0415  (team mode only: embedded mode never loads the client)

        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=3, socket_connect_timeout=3
        )
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            raise StartupError(
                f"cannot reach Redis at REDIS_URL: {exc}; check the URL and that Redis is running"
            ) from None
        finally:
            client.close()

    def _bind(self, host: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # proto=IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only
        # on sockets whose proto says TCP, and accepted sockets copy the listener's. With
        # Nagle on, the events that follow a chat.send answer waited for the client's
        # delayed ACK: ~40 ms added to every chat turn.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            if exc.errno == 98:  # EADDRINUSE
                raise StartupError(
                    f"port {port} on {host} is already in use (another gateway running?); "
                    "stop it or choose another port with --port"
                ) from None
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        sock.listen(2048)
        sock.set_inheritable(True)
        return sock

    # --- first run and recovery ----------------------------------------------------
    def _bootstrap(self) -> None:

        new_dir = bootstrap_data_dir()
        if new_dir:
            self.stdout.write(f"Created the data dir {settings.DATA_DIR}")
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            self.stdout.write("Applying database migrations…")
            call_command("migrate", interactive=False, verbosity=0)
        try:
            result = gateway_bootstrap()
        except TokenError as exc:
            raise StartupError(f"OPENCLAW_GATEWAY_TOKEN: {exc}") from None
        for line in describe_bootstrap(result):
            self.stdout.write(line)
        # Embedded mode: this process is the only worker of its data dir, so every lease
        # still held belongs to a process that died (kill -9, power loss): hand them all
        # back now instead of waiting for them to expire. Team mode waits for expiry, as
        # another host's worker may still be running them.
        now = timezone.now()
        if not settings.REDIS_URL:
            now += timedelta(seconds=settings.WORK_LEASE_SECONDS + 1)
        report = work_recover(include_waiting=True, now=now)
        if report.total:
            self.stdout.write(
                f"Recovered work: released {report.released}, re-enqueued {report.enqueued}"
            )
        # Channel pollers: embedded mode takes back the dead process's poll leases too.
        polling = pollers_ensure(reclaim=not settings.REDIS_URL)
        self.pollers = len(polling)
        if polling:
            self.stdout.write(f"Polling {len(polling)} channel account(s)")

    def _check_stored_credentials(self, host: str) -> None:
        """Beyond loopback, refuse to serve while any active credential is weak."""

        problems = weak_credentials()
        if problems:
            raise StartupError(f"refusing to bind {host}: " + "; ".join(problems))

    # --- serving -------------------------------------------------------------------
    def _serve(
        self, sock: socket.socket, host: str, port: int, *, embedded: bool, started: float
    ) -> None:

        config = uvicorn.Config(
            get_default_application(),
            lifespan="off",
            http="httptools",
            ws="websockets-sansio",
            ws_max_size=25 * 1024 * 1024,
            ws_ping_interval=None,  # the protocol's own tick events keep sockets alive
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        server = GatewayServer(config)
        celery = EmbeddedRuntime(
            threads=settings.EMBEDDED_WORKER_THREADS,
            pollers=self.pollers,
            processes=settings.EMBEDDED_WORKER_PROCESSES,
            hostname=f"gateway-{os.getpid()}@{socket.gethostname()}",
        )

        def on_started() -> None:
            mode = "team" if settings.TEAM_MODE else "embedded"
            self.stdout.write(
                f"Gateway listening on http://{host}:{port} (ws://{host}:{port}/) "
                f"in {mode} mode, ready in {time.monotonic() - started:.2f}s"
            )
            self.stdout.flush()
            listen.record_start(self.listen)
            if embedded:
                for line in celery.start():
                    self.stdout.write(line)
                self.stdout.flush()

        def on_stopping() -> None:
            # Before the port is freed: a gateway started next must find no run of this
            # process in flight. Each is cut off and handed back, not failed (worker
            # processes do the same on SIGTERM).
            if embedded:
                celery.stopping()
            watchdog().shutdown(wait_s=RUN_CUTOFF_WAIT_S)

        server.on_started = on_started
        server.on_stopping = on_stopping
        try:
            asyncio.run(server.serve(sockets=[sock]))
        finally:
            listen.clear_start()
        began = server.stop_requested_at or time.monotonic()
        if embedded:
            # Done before the hard exit fires, so a clean stop still says so and exits 0.
            left = began + settings.SHUTDOWN_TIMEOUT_SECONDS - time.monotonic()
            celery.stop(timeout=max(0.1, left - 2 * HARD_EXIT_MARGIN_S))
        self.stdout.write(f"Gateway stopped in {time.monotonic() - began:.2f}s")
        self.stdout.flush()


class GatewayServer:
    """uvicorn's server, with our start and stop hooks and a bounded shutdown.

    uvicorn re-raises a captured SIGTERM after serving, which would kill the process
    before the Celery worker is stopped; here the first SIGTERM/SIGINT starts the
    shutdown and arms a timer that ends the process hard (``os._exit``, after a log
    line) if anything still blocks ``SHUTDOWN_TIMEOUT_SECONDS`` later: it must not
    linger after its port is freed. A second signal exits at once.
    """

    def __new__(cls, config: Any) -> Any:

        class _Server(uvicorn.Server):
            on_started: Any = None
            on_stopping: Any = None
            stop_requested_at: float = 0.0  # time.monotonic() of the first signal

            @contextlib.contextmanager
            def capture_signals(self) -> Generator[None, None, None]:
                if threading.current_thread() is not threading.main_thread():
                    yield
                    return
                handled = (signal.SIGINT, signal.SIGTERM)
                original = {sig: signal.signal(sig, self._on_signal) for sig in handled}
                try:
                    yield
                finally:
                    if not self.should_exit:
                        for sig, handler in original.items():
                            signal.signal(sig, handler)
                    # Stopping: the handler stays, so a second signal still exits at once
                    # while the worker stops.

            def _on_signal(self, sig: int, frame: FrameType | None) -> None:
                if self.should_exit:
                    # Still exit 0: what it cuts short is recoverable (a lease still held
                    # is handed back by the next start), and it was asked for.
                    _exit_now(
                        f"second signal ({signal.Signals(sig).name}) while stopping: exiting now",
                        0,
                    )
                self._begin_stop()

            def _begin_stop(self) -> None:
                self.stop_requested_at = time.monotonic()
                self.should_exit = True
                timer = threading.Timer(
                    settings.SHUTDOWN_TIMEOUT_SECONDS - HARD_EXIT_MARGIN_S, _shutdown_overdue
                )
                timer.daemon = True
                timer.start()

            async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
                # The protocol's `shutdown` event goes out before uvicorn closes with 1012.

                if not self.stop_requested_at:
                    self._begin_stop()  # not by a signal: bounded all the same
                announce_shutdown()
                if self.on_stopping is not None:
                    await asyncio.to_thread(self.on_stopping)
                await asyncio.sleep(0.05)
                await super().shutdown(sockets=sockets)

            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets=sockets)
                if self.started and self.on_started is not None:
                    self.on_started()

        return _Server(config)


def _shutdown_overdue() -> None:
    stuck = sorted(
        t.name for t in threading.enumerate() if t.is_alive() and not t.daemon and t.name
    )
    _exit_now(
        f"shutdown did not finish within {settings.SHUTDOWN_TIMEOUT_SECONDS:g} s "
        f"(still running: {', '.join(stuck) or 'nothing but daemon threads'}); exiting now",
        1,
    )


def _exit_now(reason: str, code: int) -> None:
    """Log ``reason`` and end the process without waiting for any thread."""
    with contextlib.suppress(Exception):
        logger.error("%s", reason)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
