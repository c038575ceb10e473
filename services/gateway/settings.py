"""The gateway's settings: the kernel's plus what only the gateway reads."""

from __future__ import annotations

from pydantic import Field

from bobaku.kernel.settings import Settings


class GatewaySettings(Settings):
    cors_origins: list[str] = Field(
        default=["http://127.0.0.1:18888", "http://localhost:18888"],
        description="origins (the hub's pages, web apps) allowed to call the API from a browser",
    )
    rate_limit_per_minute: int = Field(default=600, ge=1)
    anonymous_rate_limit_per_minute: int = Field(default=120, ge=1)
    login_rate_limit_per_minute: int = Field(default=20, ge=1)
    # Logins per account (the email in the body), whatever the address they come from, so
    # guessing one account's password from many addresses is slowed down too.
    login_account_rate_limit_per_minute: int = Field(default=10, ge=1)
    # Requests per client address that carry a token, counted *before* the token is
    # verified: a flood of forged tokens is refused with 429 without costing a verification.
    ip_rate_limit_per_minute: int = Field(default=1200, ge=1)
    upstream_timeout_s: float = Field(default=5.0, gt=0)
    # How long a POST's Idempotency-Key stays "in progress" unless its request finishes: a
    # lease, so the key of a request whose gateway died mid-way (SIGKILL, a lost node) is
    # free again for the client's retry (409 request_in_progress until then). Longer than
    # any request can run: the bulkhead's wait and three attempts of upstream_timeout_s.
    idempotency_lease_s: int = Field(default=30, ge=1)
