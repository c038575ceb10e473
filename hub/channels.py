"""Channel names, their namespaces, and the JetStream subjects that carry them.

| channel                  | namespace | subject                    | presence |
|--------------------------|-----------|----------------------------|----------|
| ``order:{id}``           | order     | ``<prefix>.order.{id}``    | no       |
| ``outlet:{id}:kitchen``  | kitchen   | ``<prefix>.kitchen.{id}``  | yes      |
| ``franchise:{id}:ops``   | ops       | ``<prefix>.ops.{id}``      | no       |
| ``user:{id}:inbox``      | inbox     | ``<prefix>.inbox.{id}``    | no       |

``<prefix>`` is ``<HUB_SUBJECT_PREFIX>.<DEPLOYMENT_ID>`` (``hub.bobaku``): deployments that
share a NATS server (a test run beside ``make run``) keep separate channel histories.

Ids are restricted to letters, digits, ``_`` and ``-`` so that a channel maps to exactly one
subject token and a client can never name a wildcard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeGuard

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class Namespace(StrEnum):
    ORDER = "order"
    KITCHEN = "kitchen"
    OPS = "ops"
    INBOX = "inbox"

    @property
    def has_presence(self) -> bool:
        return self is Namespace.KITCHEN


_FORMS: dict[Namespace, tuple[str, str]] = {
    Namespace.ORDER: ("order:", ""),
    Namespace.KITCHEN: ("outlet:", ":kitchen"),
    Namespace.OPS: ("franchise:", ":ops"),
    Namespace.INBOX: ("user:", ":inbox"),
}


class UnknownChannel(ValueError):
    """The name matches no namespace, or its id has characters a channel may not carry."""


@dataclass(frozen=True, slots=True)
class Channel:
    namespace: Namespace
    id: str

    @property
    def name(self) -> str:
        head, tail = _FORMS[self.namespace]
        return f"{head}{self.id}{tail}"

    def subject(self, prefix: str) -> str:
        return f"{prefix}.{self.namespace.value}.{self.id}"

    def __str__(self) -> str:
        return self.name


def parse_channel(name: str) -> Channel:
    """``"outlet:outlet-23:kitchen"`` → ``Channel(KITCHEN, "outlet-23")``."""
    for namespace, (head, tail) in _FORMS.items():
        if name.startswith(head) and name.endswith(tail):
            ident = name[len(head) : len(name) - len(tail)]
            if ID_PATTERN.match(ident):
                return Channel(namespace, ident)
    raise UnknownChannel(
        f"{name!r} is not a channel; use order:{{id}}, outlet:{{id}}:kitchen, "
        "franchise:{id}:ops or user:{id}:inbox (ids: letters, digits, '_' and '-')"
    )


def channel_of_subject(subject: str, prefix: str) -> Channel | None:
    """The channel a history subject carries, or None for a subject that is not one."""
    if not subject.startswith(prefix + "."):
        return None
    namespace, _, ident = subject[len(prefix) + 1 :].partition(".")
    if not ID_PATTERN.match(ident):
        return None
    try:
        return Channel(Namespace(namespace), ident)
    except ValueError:
        return None


def order_channel(order_id: str) -> Channel:
    return Channel(Namespace.ORDER, order_id)


def kitchen_channel(outlet_id: str) -> Channel:
    return Channel(Namespace.KITCHEN, outlet_id)


def ops_channel(franchise_id: str) -> Channel:
    return Channel(Namespace.OPS, franchise_id)


def inbox_channel(user_id: str) -> Channel:
    return Channel(Namespace.INBOX, user_id)


def valid_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(ID_PATTERN.match(value))
