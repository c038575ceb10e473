"""Where one deployment's streams, subjects and key-value buckets live on a NATS server.

Two platforms (or a benchmark beside `make run`) may share one NATS server. Each is a
*deployment*, named by ``DEPLOYMENT_ID``; :func:`names_for` derives every JetStream name of
one deployment from that id, so two deployments never share a stream, a subject or a
bucket, and a consumer of one never sees the other's events:

=================  =======================  ==================================
name               deployment ``bobaku``    any other deployment ``<id>``
=================  =======================  ==================================
stream             ``ES_ORDER``             ``<id>_ES_ORDER``
subject            ``es.order.fr-1.o-9``    ``<id>.es.order.fr-1.o-9``
key-value bucket   ``hub_presence``         ``<id>_hub_presence``
durable consumer   ``bobaku-order-saga``    ``<id>-order-saga``
=================  =======================  ==================================

The default deployment keeps the names the platform has always used, so existing data,
dashboards and docs stay valid. The code names streams, subjects and buckets *logically*
(``streams.ORDER.name``, ``es.order.<tenant>.<id>``, ``Settings.routing_bucket``) and the
:class:`~bobaku.kernel.bus.EventBus` maps them at the NATS boundary with its
:class:`Names`; what a handler sees (``Delivery.subject``, ``Delivery.stream``) is logical
again. Code that talks to NATS itself (the hub's feed, a benchmark's raw subscription)
asks ``bus.names`` for the physical name.

A process may run its own consumers over another deployment's data (a replay, a second
analytics instance in a test) by setting ``NATS_DEPLOYMENT_ID`` to that deployment: its
durables stay named by its own ``DEPLOYMENT_ID``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_DEPLOYMENT = "bobaku"
DEPLOYMENT_PATTERN = r"^[a-z][a-z0-9-]{0,30}$"
# First subject tokens of the default deployment's streams: a deployment of that name would
# put its subjects inside the default deployment's (``es.es.order…`` is under ``es.>``).
RESERVED = frozenset({"es", "events", "deadletter", "hub"})


@dataclass(frozen=True)
class Names:
    """The JetStream names of one deployment (see the module's table)."""

    deployment_id: str = DEFAULT_DEPLOYMENT

    def __post_init__(self) -> None:
        if not re.match(DEPLOYMENT_PATTERN, self.deployment_id):
            raise ValueError(
                f"deployment id must match {DEPLOYMENT_PATTERN}: {self.deployment_id!r}"
            )
        if self.deployment_id in RESERVED:
            raise ValueError(f"deployment id {self.deployment_id!r} is reserved (a subject root)")

    @property
    def isolated(self) -> bool:
        """False for the default deployment, whose names carry no prefix."""
        return self.deployment_id != DEFAULT_DEPLOYMENT

    def stream(self, name: str) -> str:
        return f"{self.deployment_id}_{name}" if self.isolated else name

    def subject(self, subject: str) -> str:
        """A subject or filter; NATS's own (``$JS…``, ``$KV…``, ``_INBOX…``) stay as they are."""
        if not self.isolated or subject.startswith(("$", "_INBOX")):
            return subject
        return f"{self.deployment_id}.{subject}"

    def subjects(self, subjects: Iterable[str]) -> tuple[str, ...]:
        return tuple(self.subject(s) for s in subjects)

    def bucket(self, name: str) -> str:
        return f"{self.deployment_id}_{name}" if self.isolated else name

    def local_subject(self, subject: str) -> str:
        """The logical subject of a physical one (the inverse of :meth:`subject`)."""
        if self.isolated:
            return subject.removeprefix(f"{self.deployment_id}.")
        return subject

    def local_stream(self, name: str) -> str:
        if self.isolated:
            return name.removeprefix(f"{self.deployment_id}_")
        return name


def names_for(deployment_id: str = DEFAULT_DEPLOYMENT) -> Names:
    """The names of deployment ``deployment_id``: the one place they are derived."""
    return Names(deployment_id)
