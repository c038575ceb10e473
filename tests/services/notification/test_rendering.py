"""Templates, formats, quiet hours and signed links: the notification service's pure parts."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bobaku.hub.notifications import render as hub_render
from bobaku.services.notification.adapters.templates import Templates, rupiah
from bobaku.services.notification.domain import links
from bobaku.services.notification.domain.kinds import KINDS, LANGUAGES, Channel
from bobaku.services.notification.domain.preferences import Preferences, QuietHours, quiet_until
from bobaku.services.notification.domain.rules import notification_id

TEMPLATES = Templates()
ORDER = "ord-20261124-9f3a1c2b"


@pytest.mark.parametrize(
    ("kind", "params", "amount"),
    [
        ("order_accepted", {}, None),
        ("order_ready", {}, None),
        ("refund_done", {"amount": 82000}, 82000),
    ],
)
@pytest.mark.parametrize("language", LANGUAGES)
def test_order_messages_read_as_the_order_notifiers_did(
    kind: str, params: dict[str, int], amount: int | None, language: str
) -> None:
    mine = TEMPLATES.render(kind, language, {"order_id": ORDER, **params})
    legacy = {"kind": kind, "order_id": ORDER, "language": language}
    if amount is not None:
        legacy["amount"] = amount  # type: ignore[assignment]
    before = hub_render(legacy)
    assert (mine.title, mine.body) == (before["title"], before["body"])


def test_every_kind_has_a_template_in_every_language() -> None:
    params = {
        "order_id": ORDER, "outlet_id": "outlet-01", "amount": 82000, "points": 82,
        "tier": "gold", "previous_tier": "silver", "reward_name": "Free Topping",
        "expires_at": "2026-12-03T05:00:00Z", "target": "2026-12-01T05:00:00Z",
        "ingredient_id": "tapioca", "available": 2, "unit": "kg", "provider": "gopay",
        "failures": 3, "window_minutes": 10, "reason": "fraudulent",
    }  # fmt: skip
    for kind in KINDS:
        titles = {TEMPLATES.render(kind, lang, params).title for lang in LANGUAGES}
        assert len(titles) == 2, kind  # really translated, not the same words twice


def test_indonesian_and_english_formats() -> None:
    assert rupiah(1250000, "id") == "Rp1.250.000"
    assert rupiah(1250000, "en") == "Rp1,250,000"
    params = {"reward_name": "Gratis Topping", "expires_at": "2026-12-03T20:00:00Z"}
    # 20:00 UTC is already the 4th in Jakarta (UTC+7).
    assert "4 Desember 2026" in TEMPLATES.render("reward_expiring", "id", params).body
    assert "December 4, 2026" in TEMPLATES.render("reward_expiring", "en", params).body


def test_html_autoescapes_what_users_or_outlets_typed_while_text_keeps_it() -> None:
    params = {"order_id": ORDER, "outlet_name": "<script>x</script> & Co"}
    out = TEMPLATES.render("order_ready", "en", params, unsubscribe_url="https://x/u?t=a&b")
    assert "<script>" not in out.html
    assert "&lt;script&gt;x&lt;/script&gt; &amp; Co" in out.html
    assert "https://x/u?t=a&amp;b" in out.html
    assert "<script>x</script> & Co" in out.text


def test_an_unknown_language_falls_back_to_indonesian() -> None:
    assert TEMPLATES.render("order_ready", "fr", {"order_id": ORDER}).language == "id"


JAKARTA = ZoneInfo("Asia/Jakarta")


def test_quiet_hours_across_midnight_in_the_users_zone() -> None:
    quiet = QuietHours(time(22, 0), time(7, 0))
    # 16:00 UTC = 23:00 in Jakarta: quiet until 07:00 Jakarta = 00:00 UTC next day.
    late = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    assert quiet_until(quiet, late, JAKARTA) == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    early = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)  # 05:30 in Jakarta
    assert quiet_until(quiet, early, JAKARTA) == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    noon = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # 12:00 in Jakarta
    assert quiet_until(quiet, noon, JAKARTA) is None


def test_quiet_hours_defer_promotions_not_transactional_messages() -> None:
    prefs = Preferences("u1", quiet_hours=QuietHours(time(0, 0), time(23, 59)))
    now = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert prefs.deferred_until("reward_expiring", now) is not None
    assert prefs.deferred_until("order_ready", now) is None


def test_the_most_specific_switch_wins() -> None:
    prefs = Preferences("u1", channels={"email": False}, kinds={"order_ready": {"email": True}})
    assert prefs.allows("order_ready", Channel.EMAIL)
    assert not prefs.allows("order_accepted", Channel.EMAIL)
    assert not prefs.allows("order_accepted", Channel.PUSH, {"push": False})


def test_unsubscribe_links_are_signed() -> None:
    key = b"k" * 16
    token = links.sign(key, links.Unsubscribe("u-1", "email", "points_earned"))
    assert links.verify(key, token) == links.Unsubscribe("u-1", "email", "points_earned")
    forged = token.replace("points_earned", "order_ready")
    assert links.verify(key, forged) is None
    assert links.verify(b"other-key-123456", token) is None


def test_the_notification_id_is_derived_from_its_cause() -> None:
    a = notification_id("evt-1", "order_ready", "u1")
    assert a == notification_id("evt-1", "order_ready", "u1")
    assert a != notification_id("evt-2", "order_ready", "u1")
    assert a != notification_id("evt-1", "order_ready", "u2")


def test_formats_follow_each_recipient_even_with_templates_cached() -> None:
    params = {"reward_name": "Gratis Topping", "expires_at": "2026-12-03T20:00:00Z"}
    jakarta = TEMPLATES.render("reward_expiring", "id", params, time_zone="Asia/Jakarta")
    london = TEMPLATES.render("reward_expiring", "id", params, time_zone="Europe/London")
    assert "4 Desember 2026" in jakarta.body
    assert "3 Desember 2026" in london.body
