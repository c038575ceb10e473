"""Which channels a source event feeds, and what their subscribers read.

- ``order.*`` (ES_ORDER, ``es.order.<fr>.<order>``) → ``order:{order_id}``,
  ``outlet:{outlet_id}:kitchen``, ``franchise:{fr}:ops``
- ``payment.*`` (ES_PAYMENT, ``es.payment.<fr>.<intent>``) → ``franchise:{fr}:ops``
- ``notification.requested`` (EVENTS, ``events.<fr>.notification.requested``) →
  ``user:{user_id}:inbox``, as a message rendered in the user's language
- ``analytics.figures_moved`` (EVENTS, ``events.<fr>.analytics.figures_moved``) →
  ``franchise:{fr}:ops`` and ``outlet:{outlet_id}:kitchen`` of each outlet it names (the
  dashboard reloads its figures from the analytics API when they moved)

Plain functions without I/O. A publication's data is the event in a compact form
(``id``, ``type``, ``timestamp``, ``tenant``, ``data``); for the inbox, ``data`` is the
rendered message. Ids that could not name a channel are skipped, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bobaku.hub.channels import (
    Channel,
    inbox_channel,
    kitchen_channel,
    ops_channel,
    order_channel,
    valid_id,
)
from bobaku.hub.notifications import render, wants_in_app
from bobaku.hub.protocol import encode
from bobaku.kernel.events import Event
from bobaku.kernel.events.envelope import utc_iso

NOTIFICATION_REQUESTED = "notification.requested"
FIGURES_MOVED = "analytics.figures_moved"


@dataclass(frozen=True, slots=True)
class ChannelRoute:
    channel: Channel
    body: bytes  # the publication's data, JSON
    # The message id in the channel history: a repeat of the same route is stored once.
    msg_id: str


def routes_for(event: Event, subject: str) -> list[ChannelRoute]:
    tokens = subject.split(".")
    channels: list[Channel] = []
    payload: dict[str, Any] = event.data
    payload_type = event.type
    if event.type.startswith("order.") and tokens[:2] == ["es", "order"]:
        franchise = event.tenant or _token(tokens, 2)
        order_id = event.data.get("order_id") or _token(tokens, 3)
        for ident, make in (
            (order_id, order_channel),
            (event.data.get("outlet_id"), kitchen_channel),
            (franchise, ops_channel),
        ):
            if valid_id(ident):
                channels.append(make(ident))
    elif event.type.startswith("payment.") and tokens[:2] == ["es", "payment"]:
        franchise = event.tenant or _token(tokens, 2)
        if valid_id(franchise):
            channels.append(ops_channel(franchise))
    elif event.type == FIGURES_MOVED:
        franchise = event.data.get("franchise_id") or event.tenant
        if valid_id(franchise):
            channels.append(ops_channel(franchise))
            outlets = event.data.get("outlet_ids") or []
            channels += [kitchen_channel(o) for o in outlets if valid_id(o)]
    elif event.type == NOTIFICATION_REQUESTED:
        user_id = event.data.get("user_id")
        if valid_id(user_id) and wants_in_app(event.data):
            channels.append(inbox_channel(user_id))
            payload, payload_type = render(event.data), "notification"
    if not channels:
        return []
    body = encode(
        {
            "id": event.id,
            "type": payload_type,
            "timestamp": utc_iso(event.timestamp),
            "tenant": event.tenant,
            "data": payload,
        }
    )
    return [ChannelRoute(channel, body, f"{event.id}|{channel.name}") for channel in channels]


def _token(tokens: list[str], index: int) -> str | None:
    return tokens[index] if len(tokens) > index else None
