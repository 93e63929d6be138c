"""A partner is addressed in their clinic's language: a clinic whose locale is Spanish ("es",
"es-ES") gets the form, its messages and the invitation email in Spanish, with the instrument's
own Spanish texts; any other locale gets English. Through the real app (Flask test client) and
the real outbox worker delivering to a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import re

import pytest

from service.instruments.catalog import SAC8
from service.worker import outbox
from service.worker.__main__ import build
from tests.scenario import CoupleInCare
from tests.test_emails import emails, parts
from tests.test_partner_form import (
    all_answers,
    completed_session,
    expire,
    visible_text,
)

ITEMS = SAC8["items"]
SPANISH = {item["key"]: item["text"]["es"] for item in ITEMS}
ENGLISH = {item["key"]: item["text"]["en"] for item in ITEMS}
CLINIC = "Clínica Ribera"
# tests.practice.PAST (Monday 5 January 2026), in the clinic's zone
SESSION_DAY = {"es": "lunes 5 de enero de 2026", "en": "Monday 5 January 2026"}


@pytest.fixture
def spanish(client, make_clinic):
    return completed_session(client, make_clinic(name=CLINIC, locale="es-ES"))


def page_text(response) -> str:
    return visible_text(response.get_data(as_text=True))


def html_lang(response) -> str:
    return re.search(r'<html lang="([^"]+)">', response.get_data(as_text=True)).group(1)


def title(response) -> str:
    return re.search(r"<title>(.*?)</title>", response.get_data(as_text=True), re.S).group(1)


# -- the form ---------------------------------------------------------------------------------


def test_a_spanish_clinic_s_partner_reads_the_whole_form_in_spanish(client, spanish):
    page = client.get(spanish.path("Marisol"))
    assert page.status_code == 200
    text = page_text(page)
    assert html_lang(page) == "es"
    assert title(page) == f"Su opinión \u2013 {CLINIC}"
    assert "¿Cómo fue su sesión?" in text and "Hola, Marisol:" in text
    assert f"la sesión con Dr Robin Hale del {SESSION_DAY['es']}" in text
    for number, item in enumerate(ITEMS, start=1):
        assert f"{number}. {SPANISH[item['key']]}" in text
    assert text.count("0 = Nada") == text.count("10 = Totalmente") == len(ITEMS)
    assert "¿Hay algo que quiera contarle a su terapeuta?" in text
    assert "Me gustaría hablar a solas con mi terapeuta sobre mi seguridad" in text
    assert "Opcional, hasta 1.000 caracteres." in text
    assert "Enviar mis respuestas" in text
    for english in ("How was your session", "Hello", "Send my answers", "Not at all", "Monday"):
        assert english not in text, english
    for sentence in ENGLISH.values():
        assert sentence not in text


def test_the_api_form_gives_the_instrument_s_spanish_texts(client, spanish):
    form = client.get("/v1/feedback-forms/" + spanish.path("Theo").rsplit("/", 1)[1])
    assert form.status_code == 200
    assert form.json["title"] == "Evaluación de la alianza en la sesión"
    assert [item["label"] for item in form.json["items"]] == list(SPANISH.values())
    assert {item["min_label"] for item in form.json["items"]} == {"Nada"}


def test_the_errors_and_the_thank_you_page_are_spanish_too(client, spanish):
    missing = {k: v for k, v in all_answers(6).items() if k != "answers.goals"}
    page = client.post(spanish.path("Marisol"), data={**missing, "comment": "x" * 1001})
    assert page.status_code == 422
    text = page_text(page)
    assert title(page).startswith("Revise sus respuestas, por favor \u2013 ")
    assert f"Responda, por favor: {SPANISH['goals']}" in text
    assert "Elija un número del 0 al 10." in text
    assert "Acorte su nota a 1.000 caracteres como máximo, por favor." in text
    assert "Please" not in text

    sent = client.post(spanish.path("Marisol"), data=all_answers(6))
    assert sent.status_code == 303
    thanks = client.get(sent.headers["Location"])
    assert html_lang(thanks) == "es"
    assert "Gracias" in page_text(thanks) and "Hemos recibido sus respuestas." in page_text(thanks)

    again = client.get(spanish.path("Marisol"))
    assert again.status_code == 409 and html_lang(again) == "es"
    assert "Estas preguntas ya se respondieron." in page_text(again)


def test_an_expired_spanish_link_says_so_in_spanish(client, spanish):
    expire(spanish)
    page = client.get(spanish.path("Theo"))
    assert page.status_code == 410 and html_lang(page) == "es"
    assert "Este enlace ha caducado; pida uno nuevo a su clínica." in page_text(page)


def test_without_a_known_link_the_browser_s_language_decides(client, spanish):
    unknown = "/f/" + "z" * 43
    in_spanish = client.get(unknown, headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"})
    assert in_spanish.status_code == 404 and html_lang(in_spanish) == "es"
    assert "Este enlace no funciona" in page_text(in_spanish)
    in_french = client.get(unknown, headers={"Accept-Language": "fr-FR"})
    assert html_lang(in_french) == "en" and "This link does not work" in page_text(in_french)
    refused = client.post(
        spanish.path("Marisol"),
        data=all_answers(),
        headers={"Origin": "https://evil.example", "Accept-Language": "es"},
    )
    assert refused.status_code == 403
    assert "Este formulario solo se puede enviar desde su propia página" in page_text(refused)


@pytest.mark.parametrize("locale", ["en", "en-GB", "fr-FR"])
def test_any_other_clinic_locale_gets_english(client, make_clinic, locale):
    care = completed_session(client, make_clinic(name="Riverside", locale=locale))
    page = client.get(care.path("Marisol"), headers={"Accept-Language": "es"})
    text = page_text(page)
    assert html_lang(page) == "en" and title(page) == "Your feedback \u2013 Riverside"
    assert "How was your session?" in text and SESSION_DAY["en"] in text
    assert f"1. {ENGLISH['heard']}" in text and "Send my answers" in text
    assert "Enviar" not in text


# -- the invitation email ---------------------------------------------------------------------

EMAIL_PARTNERS = [
    {
        "display_name": "Lucía Ortega",
        "email": "lucia@partners.example",
        "feedback_channel": "email",
    },
    {"display_name": "Andrés Pons", "feedback_channel": "in_clinic"},
]


def invitation_received(client, clinic, smtp) -> tuple[str, str, str]:
    """Complete a session, let the worker deliver the outbox over SMTP: the invitation's
    subject, text and HTML as the partner's mail client receives them."""
    recorder, smtp_settings = smtp
    CoupleInCare(client, clinic, partners=EMAIL_PARTNERS).complete()
    [row] = emails(clinic.id, "feedback.invitation")
    # This one message as the worker delivers it: other tests' messages may be due in the
    # same database, and a batch of theirs must not decide whether this one went out.
    outbox.deliver(row.id, clinic.id, build(smtp_settings).senders, smtp_settings)
    [received] = [
        message for message in recorder.messages() if message["To"] == "lucia@partners.example"
    ]
    assert received["Message-ID"].startswith(f"<outbox-{row.id}@")
    return (received["Subject"], *parts(received))


