"""Every email's words: one template tree (`templates/email/`), one Jinja environment.

An outbox row names its template and carries its values and, for a partner, the language to
write in; the worker renders it when it sends (`compose`), with the deployment's links (where
an alert opens, where preferences change). Each email is `<name>.subject`, `<name>.txt` and
`<name>.html`. Words inside `{% trans %}` come from that language's catalog
(`service.core.i18n`); staff emails are written in English and have none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from babel.support import NullTranslations
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from service.core import i18n
from service.settings import Settings

# The catalog of the email being rendered: one environment serves every language, and two
# threads rendering at once each see their own.
_catalog: ContextVar[NullTranslations] = ContextVar("email_catalog")

_templates = Environment(
    loader=PackageLoader("service.notifications", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    keep_trailing_newline=True,
    undefined=StrictUndefined,  # a missing value is a bug to see, not an empty line
    extensions=["jinja2.ext.i18n"],
)
_templates.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=lambda message: _catalog.get().gettext(message),
    ngettext=lambda singular, plural, n: _catalog.get().ngettext(singular, plural, n),
    newstyle=True,  # variables are filled in (and escaped in HTML) after translation
)


@dataclass(frozen=True)
class Composed:
    subject: str
    text: str
    html: str


def compose(
    template: str, values: dict[str, Any], settings: Settings, *, locale: str | None = None
) -> Composed:
    """The email in the language of `locale` (English when there is no catalog for it)."""
    lang = i18n.language(locale)
    context = {
        **values,
        "lang": lang,
        "alert_url": settings.alert_url,
        "preferences_url": settings.preferences_url,
    }
    with _speaking(lang):
        subject = _render(f"{template}.subject", context)
        return Composed(
            subject=" ".join(subject.split())[:200],  # one line: a header never breaks
            text=_render(f"{template}.txt", context),
            html=_render(f"{template}.html", context),
        )


def _render(name: str, context: dict[str, Any]) -> str:
    return _templates.get_template(f"email/{name}").render(context)


@contextmanager
def _speaking(lang: str) -> Iterator[None]:
    token = _catalog.set(i18n.translations(lang))
    try:
        yield
    finally:
        _catalog.reset(token)
