"""What each provider charges per captured payment (merchant discount rate).

| provider  | fee                 |
|-----------|---------------------|
| gopay     | 2%                  |
| ovo       | 2%                  |
| dana      | 1.5%                |
| shopeepay | 2%                  |
| qris      | 0.7%                |
| card      | 2.9% + Rp2,000      |

Rounding: the fee is computed per captured payment in integer rupiah, the percentage part
rounded half up to the whole rupiah (Rp33,333 on DANA: 499.995 → Rp500), then the fixed part
added. Fees are charged on every capture and are not returned by a refund or a chargeback,
as with Indonesian providers' MDR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROVIDERS = ("gopay", "ovo", "dana", "shopeepay", "qris", "card")


@dataclass(frozen=True)
class FeeRule:
    basis_points: int  # 1 bp = 0.01 %
    fixed: int = 0

    def fee(self, amount: int) -> int:
        return (amount * self.basis_points + 5_000) // 10_000 + self.fixed

    def describe(self) -> dict[str, Any]:
        return {"percent": f"{self.basis_points / 100:g}%", "fixed": self.fixed}


FEE_TABLE: dict[str, FeeRule] = {
    "gopay": FeeRule(200),
    "ovo": FeeRule(200),
    "dana": FeeRule(150),
    "shopeepay": FeeRule(200),
    "qris": FeeRule(70),
    "card": FeeRule(290, fixed=2_000),
}

ROUNDING_RULE = "per capture: percentage rounded half up to whole rupiah, plus the fixed fee"


def provider_fee(provider: str, amount: int) -> int:
    return FEE_TABLE[provider].fee(amount)
