"""What the customer service refuses, on the kernel's one hierarchy (its kind gives the
status, its ``code`` the envelope's; the web layer renders it once). The domain and the
adapters raise these; nothing here knows about HTTP."""

from __future__ import annotations

from bobaku.kernel.errors import Conflict, NotFound, Unauthorized


class EmailTaken(Conflict):
    code = "email_taken"


class UserNotFound(NotFound):
    code = "user_not_found"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"


class InsufficientPoints(Conflict):
    code = "insufficient_points"


class RedemptionReleased(Conflict):
    code = "redemption_released"


class RedemptionMismatch(Conflict):
    code = "redemption_mismatch"


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"


class UserIdTaken(Exception):
    """A freshly drawn user id is already in use: draw another (never leaves the service)."""


class AlreadySucceeded(Exception):
    """A refresh token's parent was spent already: another refresh won the race (never
    leaves the service; the handler turns it into a revoked session)."""
