"""Request-scoped identifiers carried through logs, events and outgoing calls.

The HTTP middleware and the event consumer set them; loggers and event constructors read
them, so a correlation id travels from the first HTTP request through every event it causes.
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)


def new_correlation_id() -> str:
    return f"corr-{secrets.token_hex(8)}"


def new_trace_id() -> str:
    # W3C trace-context width (16 bytes), so it can be handed to a tracer unchanged.
    return secrets.token_hex(16)


def current_correlation_id() -> str:
    return correlation_id_var.get() or new_correlation_id()


def current_trace_id() -> str:
    return trace_id_var.get() or new_trace_id()
