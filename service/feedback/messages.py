"""The partner's invitation email, rendered (text and HTML) when the outbox row is written.

It carries the partner's own first name, the clinic, the session date and the link — nothing
about scores, alerts or the other partner.
"""

from __future__ import annotations

from datetime import date, datetime

from jinja2 import Environment, PackageLoader, select_autoescape

_templates = Environment(
    loader=PackageLoader("service.feedback", "templates"),
    autoescape=select_autoescape(["html"]),
)


def invitation(
    *, first_name: str, clinic_name: str, session_date: date, url: str, expires_at: datetime
) -> dict[str, str]:
    values = {
        "first_name": first_name,
        "clinic_name": clinic_name,
        "url": url,
        "session_date": session_date.strftime("%-d %B %Y"),
        "expires": expires_at.strftime("%-d %B %Y, %H:%M UTC"),
    }
    return {
        "subject": f"{clinic_name}: how was your session?",
        "text": _templates.get_template("email/invitation.txt").render(values),
        "html": _templates.get_template("email/invitation.html").render(values),
    }
