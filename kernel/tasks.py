"""Background tasks of a process: one helper instead of a hand-written loop per service.

A :class:`BackgroundTask` calls its ``step`` every ``interval_s`` until stopped. A step that
returns ``True`` has more work waiting (a full batch) and is called again at once. A step
that raises is logged with its traceback (an outage of a data server or NATS, one warning
line) and retried after a back-off that doubles from ``interval_s`` up to
``max_backoff_s``; the first success resets it. :func:`background`
turns tasks into an aiohttp ``cleanup_ctx`` entry: started with the app, stopped (cancelled
and awaited) on shutdown before the kernel closes the connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from bobaku.kernel.web import OUTAGES

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[bool | None]]


class BackgroundTask:
    def __init__(
        self, name: str, step: Step, *, interval_s: float, max_backoff_s: float = 60.0
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.name = name
        self.step = step
        self.interval_s = interval_s
        self.max_backoff_s = max(max_backoff_s, interval_s)
        self.failures = 0  # consecutive, reset by a success
        self.runs = 0  # steps that returned normally
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def delay(self) -> float:
        """How long to wait before the next step, given the consecutive failures."""
        if not self.failures:
            return self.interval_s
        backoff: float = self.interval_s * 2.0 ** min(self.failures, 30)
        return min(backoff, self.max_backoff_s)

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"background task {self.name} is already running")
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            more = False
            try:
                more = bool(await self.step())
            except asyncio.CancelledError:
                raise
            except OUTAGES as exc:
                # A data server or NATS away: expected during a restart, no traceback.
                self.failures += 1
                log.warning(
                    "background task %s: a dependency is unavailable (%s: %s); next try in %.1fs",
                    self.name,
                    type(exc).__name__,
                    str(exc)[:200],
                    self.delay(),
                    extra={"task": self.name, "failures": self.failures},
                )
            except Exception:
                self.failures += 1
                log.exception(
                    "background task %s failed; next try in %.1fs",
                    self.name,
                    self.delay(),
                    extra={"task": self.name, "failures": self.failures},
                )
            else:
                self.failures = 0
                self.runs += 1
            if _cancel_requested():
                # The step swallowed the cancellation (Python 3.11's asyncio.wait_for, which
                # the NATS client uses, may return a result that raced it): stop anyway, or
                # stop() would wait for ever.
                raise asyncio.CancelledError
            await asyncio.sleep(0 if more else self.delay())


def _cancel_requested() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def background(
    *tasks: BackgroundTask,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp ``cleanup_ctx`` entry that runs ``tasks`` for the app's lifetime."""

    async def run(_: web.Application) -> AsyncIterator[None]:
        for task in tasks:
            task.start()
        try:
            yield
        finally:
            for task in reversed(tasks):
                await task.stop()

    return run
