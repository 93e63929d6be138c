"""The committed catalogs are complete and current: every word a partner reads (where babel.cfg
says they are) is in the template and translated in every language, none fuzzy, placeholders
kept, each .mo compiled from its .po as it is now; the built-in instrument has every text in
every language; a clinic's locale picks its language. `make translations` fixes the first
three; these tests say what is left to do."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from service.core import i18n
from service.instruments.catalog import SAC8
from service.settings import ROOT

LANGUAGES = [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT]


def source_messages() -> set[str]:
    """The msgids in the sources now, found as `make translations` finds them."""
    with open(ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = extract_from_dir(str(ROOT), method_map, options_map)
    return {message if isinstance(message, str) else message[0] for _, _, message, *_ in found}


def po_path(lang: str) -> Path:
    return i18n.TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def catalog(lang: str):
    with open(po_path(lang), "rb") as handle:
        return read_po(handle, locale=lang)


def ids(messages) -> set[str]:
    return {m.id for m in messages if m.id}


def test_the_sources_have_the_partner_s_words_to_translate():
    found = source_messages()
    assert len(found) >= 30
    assert {"How was your session?", "Send my answers", i18n.LONG_DATE} <= found


def test_the_template_lists_exactly_the_words_in_the_sources():
    with open(i18n.TRANSLATIONS / "messages.pot", "rb") as handle:
        template = read_po(handle)
    assert ids(template) == source_messages()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_word_is_translated_with_its_placeholders_and_none_is_fuzzy(lang):
    po = catalog(lang)
    found = source_messages()
    assert found - ids(po) == set(), "missing: run `make translations`, then translate"
    assert ids(po) - found == set(), "no longer used: run `make translations`"
    untranslated = [m.id for m in po if m.id and not m.string]
    fuzzy = [m.id for m in po if m.id and m.fuzzy]
    assert untranslated == [] and fuzzy == []
    problems = [(m.id, [str(e) for e in errors]) for m, errors in po.check()]
    assert problems == []  # e.g. a %(name)s dropped or misspelt in a translation


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_committed_mo_is_compiled_from_the_committed_po(lang):
    compiled = io.BytesIO()
    write_mo(compiled, catalog(lang))
    committed = po_path(lang).with_suffix(".mo").read_bytes()
    assert committed == compiled.getvalue(), "stale .mo: run `make translations`"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_catalog_is_what_the_app_reads(lang):
    translated = i18n.translations(lang)
    assert translated.gettext("Send my answers") != "Send my answers"
    assert i18n.translations(i18n.DEFAULT).gettext("Send my answers") == "Send my answers"


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_built_in_instrument_speaks_every_language(lang):
    texts = [SAC8["title"]]
    for item in SAC8["items"]:
        texts += [item["text"], item["anchors"]["min"], item["anchors"]["max"]]
    assert all(text.get(lang, "").strip() for text in texts)
    if lang != i18n.DEFAULT:
        assert all(text[lang] != text[i18n.DEFAULT] for text in texts)


@pytest.mark.parametrize(
    "locale, lang",
    [
        ("es", "es"),
        ("es-ES", "es"),
        ("es-MX", "es"),
        ("es_AR", "es"),
        ("ES", "es"),
        ("en", "en"),
        ("en-GB", "en"),
        ("fr", "en"),
        ("pt-BR", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_a_locale_picks_its_language_or_english(locale, lang):
    assert i18n.language(locale) == lang


def test_dates_are_written_the_way_each_language_writes_them():
    day = date(2026, 12, 1)
    assert i18n.long_date(day, "es") == "martes 1 de diciembre de 2026"
    assert i18n.long_date(day, "en-GB") == "Tuesday 1 December 2026"
    moment = datetime(2026, 12, 3, 14, 5, tzinfo=UTC)
    assert i18n.deadline(moment, "es-ES") == "3 de diciembre de 2026, 14:05 UTC"
    assert i18n.deadline(moment, "en") == "3 December 2026, 14:05 UTC"
