"""Rendering notifications with Jinja2: one template per kind and language
(``templates/<language>/<kind>.j2`` with a ``title`` and a ``body`` block), Indonesian or
English number and date formats from Babel.

Titles and bodies are plain text (the inbox, push and the email's text part show them as
written); the email's HTML layout autoescapes everything it inserts, so a value such as an
outlet name can never inject markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Undefined,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from bobaku.kernel.events.envelope import parse_utc
from bobaku.services.notification.domain.kinds import DEFAULT_LANGUAGE, LANGUAGES

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
LOCALES = {"id": "id_ID", "en": "en_US"}


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    text: str  # the email's text part
    html: str  # the email's HTML part
    language: str


def rupiah(amount: Any, language: str) -> str:
    """``Rp82.000`` in Indonesian, ``Rp82,000`` in English: integer rupiah, no decimals."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        return ""
    return "Rp" + format_decimal(amount, format="#,##0", locale=LOCALES[language])


def short_order(order_id: str) -> str:
    """``ord-20261124-9f3a1c2b`` → ``#9F3A1C2B``: what the counter calls out."""
    return "#" + order_id.rsplit("-", 1)[-1].upper() if order_id else ""


def _moment(value: Any, zone: ZoneInfo) -> datetime | None:
    if isinstance(value, str):
        try:
            value = parse_utc(value)
        except ValueError:
            return None
    return value.astimezone(zone) if isinstance(value, datetime) else None


class Templates:
    def __init__(self, folder: Path = TEMPLATE_DIR) -> None:
        loader = FileSystemLoader(str(folder))
        # Plain text: nothing to escape (and escaping would show "&amp;" to users).
        # B701: plain-text templates; the HTML environment below autoescapes
        self.text = Environment(loader=loader, autoescape=False, undefined=Undefined)  # nosec B701
        self.html = Environment(
            loader=loader,
            autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
            undefined=StrictUndefined,
        )
        # Formats follow the recipient (language, time zone), which the render passes in the
        # context: compiled templates are cached and shared by every render.
        self.text.filters.update(rupiah=_rupiah, date=_date, time=_time)

    def render(
        self,
        kind: str,
        language: str,
        params: dict[str, Any],
        *,
        time_zone: str = "Asia/Jakarta",
        unsubscribe_url: str | None = None,
    ) -> Rendered:
        language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        template = self.text.get_template(f"{language}/{kind}.j2")
        context = {
            **params,
            "order": short_order(str(params.get("order_id") or "")),
            "_language": language,
            "_zone": ZoneInfo(time_zone),
        }
        ctx = template.new_context(context)
        title = "".join(template.blocks["title"](ctx)).strip()
        body = "".join(template.blocks["body"](ctx)).strip()
        page = {
            "title": title,
            "body": body,
            "language": language,
            "unsubscribe_url": unsubscribe_url,
        }
        text = self.text.get_template("email.txt.j2").render(page)
        html = self.html.get_template("email.html.j2").render(page)
        return Rendered(title, body, text, html, language)


@pass_context
def _rupiah(ctx: Context, value: Any) -> str:
    return rupiah(value, ctx["_language"])


@pass_context
def _date(ctx: Context, value: Any) -> str:
    moment = _moment(value, ctx["_zone"])
    return format_date(moment, format="long", locale=LOCALES[ctx["_language"]]) if moment else ""


@pass_context
def _time(ctx: Context, value: Any) -> str:
    moment = _moment(value, ctx["_zone"])
    if moment is None:
        return ""
    language = ctx["_language"]
    pattern = "HH.mm" if language == "id" else "h:mm a"
    return format_time(moment, format=pattern, locale=LOCALES[language])
