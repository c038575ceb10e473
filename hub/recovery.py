"""What a reconnecting client missed on one channel, or why the hub cannot say.

A client's position on a channel is a stream sequence of the hub's history (its *offset*)
and the stream's *epoch*. Given a position, recovery returns every publication of the
channel after it and up to ``upto`` (the replica feed's position; anything later reaches
the client live), in order, or ``recovered = False`` with a reason, after which the client
reloads its state over HTTP and carries on from the returned offset.

Continuity is proven, not assumed: the first publication after the offset must name, as
its predecessor on the channel, an offset not above the client's (see ``broker``'s chain).
When the channel has nothing after the offset, the stream's first sequence shows whether
age-based retention could have removed something the client never saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bobaku.hub.broker import ChannelHistory, StoredPublication
from bobaku.hub.channels import Channel
from bobaku.hub.protocol import RecoveryOutcome


@dataclass(frozen=True)
class Recovery:
    recovered: bool
    # The client's position once these are delivered: later publications arrive live.
    offset: int
    publications: list[StoredPublication] = field(default_factory=list)
    reason: RecoveryOutcome | None = None


async def recover(
    history: ChannelHistory,
    channel: Channel,
    *,
    offset: int,
    epoch: str | None,
    upto: int,
    limit: int,
) -> Recovery:
    start = max(offset, upto)
    if epoch != history.epoch:
        return Recovery(False, upto, reason=RecoveryOutcome.EPOCH_CHANGED)
    first = await history.next_after(channel, offset)
    if first is None:
        first_seq, last_seq = await history.bounds()
        if offset > last_seq:
            return Recovery(False, upto, reason=RecoveryOutcome.INVALID_OFFSET)
        if first_seq > offset + 1:
            # Publications after the offset may have aged out of the stream.
            return Recovery(False, start, reason=RecoveryOutcome.BEYOND_RETENTION)
        return Recovery(True, start)
    if first.prev is None or first.prev > offset:
        return Recovery(False, upto, reason=RecoveryOutcome.BEYOND_RETENTION)
    missed: list[StoredPublication] = []
    current: StoredPublication | None = first
    while current is not None and current.offset <= upto:
        missed.append(current)
        if len(missed) > limit:
            return Recovery(False, upto, reason=RecoveryOutcome.TOO_MANY)
        current = await history.next_after(channel, current.offset)
    return Recovery(True, start, missed)
