"""A team-mode topology of real processes for tests: gateways, Celery workers and beats.

Every service runs the command ``docker/compose.yml`` gives it (``COMMANDS``;
tests/test_docker_files.py checks that the two agree, up to the values in ``VARIABLE``):
``migrate`` then ``gateway_bootstrap`` once, ``uvicorn openclaw_site.asgi:application``
per gateway, ``celery -A openclaw_site worker`` per worker and ``celery -A openclaw_site
beat``, all on one PostgreSQL database and one Redis (the broker and the channel layer),
each in its own data dir, with its output in ``<root>/logs/<name>.log``.

    with Cluster(root, env) as cluster:
        cluster.migrate()
        cluster.start(gateways=2, workers=2, beats=1)
        cluster.gateways[0].port ...
        cluster.workers[1].kill()       # SIGKILL
        cluster.heal()                  # replacements for what died, same counts
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self, TypeVar

from celery import Celery

from tests.fakes.llm_server import FakeServerProcess
from tests.gateway_process import REPO, TEAM_TOKEN, free_port
from tests.openclaw_client import OpenClawClient
from tests.telegram_harness import gateway_env

T = TypeVar("T")

# The commands of docker/compose.yml's services, one argv per command a service runs in
# order ("migrate" runs two). ``{name}`` placeholders are what a test run sets
# differently from compose (VARIABLE): where to listen, how many threads, node names.
COMMANDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "migrate": (
        tuple(shlex.split("python manage.py migrate --noinput")),
        tuple(shlex.split("python manage.py gateway_bootstrap")),
    ),
    "gateway": (
        tuple(
            shlex.split(
                "uvicorn openclaw_site.asgi:application --host={host} --port={port} "
                "--http=httptools --ws=websockets-sansio --ws-max-size=26214400 --lifespan=off "
                "--no-proxy-headers --no-server-header --no-access-log "
                "--timeout-graceful-shutdown=2"
            )
        ),
    ),
    "worker": (
        tuple(
            shlex.split(
                "celery -A openclaw_site worker -l info -Q default,llm,connectors "
                "--pool threads -c {concurrency} --hostname={node}"
            )
        ),
    ),
    "beat": (tuple(shlex.split("celery -A openclaw_site beat -l info")),),
}
VARIABLE = ("host", "port", "concurrency", "node")

SECRET_KEY = "team-secret-" + "s" * 40
ENCRYPTION_KEY = "dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAxMjM="
START_S = 60.0
FINAL_STATES = ("final", "error", "aborted")


def wait_until(what: str, probe: Callable[[], T | None], within: float = 60.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail saying what never came."""
    deadline = time.monotonic() + within
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within:g}s waiting for {what}")
        time.sleep(0.1)


def team_env(
    *, database_url: str, redis_url: str, llm: FakeServerProcess, **extra: str
) -> dict[str, str]:
    """The environment every process of a test topology shares (team mode, the fake LLM).

    Leases, sweeps and cron ticks are short, so a dead worker's run or poller is taken
    over within seconds (``OPENCLAW_MODEL_TIMEOUT_S`` must stay below the run lease).
    """
    env = gateway_env(Path("/nonexistent"), llm)
    env.pop("OPENCLAW_DATA_DIR")  # each process gets its own (Service)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DJANGO_SECRET_KEY=SECRET_KEY,
        OPENCLAW_ENCRYPTION_KEY=ENCRYPTION_KEY,
        # The shared test database keeps the token; see TEAM_TOKEN.
        OPENCLAW_GATEWAY_TOKEN=TEAM_TOKEN,
        OPENCLAW_WORK_LEASE_SECONDS="10",
        OPENCLAW_MODEL_TIMEOUT_S="8",
        OPENCLAW_SWEEP_INTERVAL_SECONDS="5",
        OPENCLAW_CRON_TICK_SECONDS="1",
        LOG_LEVEL="info",
        # As the image and the systemd units do: this checkout's code, whatever the cwd.
        PYTHONPATH=str(REPO),
    )
    env.update(extra)
    return env


