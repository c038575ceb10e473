"""Calling another platform service over HTTP, safely.

:class:`ServiceClient` wraps one upstream with:

- a timeout per attempt and retries with back-off, only for requests that are safe to repeat
  (GET/PUT/DELETE, or a POST carrying an ``Idempotency-Key``), and only on connection
  errors, timeouts, 502/503/504;
- a retry *budget* (retries may add at most ~20% to the traffic), so a struggling upstream
  is not buried under retries;
- a circuit breaker: after consecutive failures the upstream is not called for a while and
  callers get ``503 circuit_open`` at once; one trial call closes it again. While it is
  open, the upstream's ``/readyz`` is probed a few times a second (``ready_path``), and the
  breaker closes as soon as it answers 200, so callers do not wait out ``reset_after_s``
  once the upstream is back;
- a bulkhead: a cap on concurrent calls, so one slow upstream cannot take every connection;
- the caller's correlation and trace ids on every request.

Upstream error envelopes come back as the same :class:`BobakuError` (status, code, details),
so a 409 from the menu service is a 409 to our caller too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict

from bobaku.kernel import tracing
from bobaku.kernel.context import current_correlation_id, current_trace_id
from bobaku.kernel.errors import BobakuError, DependencyUnavailable
from bobaku.kernel.telemetry import BREAKER_STATE, BREAKER_STATES, UPSTREAM_CALLS, UPSTREAM_LATENCY

RETRYABLE_STATUS = frozenset({502, 503, 504})
SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class UpstreamError(BobakuError):
    status = 502
    code = "upstream_error"


class UpstreamTimeout(BobakuError):
    status = 504
    code = "upstream_timeout"


class CircuitOpen(DependencyUnavailable):
    code = "circuit_open"


class BulkheadFull(DependencyUnavailable):
    code = "bulkhead_full"


@dataclass
class CircuitBreaker:
    failure_threshold: int = 5
    reset_after_s: float = 5.0
    failures: int = 0
    opened_at: float | None = None
    _trial_in_flight: bool = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if time.monotonic() - self.opened_at >= self.reset_after_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def close(self) -> None:
        """The upstream is known good again (its readiness probe answered 200)."""
        self._trial_in_flight = False
        self.failures, self.opened_at = 0, None

    def record(self, ok: bool) -> None:
        self._trial_in_flight = False
        if ok:
            self.failures, self.opened_at = 0, None
            return
        self.failures += 1
        if self.failures >= self.failure_threshold:
            self.opened_at = time.monotonic()


@dataclass
class RetryBudget:
    """Allows retries up to ``ratio`` of recent requests (plus a small floor)."""

    ratio: float = 0.2
    floor: int = 10
    window_s: float = 10.0
    _requests: float = 0.0
    _retries: float = 0.0
    _at: float = field(default_factory=time.monotonic)

    def _decay(self) -> None:
        now = time.monotonic()
        if now - self._at > self.window_s:
            self._requests, self._retries, self._at = 0.0, 0.0, now

    def on_request(self) -> None:
        self._decay()
        self._requests += 1

    def try_spend(self) -> bool:
        self._decay()
        if self._retries < self.floor + self.ratio * self._requests:
            self._retries += 1
            return True
        return False


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class ServiceClient:
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 3.0,
        retries: int = 2,
        max_concurrent: int = 64,
        breaker: CircuitBreaker | None = None,
        session: aiohttp.ClientSession | None = None,
        ready_path: str | None = "/readyz",
        probe_interval_s: float = 0.2,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.retries = retries
        self.breaker = breaker or CircuitBreaker()
        self.budget = RetryBudget()
        self._bulkhead = asyncio.Semaphore(max_concurrent)
        self._session = session
        self._owns_session = session is None
        # Our own services answer /readyz; an external one (a payment provider) passes None
        # and recovers through the breaker's half-open trial alone.
        self.ready_path = ready_path
        self.probe_interval_s = probe_interval_s
        self._probe: asyncio.Task[None] | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=60),
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None
        if self._owns_session and self._session is not None:
            await self._session.close()

    def _watch_recovery(self) -> None:
        """With the breaker open, probe readiness in the background until it answers."""
        if self.ready_path is None or self.breaker.opened_at is None:
            return
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._probe_ready(), name=f"probe-{self.name}")

    async def _probe_ready(self) -> None:
        url = self.base_url + (self.ready_path or "")
        timeout = aiohttp.ClientTimeout(total=min(self.timeout_s, 1.0))
        while self.breaker.opened_at is not None:
            try:
                async with self.session.get(url, timeout=timeout) as resp:
                    if resp.status == 200:
                        self.breaker.close()
                        BREAKER_STATE.labels(self.name).set(BREAKER_STATES["closed"])
                        return
            except (TimeoutError, aiohttp.ClientError):
                pass
            await asyncio.sleep(self.probe_interval_s)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        token: str | None = None,
        retry_safe: bool | None = None,
    ) -> Reply:
        """One logical call (with retries); returns whatever the upstream answered.

        ``retry_safe`` overrides the method's default: a read-only POST may be retried."""
        method = method.upper()
        send_headers = {"X-Correlation-ID": current_correlation_id()}
        if not tracing.enabled():  # otherwise the instrumented session sends its span's context
            send_headers["traceparent"] = (
                f"00-{current_trace_id()}-{random.getrandbits(64):016x}-01"
            )
        if token or self.token:
            send_headers["Authorization"] = f"Bearer {token or self.token}"
        send_headers.update(headers or {})
        repeatable = (
            retry_safe
            if retry_safe is not None
            else method in SAFE_METHODS or "Idempotency-Key" in send_headers
        )
        self.budget.on_request()
        started = time.perf_counter()
        try:
            return await self._call(method, path, json_body, body, send_headers, params, repeatable)
        finally:
            UPSTREAM_LATENCY.labels(self.name).observe(time.perf_counter() - started)
            BREAKER_STATE.labels(self.name).set(BREAKER_STATES[self.breaker.state])

    async def _call(
        self,
        method: str,
        path: str,
        json_body: Any,
        body: bytes | None,
        send_headers: dict[str, str],
        params: Mapping[str, str] | None,
        repeatable: bool,
    ) -> Reply:
        attempt = 0
        while True:
            if not self.breaker.allow():
                UPSTREAM_CALLS.labels(self.name, "circuit_open").inc()
                raise CircuitOpen(
                    f"{self.name} is failing; not calling it for a few seconds",
                    details={"upstream": self.name},
                )
            try:
                reply = await self._once(method, path, json_body, body, send_headers, params)
            except (TimeoutError, aiohttp.ClientConnectionError) as exc:
                self.breaker.record(False)
                self._watch_recovery()
                outcome: str | Reply = "timeout" if isinstance(exc, TimeoutError) else "unreachable"
            else:
                self.breaker.record(reply.status < 500)
                self._watch_recovery()
                outcome = reply
                if reply.status not in RETRYABLE_STATUS:
                    UPSTREAM_CALLS.labels(self.name, str(reply.status)).inc()
                    return reply
            attempt += 1
            if not (repeatable and attempt <= self.retries and self.budget.try_spend()):
                return self._give_up(outcome)
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + random.random()))

    def _give_up(self, outcome: str | Reply) -> Reply:
        if isinstance(outcome, Reply):
            UPSTREAM_CALLS.labels(self.name, str(outcome.status)).inc()
            return outcome
        UPSTREAM_CALLS.labels(self.name, outcome).inc()
        if outcome == "timeout":
            raise UpstreamTimeout(
                f"{self.name} did not answer within {self.timeout_s}s",
                details={"upstream": self.name},
            )
        raise DependencyUnavailable(f"{self.name} is unreachable", details={"upstream": self.name})

    async def _once(
        self,
        method: str,
        path: str,
        json_body: Any,
        body: bytes | None,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None,
    ) -> Reply:
        try:
            await asyncio.wait_for(self._bulkhead.acquire(), timeout=self.timeout_s)
        except TimeoutError as exc:
            raise BulkheadFull(
                f"too many calls in flight to {self.name}", details={"upstream": self.name}
            ) from exc
        try:
            async with self.session.request(
                method,
                self.base_url + path,
                json=json_body,
                data=body,
                headers=headers,
                params=params,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            ) as resp:
                # Header names as sent may differ in case (aiohttp writes ETag as Etag).
                return Reply(resp.status, CIMultiDict(resp.headers), await resp.read())
        finally:
            self._bulkhead.release()

    async def request(self, method: str, path: str, **kw: Any) -> Any:
        """Call and unwrap ``{"status": "success", "data": ...}``; errors are raised as ours."""
        reply = await self.call(method, path, **kw)
        payload = _json_or_none(reply)
        if 200 <= reply.status < 300:
            return payload.get("data") if isinstance(payload, dict) else payload
        raise error_from_reply(self.name, reply, payload)


def _json_or_none(reply: Reply) -> Any:
    try:
        return reply.json()
    except ValueError:
        return None


def error_from_reply(upstream: str, reply: Reply, payload: Any) -> BobakuError:
    """The upstream's error, with its status and code, or a 502 if it sent no envelope."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        error = payload["error"]
        err = BobakuError(str(error.get("message", "upstream error")), details=error.get("details"))
        err.status = reply.status if 400 <= reply.status < 600 else 502
        err.code = str(error.get("code", "upstream_error"))
        return err
    return UpstreamError(
        f"{upstream} answered {reply.status} without an error envelope",
        details={"upstream": upstream, "status": reply.status},
    )
