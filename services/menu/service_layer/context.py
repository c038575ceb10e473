"""What the handlers and views work with, wired once in ``bootstrap.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bobaku.kernel.cache import Cache
from bobaku.kernel.events import Event, EventMetadata, new_event
from bobaku.services.menu.adapters.repository import MenuRepository
from bobaku.services.menu.domain.events import MenuChanged
from bobaku.services.menu.service_layer.caching import Tags

Clock = Callable[[], datetime]

EVENT_SOURCE = "menu-service"


def from_deployment(event: Event, deployment: str) -> Event:
    """``event`` with ``metadata.deployment`` set: whose catalog it is about.

    Catalog data lives in each deployment's own databases, but deployments may share a NATS
    server (a test run beside ``make run``); their caches must not react to each other's
    catalog changes.
    """
    metadata = EventMetadata(**event.metadata.model_dump(), deployment=deployment)
    return event.model_copy(update={"metadata": metadata})


def concerns(event: Event, deployment: str) -> bool:
    origin = event.metadata.model_dump().get("deployment")
    return origin is None or origin == deployment


@dataclass
class MenuContext:
    repository: MenuRepository
    cache: Cache
    # The time, as an aware datetime; tests pass their own to check hours and seasons.
    clock: Clock
    default_timezone: str
    # Who we are among the deployments that may share NATS and Redis (DEPLOYMENT_ID).
    deployment: str

    @property
    def tags(self) -> Tags:
        return Tags(self.deployment)

    def event(self, change: MenuChanged) -> Event:
        event = new_event(
            change.type,
            change.data,
            source=EVENT_SOURCE,
            tenant=change.tenant,
            version=change.version,
        )
        return from_deployment(event, self.deployment)
