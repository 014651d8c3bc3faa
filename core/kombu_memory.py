"""kombu's in-process ``memory://`` transport, woken on publish instead of polled.

The stock transport sleeps ``polling_interval`` (1 s) after every empty poll, so a
task published just after a poll waits up to a second, while a short interval keeps an
idle worker spinning. Here a publish sets an event that the draining worker waits on:
tasks start at once and an idle worker wakes only every ``polling_interval`` seconds.
"""

from __future__ import annotations

import itertools
import threading
from queue import Empty, Queue
from time import monotonic
from typing import Any

from kombu.transport import memory

_published = threading.Event()
# Set at shutdown: the draining worker returns at once instead of at its poll timeout.
_interrupt = threading.Event()
# Worker processes' gets (core.localbroker) wait on this; a publish notifies it.
_changed = threading.Condition()


def _notify() -> None:
    _published.set()
    with _changed:
        _changed.notify_all()


class Channel(memory.Channel):
    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        super()._put(queue, message, **kwargs)
        _notify()

    # An ack or reject frees a prefetch slot: the draining worker, which may be waiting
    # because every slot was taken, must look again now, not at its next poll.
    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)
        _published.set()

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue)
        _published.set()

    def _put_fanout(
        self, exchange: str, message: dict[str, Any], routing_key: str | None = None, **kwargs: Any
    ) -> None:
        super()._put_fanout(exchange, message, routing_key, **kwargs)
        _notify()


class Transport(memory.Transport):
    Channel = Channel

    # The stubs of kombu's base and virtual transports disagree on this signature.
    def drain_events(self, connection: Any, timeout: float | None = None) -> None:  # type: ignore[override]
        started = monotonic()
        assert self.cycle is not None
        get = self.cycle.get
        interval = self.polling_interval or 1.0
        while True:
            # Clear before polling: a publish that lands after the poll re-sets it.
            _published.clear()
            try:
                get(self._deliver, timeout=timeout)
            except Empty:
                if timeout is not None:
                    remaining = timeout - (monotonic() - started)
                    if remaining <= 0:
                        raise TimeoutError() from None
                    _published.wait(min(interval, remaining))
                else:
                    _published.wait(interval)
                if _interrupt.is_set():
                    _interrupt.clear()
                    raise TimeoutError() from None
            else:
                return


def wake_all() -> None:
    """Make a worker blocked in ``drain_events`` return now (used at shutdown)."""
    _interrupt.set()
    _notify()


# --- the queues served to worker processes (core.localbroker) -------------------------
def _queue(name: str) -> Queue[Any]:
    queues: dict[str, Queue[Any]] = memory.Channel.queues
    queue = queues.get(name)
    if queue is None:
        queue = queues.setdefault(name, Queue())
    return queue


_turn = itertools.count()


def put(queue: str, message: Any) -> None:
    """Queue a message that a worker process published."""
    _queue(queue).put(message)
    _notify()


def get_any(
    queues: list[str], timeout: float, *, stopped: threading.Event
) -> tuple[str, Any] | None:
    """The next message of the first of ``queues`` that has one, waiting at most
    ``timeout`` seconds; ``None`` when none came (or ``stopped`` is set)."""
    deadline = monotonic() + timeout
    # Start at a different queue each time: a busy queue must not starve the others.
    start = next(_turn) % len(queues) if queues else 0
    order = queues[start:] + queues[:start]
    with _changed:
        while not stopped.is_set():
            for name in order:
                try:
                    return name, _queue(name).get_nowait()
                except Empty:
                    continue
            remaining = deadline - monotonic()
            if remaining <= 0:
                return None
            _changed.wait(remaining)
    return None


def size(queue: str) -> int:
    return _queue(queue).qsize()


def purge(queue: str) -> int:
    q = _queue(queue)
    with q.mutex:
        count = len(q.queue)
        q.queue.clear()
    return count
