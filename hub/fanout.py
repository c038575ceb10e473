"""The subscriptions held on this replica and the delivery of publications to them.

A publication's frame is encoded once and written to every subscriber of its channel.
Each subscription remembers the highest offset it has been given, so a publication that
reaches it twice (once from history during recovery, once live) is delivered once; while a
subscription is being set up, live publications wait in its ``pending`` list and are
delivered right after the subscribe reply.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bobaku.hub.broker import StoredPublication
from bobaku.hub.channels import Channel, Namespace
from bobaku.hub.metrics import (
    DELIVERY_LATENCY,
    FANOUT_SIZE,
    MESSAGES_OUT,
    PUBLICATIONS_RECEIVED,
    SUBSCRIPTIONS,
)
from bobaku.hub.protocol import publication_frame

if TYPE_CHECKING:
    from bobaku.hub.session import Session

_PUBS_OUT = MESSAGES_OUT.labels("pub")
_RECEIVED = {ns: PUBLICATIONS_RECEIVED.labels(ns.value) for ns in Namespace}
_SUBSCRIBED = {ns: SUBSCRIPTIONS.labels(ns.value) for ns in Namespace}


class Subscription:
    __slots__ = ("channel", "last_offset", "pending", "session")

    def __init__(self, channel: Channel, session: Session) -> None:
        self.channel = channel
        self.session = session
        self.last_offset = 0
        self.pending: list[StoredPublication] | None = []

    def deliver(self, publication: StoredPublication) -> bool:
        if publication.offset <= self.last_offset:
            return False
        self.last_offset = publication.offset
        frame = publication_frame(self.channel.name, publication.offset, publication.body)
        return self.session.send(frame)


class Fanout:
    def __init__(self) -> None:
        self._channels: dict[str, dict[str, Subscription]] = {}

    def add(self, subscription: Subscription) -> None:
        self._channels.setdefault(subscription.channel.name, {})[subscription.session.id] = (
            subscription
        )
        _SUBSCRIBED[subscription.channel.namespace].inc()

    def remove(self, subscription: Subscription) -> None:
        name = subscription.channel.name
        subscribers = self._channels.get(name)
        if subscribers is None or subscribers.get(subscription.session.id) is not subscription:
            return
        del subscribers[subscription.session.id]
        if not subscribers:
            del self._channels[name]
        _SUBSCRIBED[subscription.channel.namespace].dec()

    def subscribers(self, channel_name: str) -> list[Subscription]:
        return list(self._channels.get(channel_name, {}).values())

    def deliver(self, publication: StoredPublication) -> None:
        """Write one publication to every local subscriber of its channel."""
        _RECEIVED[publication.channel.namespace].inc()
        subscribers = self._channels.get(publication.channel.name)
        if not subscribers:
            return
        frame: bytes | None = None
        offset = publication.offset
        sent = 0
        # A copy: a slow client is removed from the dict while we iterate.
        for subscription in list(subscribers.values()):
            if subscription.pending is not None:
                subscription.pending.append(publication)
                continue
            if offset <= subscription.last_offset:
                continue
            if frame is None:
                frame = publication_frame(publication.channel.name, offset, publication.body)
            subscription.last_offset = offset
            if subscription.session.send(frame):
                sent += 1
        _PUBS_OUT.inc(sent)
        FANOUT_SIZE.observe(sent)
        if sent and publication.event_time is not None:
            DELIVERY_LATENCY.observe(max(0.0, time.time() - publication.event_time))