def argv(service: str, **values: str) -> list[list[str]]:
    """``COMMANDS[service]`` with its placeholders filled, programs resolved in this venv."""
    commands = []
    for template in COMMANDS[service]:
        command = [part.format(**values) for part in template]
        command[0] = _program(command[0])
        commands.append(command)
    return commands


def _program(name: str) -> str:
    if name == "python":
        return sys.executable
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} is not installed in this environment")
    return found


def pong(broker_url: str) -> set[str]:
    """The names (``worker3`` of ``worker3@host``) of the workers answering a ping."""
    app = Celery("cluster-probe", broker=broker_url, set_as_current=False)
    try:
        replies = app.control.ping(timeout=0.5)
    finally:
        app.close()
    return {node.split("@", 1)[0] for reply in replies or [] for node in reply}


class Service:
    """One process of the topology; its output goes to ``log``."""

    def __init__(self, kind: str, name: str, command: list[str], env: dict[str, str], root: Path):
        self.kind = kind
        self.name = name
        self.command = command
        self.data_dir = root / "data" / name
        self.env = {**env, "OPENCLAW_DATA_DIR": str(self.data_dir)}
        self.log = root / "logs" / f"{name}.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self) -> Self:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # As compose's volume and systemd's StateDirectory: the data dir exists (beat
        # keeps its schedule there and does not create the directory).
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    def wait_ready(self, within: float = START_S) -> None:
        """Until a gateway answers ``/health``, a worker answers a remote-control ping
        (it consumes), a beat has opened its schedule file."""

        def ready() -> bool:
            if not self.alive:
                raise AssertionError(f"{self.name} exited:\n{self.output()[-4000:]}")
            if self.kind == "gateway":
                return self.get("/health")[0] == 200
            if self.kind == "worker":
                return self.name in pong(self.env["REDIS_URL"])
            return any(self.data_dir.glob("celerybeat-schedule*"))

        wait_until(f"{self.name} to be ready", ready, within)

    def get(self, path: str, timeout: float = 5) -> tuple[int, bytes]:
        """``GET`` on a gateway: (status, body); (0, b"") when nothing answers."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` and wait for the process to end (SIGKILL: no clean-up at all)."""
        assert self.proc is not None
        if self.alive:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (Celery's warm shutdown, uvicorn's graceful one), then SIGKILL."""
        if self.proc is None or not self.alive:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Cluster:
    """Gateways, workers and beats on one database and one Redis (see the module doc)."""

    def __init__(self, root: Path, env: dict[str, str], *, concurrency: int = 4) -> None:
        self.root = root
        self.env = env
        self.concurrency = concurrency
        self.services: list[Service] = []
        self.wanted = {"gateway": 0, "worker": 0, "beat": 0}
        self._serial = 0

    def of(self, kind: str) -> list[Service]:
        """The live services of a kind, oldest first."""
        return [s for s in self.services if s.kind == kind and s.alive]

    @property
    def gateways(self) -> list[Service]:
        return self.of("gateway")

    @property
    def workers(self) -> list[Service]:
        return self.of("worker")

    @property
    def beats(self) -> list[Service]:
        return self.of("beat")

    def migrate(self) -> None:
        """The compose ``migrate`` service: migrations, then agent main and the token."""
        for command in argv("migrate"):
            done = subprocess.run(
                command,
                cwd=REPO,
                env={**self.env, "OPENCLAW_DATA_DIR": str(self.root / "data" / "migrate")},
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, f"{command[1:]} failed:\n{done.stdout}\n{done.stderr}"

    def add(self, kind: str, *, wait: bool = True) -> Service:
        """Start one more service of ``kind`` (and count it in what ``heal`` keeps)."""
        self.wanted[kind] += 1
        service = self._spawn(kind)
        if wait:
            service.wait_ready()
        return service

    def _spawn(self, kind: str) -> Service:
        self._serial += 1
        name = f"{kind}{self._serial}"
        port = free_port() if kind == "gateway" else 0
        values = {
            "host": "127.0.0.1",
            "port": str(port),
            "concurrency": str(self.concurrency),
            "node": f"{name}@%h",
        }
        [command] = argv(kind, **values)
        service = Service(kind, name, command, self.env, self.root)
        service.port = port
        self.services.append(service)
        return service.start()

    def start(self, *, gateways: int, workers: int, beats: int = 1) -> None:
        """Start the topology; every process boots at once, then all are waited for."""
        started = [
            self.add(kind, wait=False)
            for kind, count in (("gateway", gateways), ("worker", workers), ("beat", beats))
            for _ in range(count)
        ]
        for service in started:
            service.wait_ready()

    def retire(self, service: Service) -> None:
        """Stop a service for good: ``heal`` does not replace it."""
        service.stop()
        self.wanted[service.kind] -= 1

    def heal(self) -> list[Service]:
        """Start a replacement for each service that died, back to the counts started."""
        added = [
            self._spawn(kind)
            for kind, count in self.wanted.items()
            for _ in range(count - len(self.of(kind)))
        ]
        for service in added:
            service.wait_ready()
        return added

    def stop(self) -> None:
        """SIGTERM to every process at once (a worker's warm shutdown may wait for a long
        poll), then each is waited for, or killed."""
        running = [s for s in self.services if s.alive]
        for service in running:
            assert service.proc is not None
            service.proc.terminate()
        deadline = time.monotonic() + 15
        for service in running:
            assert service.proc is not None
            try:
                service.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                service.kill()

    def logs(self, last: int = 3000) -> str:
        """The tail of every process's output, for a failure message."""
        return "\n".join(f"--- {s.name}:\n{s.output()[-last:]}" for s in self.services)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --- clients ------------------------------------------------------------------------------
