"""In-app notifications: a ``notification.requested`` event rendered as a short inbox
message in the user's language (Indonesian or English).

Since v1.1 the notification service renders the message itself (its templates, the user's
preferences) and sends ``title`` and ``body``; the hub passes them through as given. A v1.0
request (kind and order only) is still rendered here.

Plain functions without I/O. The rendered text is stored in the channel's history, so a
client that recovers later reads the same words it would have read live.
"""

from __future__ import annotations

from typing import Any

DEFAULT_LANGUAGE = "id"  # the brand's home market

# kind → language → (title, body). Placeholders: {order}, {outlet}, {amount}.
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "order_accepted": {
        "id": ("Pesanan diterima", "Pesanan {order} sedang disiapkan{outlet}."),
        "en": ("Order accepted", "Your order {order} is being prepared{outlet}."),
    },
    "order_ready": {
        "id": ("Pesanan siap diambil", "Pesanan {order} sudah siap diambil{outlet}."),
        "en": ("Ready for pickup", "Your order {order} is ready for pickup{outlet}."),
    },
    "refund_done": {
        "id": (
            "Pengembalian dana selesai",
            "Pengembalian dana{amount} untuk pesanan {order} selesai.",
        ),
        "en": ("Refund completed", "Your refund{amount} for order {order} is complete."),
    },
}
# A kind this hub does not know yet still reaches the user, in general words.
FALLBACK = {
    "id": ("Kabar pesanan", "Ada kabar terbaru untuk pesanan {order}."),
    "en": ("Order update", "There is news about your order {order}."),
}
_AT = {"id": " di {name}", "en": " at {name}"}
_OF = {"id": " sebesar {amount}", "en": " of {amount}"}


def rupiah(amount: int, language: str) -> str:
    """``Rp82.000`` in Indonesian, ``Rp82,000`` in English (integer rupiah, no decimals)."""
    grouped = f"{amount:,}"
    return "Rp" + (grouped.replace(",", ".") if language == "id" else grouped)


def short_order(order_id: str) -> str:
    """``ord-20261124-9f3a1c2b`` → ``#9F3A1C2B``: what the counter calls out."""
    return "#" + order_id.rsplit("-", 1)[-1].upper()


def render(data: dict[str, Any]) -> dict[str, Any]:
    """The inbox message for a ``notification.requested`` event's data."""
    if isinstance(data.get("title"), str) and isinstance(data.get("body"), str):
        given: dict[str, Any] = {
            key: data[key]
            for key in ("kind", "order_id", "language", "title", "body", "notification_id")
            if isinstance(data.get(key), str)
        }
        if isinstance(data.get("amount"), int) and not isinstance(data.get("amount"), bool):
            given["amount"] = data["amount"]
        return given
    language = (
        str(data["language"])
        if data.get("language") in TEMPLATES["order_ready"]
        else DEFAULT_LANGUAGE
    )
    kind = str(data.get("kind", ""))
    title, body = TEMPLATES.get(kind, FALLBACK)[language]
    order_id = str(data.get("order_id", ""))
    outlet_name = data.get("outlet_name")
    amount = data.get("amount")
    text = body.format(
        order=short_order(order_id) if order_id else "",
        outlet=_AT[language].format(name=outlet_name) if isinstance(outlet_name, str) else "",
        amount=(
            _OF[language].format(amount=rupiah(amount, language))
            if isinstance(amount, int) and not isinstance(amount, bool)
            else ""
        ),
    )
    message: dict[str, Any] = {
        "kind": kind,
        "order_id": order_id,
        "language": language,
        "title": title,
        "body": text,
    }
    if isinstance(amount, int) and not isinstance(amount, bool):
        message["amount"] = amount
    return message


def wants_in_app(data: dict[str, Any]) -> bool:
    """A producer that lists delivery ``channels`` decides; without the list, deliver."""
    channels = data.get("channels")
    return not isinstance(channels, list) or "in_app" in channels
