"""The providers' books, in memory: a sandbox forgets everything when it restarts."""

from __future__ import annotations

from dataclasses import dataclass, field

from bobaku.services.provider_sim.domain.model import Charge, Dispute
from bobaku.services.provider_sim.domain.providers import Provider


@dataclass
class Ledger:
    charges: dict[tuple[Provider, str], Charge] = field(default_factory=dict)
    # Idempotency-Key of a charge request → the charge it created.
    charge_keys: dict[tuple[Provider, str], str] = field(default_factory=dict)
    disputes: dict[tuple[Provider, str], Dispute] = field(default_factory=dict)

    def charge(self, provider: Provider, transaction_id: str) -> Charge | None:
        return self.charges.get((provider, transaction_id))

    def charge_by_key(self, provider: Provider, key: str) -> Charge | None:
        tx = self.charge_keys.get((provider, key))
        return self.charges.get((provider, tx)) if tx else None

    def add_charge(self, charge: Charge) -> None:
        self.charges[(charge.provider, charge.transaction_id)] = charge
        self.charge_keys[(charge.provider, charge.idempotency_key)] = charge.transaction_id

    def charges_of(self, provider: Provider, merchant_ref: str | None = None) -> list[Charge]:
        return [
            c
            for (p, _), c in self.charges.items()
            if p is provider and (merchant_ref is None or c.merchant_ref == merchant_ref)
        ]

    def dispute(self, provider: Provider, dispute_id: str) -> Dispute | None:
        return self.disputes.get((provider, dispute_id))

    def add_dispute(self, dispute: Dispute) -> None:
        self.disputes[(dispute.provider, dispute.dispute_id)] = dispute
