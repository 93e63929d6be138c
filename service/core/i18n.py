"""The languages a partner is addressed in: the gettext catalogs under `service/translations`
(source `.po`, compiled `.mo`, both committed; `make translations` refreshes them) and the
way each language writes a date.

English is the source language and needs no catalog. A clinic's locale picks the catalog by its
language ("es", "es-ES" and "es-MX" → Spanish); a language without a catalog falls back to
English. The partner pages read these catalogs through Flask-Babel, the email worker through
`translations()`: one set of files for both. Flask-free.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from pathlib import Path

from babel.dates import format_date, format_datetime
from babel.support import NullTranslations, Translations

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
DEFAULT = "en"
LANGUAGES = (DEFAULT, "es")


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; it is translated where it is used."""
    return message


# Translators: a CLDR date pattern (EEEE weekday, d day, MMMM month, y year); words in single
# quotes are literal. Example: Monday 5 January 2026.
LONG_DATE = N_("EEEE d MMMM y")
# Translators: a CLDR date and time pattern (d day, MMMM month, y year, HH:mm time); words in
# single quotes are literal. Example: 5 January 2026, 14:00 UTC.
DEADLINE = N_("d MMMM y, HH:mm 'UTC'")


def language(locale: str | None) -> str:
    """The catalog language for a locale tag: its primary language when there is a catalog for
    it, else English."""
    primary = (locale or "").replace("_", "-").partition("-")[0].lower()
    return primary if primary in LANGUAGES else DEFAULT


@functools.cache
def translations(lang: str) -> NullTranslations:
    """The compiled catalog of a language (English: the messages as written)."""
    return Translations.load(str(TRANSLATIONS), [language(lang)])


def long_date(day: date, lang: str) -> str:
    """The day as the language writes it in full: Monday 5 January 2026."""
    return format_date(day, translations(lang).gettext(LONG_DATE), locale=language(lang))


def deadline(moment: datetime, lang: str) -> str:
    """A moment a link stops working, in UTC: 5 January 2026, 14:00 UTC."""
    pattern = translations(lang).gettext(DEADLINE)
    return format_datetime(moment, pattern, tzinfo=UTC, locale=language(lang))
