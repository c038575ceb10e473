"""The six providers: their transaction ids and how each asks the customer to pay.

E-wallets hand the app a deeplink into the wallet, the QRIS acquirer a dynamic QR code
(an EMVCo merchant-presented payload), and the card gateway a redirect to its 3-D Secure
page.
"""

from __future__ import annotations

import random
from enum import StrEnum
from typing import Any
from urllib.parse import quote


class Provider(StrEnum):
    GOPAY = "gopay"
    OVO = "ovo"
    DANA = "dana"
    SHOPEEPAY = "shopeepay"
    QRIS = "qris"
    CARD = "card"


TRANSACTION_PREFIX: dict[Provider, str] = {
    Provider.GOPAY: "gpy",
    Provider.OVO: "ovo",
    Provider.DANA: "dna",
    Provider.SHOPEEPAY: "spp",
    Provider.QRIS: "qrs",
    Provider.CARD: "crd",
}

# Why a charge fails, as each kind of provider says it.
FAILURE_REASONS: dict[Provider, tuple[str, ...]] = {
    Provider.GOPAY: ("insufficient_balance", "user_cancelled"),
    Provider.OVO: ("insufficient_balance", "user_cancelled"),
    Provider.DANA: ("insufficient_balance", "risk_rejected"),
    Provider.SHOPEEPAY: ("insufficient_balance", "user_cancelled"),
    Provider.QRIS: ("issuer_declined",),
    Provider.CARD: ("card_declined", "3ds_failed"),
}

WALLET_DEEPLINKS: dict[Provider, str] = {
    Provider.GOPAY: "gojek://gopay/merchanttransfer?tref={tx}&amount={amount}",
    Provider.OVO: "ovo://payment?trx={tx}&amount={amount}",
    Provider.DANA: "dana://pay?bizNo={tx}&amount={amount}",
    Provider.SHOPEEPAY: "shopeeid://main?apprl={path}",
}


def new_transaction_id(provider: Provider, rng: random.Random) -> str:
    """``gpy-4810293847``: the provider's prefix and ten digits."""
    return f"{TRANSACTION_PREFIX[provider]}-{rng.randrange(10**9, 10**10)}"


def payment_action(
    provider: Provider, transaction_id: str, amount: int, base_url: str
) -> dict[str, Any]:
    """What the customer's app does next to pay this charge."""
    if provider is Provider.QRIS:
        return {"type": "qr", "qr_string": qris_payload(transaction_id, amount)}
    if provider is Provider.CARD:
        return {"type": "redirect", "url": f"{base_url}/card/3ds/{transaction_id}"}
    path = quote(f"/rn/payment?ref={transaction_id}&amount={amount}", safe="")
    url = WALLET_DEEPLINKS[provider].format(tx=transaction_id, amount=amount, path=path)
    return {"type": "deeplink", "url": url}


def qris_payload(transaction_id: str, amount: int) -> str:
    """A dynamic QRIS string: EMVCo tag-length-value fields closed by a CRC-16 (tag 63)."""
    fields = [
        ("00", "01"),  # payload format
        ("01", "12"),  # dynamic: one payment, this amount
        ("26", _tlv([("00", "ID.CO.QRIS.WWW"), ("01", "936009990000000001")])),
        ("52", "5814"),  # merchant category: fast food / beverages
        ("53", "360"),  # IDR
        ("54", str(amount)),
        ("58", "ID"),
        ("59", "BOBAKU"),
        ("60", "JAKARTA"),
        ("62", _tlv([("01", transaction_id[:25])])),
    ]
    body = _tlv(fields) + "6304"
    return body + f"{crc16_ccitt(body.encode()):04X}"


def _tlv(fields: list[tuple[str, str]]) -> str:
    return "".join(f"{tag}{len(value):02d}{value}" for tag, value in fields)


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), as EMVCo QR codes use."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc
