"""The deadline sweeper: a background task that expires due intents and finishes refunds
the provider has not confirmed yet. Safe to run in every replica: each action is an
expected-sequence append, so two sweepers (or a sweeper and a callback) cannot both win.
"""

from __future__ import annotations

from bobaku.kernel.tasks import BackgroundTask
from bobaku.services.payment.service_layer.handlers import PaymentContext, sweep_deadlines

BATCH = 100


def deadline_sweeper(ctx: PaymentContext, interval_s: float) -> BackgroundTask:
    async def step() -> bool:
        # A full batch means more are due: go on at once.
        return await sweep_deadlines(ctx, BATCH) >= BATCH

    # Back-off capped at a few seconds: after a database outage, expiries and unconfirmed
    # refunds resume within seconds of its return, not a minute later.
    return BackgroundTask(
        "payment-deadline-sweeper", step, interval_s=interval_s, max_backoff_s=5.0
    )
