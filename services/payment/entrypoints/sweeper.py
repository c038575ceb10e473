"""The deadline sweeper: a background loop that expires due intents and finishes refunds
the provider has not confirmed yet. Safe to run in every replica: each action is an
expected-sequence append, so two sweepers (or a sweeper and a callback) cannot both win.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bobaku.services.payment.service_layer.handlers import PaymentContext, sweep_deadlines

log = logging.getLogger(__name__)

BATCH = 100


class DeadlineSweeper:
    def __init__(self, ctx: PaymentContext, interval_s: float) -> None:
        self.ctx = ctx
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="payment-deadline-sweeper")

    async def _run(self) -> None:
        while True:
            handled = 0
            try:
                handled = await sweep_deadlines(self.ctx, BATCH)
            except Exception:
                log.exception("deadline sweep failed")
            # A full batch means more are due: go on at once.
            await asyncio.sleep(0 if handled >= BATCH else self.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
