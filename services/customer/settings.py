"""The customer service's settings: the kernel's, plus what only this service uses."""

from __future__ import annotations

from pydantic import Field

from bobaku.kernel.settings import Settings


class CustomerSettings(Settings):
    service_name: str = Field(default="customer", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    http_port: int = Field(default=18081, ge=0, le=65535)

    # Access tokens are short-lived; a session lives on through rotating refresh tokens.
    access_token_ttl_s: int = Field(default=900, ge=30, le=24 * 3600)
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)

    # argon2id cost. The defaults are argon2-cffi's (RFC 9106 "low memory" profile); a hash
    # made with other parameters is upgraded at the user's next successful login.
    password_hash_time_cost: int = Field(default=3, ge=1, le=20)
    password_hash_memory_kib: int = Field(default=65_536, ge=1024)
    password_hash_parallelism: int = Field(default=4, ge=1, le=16)
    # Hashing runs in its own threads so the event loop keeps serving; the bound also caps
    # the memory that concurrent logins take (workers times the memory cost).
    password_hash_workers: int = Field(default=2, ge=1, le=32)

    # How often events left in users' outboxes (after a crash between commit and publish)
    # are published again.
    outbox_relay_interval_s: float = Field(default=30.0, gt=0)

    # Loyalty points lapse this many days after the day they were earned (UTC; 365: twelve
    # months). Customers are reminded loyalty_expiry_notice_days before (0: no reminder).
    # The expiry job walks the calendar every loyalty_expiry_interval_s.
    loyalty_points_valid_days: int = Field(default=365, ge=1, le=3650)
    loyalty_expiry_notice_days: int = Field(default=14, ge=0, le=365)
    loyalty_expiry_interval_s: float = Field(default=300.0, gt=0)
