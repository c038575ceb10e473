"""What a process needs to know about how it is deployed: pooled or silo, and the merged
configuration file the operator writes.

- ``DEPLOYMENT_MODE=pooled`` (the default): one instance serves every franchise, choosing
  the franchise database per request.
- ``DEPLOYMENT_MODE=silo`` with ``FRANCHISE_ID``: the instance runs in that franchise's
  namespace, bound to its database, and serves that franchise only. Any request or data
  access for another franchise is refused with 403 and a security event
  (:meth:`Deployment.guard`), whoever asks — even HQ, whose requests for another franchise
  belong on that franchise's silo or the pooled services.
- ``BOBAKU_CONFIG_FILE``: the merged HQ → franchise (→ outlet) configuration, JSON, as the
  operator renders it into a ConfigMap mounted in the pod. :class:`LiveConfig` reads it at
  start-up and again whenever it changes (a ConfigMap update reaches the mounted file within
  the kubelet's sync period; the file is polled, because the kubelet swaps a symlink rather
  than writing the file, which inotify watches miss).

:func:`bobaku.kernel.web.create_app` installs both: ``app[DEPLOYMENT]`` and, when a file is
configured, ``app[CONFIG]`` with its reload task; a silo app also gets
:func:`silo_middleware`, which refuses a token of another franchise before any handler runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bobaku.kernel.errors import TenantForbidden
from bobaku.kernel.settings import Settings

log = logging.getLogger(__name__)
security_log = logging.getLogger("bobaku.security")


@dataclass(frozen=True)
class Deployment:
    mode: str = "pooled"
    franchise_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Deployment:
        if settings.deployment_mode == "silo":
            if not settings.franchise_id:
                raise ValueError("DEPLOYMENT_MODE=silo needs FRANCHISE_ID")
            return cls("silo", settings.franchise_id)
        return cls("pooled", None)

    @property
    def is_silo(self) -> bool:
        return self.mode == "silo"

    def guard(self, franchise_id: str | None, *, subject: str | None = None) -> None:
        """In a silo, refuse anything about a franchise other than this one (403, logged)."""
        if not self.is_silo or franchise_id is None or franchise_id == self.franchise_id:
            return
        self._refuse(franchise_id, subject)

    def guard_brand(self, *, subject: str | None = None) -> None:
        """In a silo, refuse a brand-wide request: a silo holds one franchise's data, so its
        answer would be that franchise's figures under the brand's name (403, logged)."""
        if self.is_silo:
            self._refuse("*", subject)

    def _refuse(self, franchise_id: str, subject: str | None) -> None:
        security_log.warning(
            "request for another franchise refused by a silo",
            extra={
                "security_event": "silo_tenant_violation",
                "subject": subject,
                "silo_franchise": self.franchise_id,
                "target_franchise": franchise_id,
            },
        )
        raise TenantForbidden(
            "this deployment serves only its own franchise",
            details={"franchise_id": franchise_id, "served_franchise": self.franchise_id},
        )


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or not a JSON object."""


def _read(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object, not {type(data).__name__}")
    return hashlib.sha256(raw).hexdigest(), data


class LiveConfig:
    """The merged configuration, kept current with its file.

    ``get("ordering", "acceptingOrders")`` walks nested keys. A file that becomes invalid
    is reported and ignored: the last good configuration stays in force.
    """

    def __init__(self, path: Path, *, poll_s: float = 2.0) -> None:
        self.path = path
        self.poll_s = poll_s
        self.digest, self._data = _read(path)
        self.generation = 1
        self._listeners: list[Callable[[Mapping[str, Any]], None]] = []

    @property
    def data(self) -> Mapping[str, Any]:
        return self._data

    def get(self, *keys: str, default: Any = None) -> Any:
        node: Any = self._data
        for key in keys:
            if not isinstance(node, Mapping) or key not in node:
                return default
            node = node[key]
        return node

    def on_change(self, listener: Callable[[Mapping[str, Any]], None]) -> None:
        self._listeners.append(listener)

    def reload(self) -> bool:
        """Read the file again; True when its content changed (and was valid)."""
        try:
            digest, data = _read(self.path)
        except ConfigError as exc:
            log.error("configuration not reloaded, keeping the last good one: %s", exc)
            return False
        if digest == self.digest:
            return False
        self.digest, self._data = digest, data
        self.generation += 1
        log.info("configuration reloaded from %s (generation %d)", self.path, self.generation)
        for listener in self._listeners:
            try:
                listener(data)
            except Exception:
                log.exception("a configuration listener failed")
        return True

    async def watch(self) -> None:
        """Poll the file until cancelled."""
        while True:
            await asyncio.sleep(self.poll_s)
            self.reload()