SCOPES = ["operator.read", "operator.write", "operator.admin"]


async def client_of(gateway: Service) -> OpenClawClient:
    """An operator client (OpenClaw's CLI handshake) connected to this gateway."""
    client = OpenClawClient(gateway.ws_url, timeout=30)
    await client.open()
    hello = await client.connect(token=TEAM_TOKEN, scopes=SCOPES)
    assert hello["ok"], hello
    return client


async def until(what: str, probe: Callable[[], T | None], within: float = 60.0) -> T:
    """``wait_until`` for async code: the clients' readers go on meanwhile."""
    deadline = time.monotonic() + within
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within:g}s waiting for {what}")
        await asyncio.sleep(0.05)


def chat_events(client: OpenClawClient, run_id: str) -> list[dict[str, Any]]:
    """The payloads of the ``chat`` events of one run this client received, in order."""
    return [
        e["payload"]
        for e in client.events
        if e.get("event") == "chat" and e["payload"].get("runId") == run_id
    ]


def finals(client: OpenClawClient, run_id: str) -> list[dict[str, Any]]:
    return [p for p in chat_events(client, run_id) if p.get("state") in FINAL_STATES]


async def final_of(client: OpenClawClient, run_id: str, within: float = 60.0) -> dict[str, Any]:
    """The run's final (or error/aborted) ``chat`` event, once this client has it."""
    found = await until(f"the final of run {run_id}", lambda: finals(client, run_id), within)
    return found[0]


def text_of(message: dict[str, Any] | None) -> str:
    """The text of a transcript or chat-event message (its text parts joined)."""
    if not message:
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


async def send_chat(client: OpenClawClient, session_key: str, text: str) -> str:
    """``chat.send``; returns the run id (a fresh idempotency key)."""
    run_id = f"cl-{uuid.uuid4().hex[:12]}"
    res = await client.call(
        "chat.send", {"sessionKey": session_key, "message": text, "idempotencyKey": run_id}
    )
    assert res["ok"], res
    return run_id


async def history(client: OpenClawClient, session_key: str) -> list[dict[str, Any]]:
    res = await client.call("chat.history", {"sessionKey": session_key})
    assert res["ok"], res
    messages: list[dict[str, Any]] = res["payload"]["messages"]
    return messages
