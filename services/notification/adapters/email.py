"""Email over SMTP with the standard library's client (run in a thread: it is blocking)."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid

# Long headers (List-Unsubscribe's URL) stay on one line as written: the default policy
# would fold them into RFC 2047 encoded words, which mail clients cannot use as a link.
HEADERS_UNFOLDED = default_policy.clone(max_line_length=998)


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    message_id: str  # without angle brackets: <id@domain> is added here
    unsubscribe_url: str | None
    language: str


class SmtpSender:
    def __init__(self, host: str, port: int, sender: str, timeout_s: float) -> None:
        self.host, self.port, self.sender, self.timeout_s = host, port, sender, timeout_s

    def build(self, email: Email) -> EmailMessage:
        msg = EmailMessage(policy=HEADERS_UNFOLDED)
        msg["From"] = self.sender
        msg["To"] = email.to
        msg["Subject"] = email.subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        # Derived from the notification: a resend after a crash is recognisably the same.
        msg["Message-ID"] = f"<{email.message_id}>" if email.message_id else make_msgid()
        msg["Content-Language"] = email.language
        if email.unsubscribe_url:
            msg["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(email.text)
        msg.add_alternative(email.html, subtype="html")
        return msg

    async def send(self, email: Email) -> None:
        message = self.build(email)
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            smtp.send_message(message)
