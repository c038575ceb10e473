"""How providers sign callbacks: HMAC-SHA256 of the raw body with the provider's secret."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Provider-Signature"


def signature(secret: bytes, body: bytes) -> str:
    """The header value: ``sha256=<hex digest>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
