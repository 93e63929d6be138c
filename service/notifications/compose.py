"""Every email's words: one template tree (`templates/email/`), one Jinja environment.

An outbox row names its template and carries its values; the worker renders it when it sends
(`compose`), with the deployment's links (where an alert opens, where preferences change).
Each email is `<name>.subject`, `<name>.txt` and `<name>.html`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from service.settings import Settings

_templates = Environment(
    loader=PackageLoader("service.notifications", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    keep_trailing_newline=True,
    undefined=StrictUndefined,  # a missing value is a bug to see, not an empty line
)


@dataclass(frozen=True)
class Composed:
    subject: str
    text: str
    html: str


def compose(template: str, values: dict[str, Any], settings: Settings) -> Composed:
    context = {
        **values,
        "alert_url": settings.alert_url,
        "preferences_url": settings.preferences_url,
    }
    subject = _templates.get_template(f"email/{template}.subject").render(context)
    return Composed(
        subject=" ".join(subject.split())[:200],  # one line: a header never breaks
        text=_templates.get_template(f"email/{template}.txt").render(context),
        html=_templates.get_template(f"email/{template}.html").render(context),
    )