def test_a_spanish_clinic_s_invitation_arrives_in_spanish(client, make_clinic, smtp):
    clinic = make_clinic(name=CLINIC, locale="es")
    subject, text, html = invitation_received(client, clinic, smtp)
    assert subject == f"{CLINIC}: ¿cómo fue su sesión?"
    for body in (text, html):
        assert "Hola, Lucía:" in body
        assert f"En {CLINIC} nos gustaría saber cómo le fue la sesión del {SESSION_DAY['es']}" in (
            " ".join(body.split())
        )
        assert "su pareja nunca las verá" in body
        assert re.search(r"válido hasta el \d{1,2} de \w+ de \d{4}, \d\d:\d\d UTC", body)
        assert "Hello" not in body and "would like" not in body
    assert '<html lang="es">' in html and ">Dar mi opinión</a>" in html
    link = re.search(r"https?://\S+/f/[\w-]+", text).group(0)
    form = client.get("/f/" + link.rsplit("/f/", 1)[1])
    assert "¿Cómo fue su sesión?" in page_text(form) and "Hola, Lucía:" in page_text(form)


def test_an_english_clinic_s_invitation_stays_english(client, make_clinic, smtp):
    clinic = make_clinic(name="Riverside", locale="en-GB")
    subject, text, html = invitation_received(client, clinic, smtp)
    assert subject == "Riverside: how was your session?"
    assert "Hello Lucía," in text and '<html lang="en">' in html
    assert f"your session on {SESSION_DAY['en']} went for you" in " ".join(text.split())
    assert ">Give feedback</a>" in html and "Hola" not in text + html
