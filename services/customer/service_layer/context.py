"""What the customer service's handlers work with (``CustomerContext``, built once in
``bootstrap.py`` and stored as the app's ``CONTEXT``)."""

from __future__ import annotations

from dataclasses import dataclass

from bobaku.kernel.auth import TokenIssuer
from bobaku.kernel.outbox import Outbox
from bobaku.services.customer.adapters.loyalty_ledger import LedgerStore
from bobaku.services.customer.adapters.passwords import PasswordHasher
from bobaku.services.customer.adapters.refresh_tokens import RefreshTokenStore
from bobaku.services.customer.adapters.users import UserRepository
from bobaku.services.customer.service_layer.views import CustomerViews


@dataclass(frozen=True)
class CustomerContext:
    users: UserRepository
    refresh_tokens: RefreshTokenStore
    passwords: PasswordHasher
    issuer: TokenIssuer
    # customer.registered leaves in the user document's outbox.
    outbox: Outbox
    # The loyalty ledgers (es.loyalty.brand.<customer>): they, never a read model, decide.
    ledgers: LedgerStore
    views: CustomerViews
    access_ttl_s: int
    refresh_ttl_s: int
