"""The partner's feedback form at `/f/<token>`: server-rendered HTML that works without
JavaScript, under a strict Content-Security-Policy (the stylesheet is a static file; nothing is
inline and nothing comes from another site).

The token in the URL is the credential (256-bit random, single use, expiring), so the form
carries no CSRF token: a forged post would have to know the token already, and whoever knows
it can post without a browser anyway. Cross-origin posts are still refused (Origin and
Sec-Fetch-Site) as defence in depth.

Nothing a partner sees here mentions scores, alerts or the other partner.

Every page speaks the clinic's language when there is a catalog for it (`service.core.i18n`,
through Flask-Babel): once the link is known, its clinic's locale; on the thank-you page, the
language the form passed on; where no link is known (an unknown link, too many attempts), the
browser's preferred language; else English.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from flask import (
    Blueprint,
    current_app,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_number, get_locale, gettext, refresh
from werkzeug.exceptions import HTTPException

from service.alerts import evaluation
from service.core import i18n
from service.core.errors import Conflict, Gone, Invalid, NotFound
from service.core.i18n import N_
from service.feedback import links, schemas
from service.http.extensions import open_link, transactional
from service.http.limits import limiter
from service.web import security

blp = Blueprint(
    "web",
    __name__,
    url_prefix="/f",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

security.protect(blp, "/f")
MAX_TOKEN_LENGTH = 128  # real tokens are 43 characters; longer ones never reach the database
MAX_RADIO_CHOICES = 21  # beyond this a row of radios is unusable: a number field instead
MAX_ANSWER_LENGTH = 20
MISSING = "Missing answer."  # the scoring's word for an unanswered item
_COMMENT = schemas.SubmitSchema().fields["comment"]
COMMENT_MAX_LENGTH = _COMMENT.metadata.get("maxLength", 1000)

_PAGES = {
    # status: (heading, text), translated when shown
    403: (N_("This form can only be sent from its own page"), N_("Please open your link again.")),
    404: (
        N_("This link does not work"),
        N_("Please check that you opened the whole link, or ask your clinic for a new one."),
    ),
    409: (
        N_("Already answered"),
        N_("These questions were already answered. Thank you, there is nothing more to do."),
    ),
    410: (
        N_("This link has expired"),
        N_("This link has expired; ask your clinic for a new one."),
    ),
    429: (N_("Too many attempts"), N_("Please wait a minute, then try again.")),
}
_TROUBLE = (N_("Something went wrong"), N_("Please try again later."))


def _rate_limit() -> str:
    return current_app.config["SETTINGS"].feedback_form_rate_limit


@blp.route("/<token>", methods=["GET", "POST"])
@limiter.limit(_rate_limit)
@transactional
def partner_form(token: str):
    if request.method == "POST" and not _same_origin():
        return _message(403)
    if len(token) > MAX_TOKEN_LENGTH:
        return _message(404)
    try:
        grant = open_link(token, _resolver(), links.clinic_of)
        form = links.form(grant)
        _speak(form.locale)
        if request.method == "GET":
            return _form_page(form, 200)
        chosen, data, errors = _read_post(form.items)
        if not errors:
            try:
                evaluation.record_partner_feedback(grant, data)
            except Invalid as error:
                errors = error.errors or {}
        if errors:
            return _form_page(form, 422, chosen=chosen, data=data, errors=errors)
    except NotFound:
        return _message(404)
    except Gone:
        _speak(links.link_locale(token))
        return _message(410)
    except Conflict:
        _speak(links.link_locale(token))
        return _message(409)
    return redirect(url_for("web.thanks", lang=g.partner_language), 303)


@blp.route("/thanks")
def thanks():
    """Reveals nothing: no clinic, no names, no answers (`?lang=` names only a language)."""
    return render_template("web/thanks.html")


def locale() -> str:
    """Flask-Babel's locale selector: the language of the link's clinic once it is known,
    else the `lang` the form passed to the thank-you page, else the browser's choice among
    the catalogs, else English."""
    if not has_request_context():
        return i18n.DEFAULT
    if "partner_language" in g:
        return g.partner_language
    asked = request.args.get("lang", "")
    if asked in i18n.LANGUAGES:
        return asked
    return request.accept_languages.best_match(i18n.LANGUAGES, default=i18n.DEFAULT)


@blp.context_processor
def _language():
    return {"lang": str(get_locale() or i18n.DEFAULT)}


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    """A person at a form gets a page, not problem+json (429 keeps its `Retry-After`)."""
    status = error.code or 500
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return _message(status, headers)


# -- helpers ----------------------------------------------------------------------------------


def _speak(clinic_locale: str | None) -> None:
    """From here on this request speaks the clinic's language (or English)."""
    g.partner_language = i18n.language(clinic_locale)
    refresh()  # forget a locale Flask-Babel may have settled on before the clinic was known


def _resolver():
    """An answer claims the link (closing it in the same statement); a read only checks it."""
    return links.claim_token if request.method == "POST" else links.resolve_token


def _same_origin() -> bool:
    """False for a post from another site. Browsers send `Origin: null` for their own form
    posts under `Referrer-Policy: no-referrer`, so `null` is judged by `Sec-Fetch-Site`."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return True
    own = {_origin(request.host_url), _origin(current_app.config["SETTINGS"].base_url)}
    return origin.rstrip("/") in own


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _read_post(
    items: list[dict[str, Any]],
) -> tuple[dict[str, str], dict[str, Any], dict[str, list[str]]]:
    """The posted answers (as numbers), comment and safety box, plus errors found here."""
    chosen: dict[str, str] = {}
    answers: dict[str, Any] = {}
    for item in items:
        raw = request.form.get(f"answers.{item['key']}", "").strip()
        if raw:
            chosen[item["key"]] = raw[:MAX_ANSWER_LENGTH]
            answers[item["key"]] = _number(raw)
    comment = request.form.get("comment", "").replace("\r\n", "\n")
    data = {
        "answers": answers,
        "comment": comment,
        "safety_concern": bool(request.form.get("safety_concern")),
    }
    errors: dict[str, list[str]] = {}
    try:
        data["comment"] = _COMMENT.deserialize(comment) or None
    except ma.ValidationError:
        errors["comment"] = [
            gettext(
                "Please shorten your note to %(limit)s characters or fewer.",
                limit=format_number(COMMENT_MAX_LENGTH),
            )
            if len(comment.strip()) > COMMENT_MAX_LENGTH
            else gettext("Your note contains characters that cannot be saved; please remove them.")
        ]
        # Name the unanswered items too, so one round trip shows every problem.
        for item in items:
            if item["key"] not in answers:
                errors[f"answers.{item['key']}"] = [MISSING]
    return chosen, data, errors


def _number(raw: str) -> Any:
    """An int or finite float; anything else stays a string, which scoring calls not a number."""
    if len(raw) > MAX_ANSWER_LENGTH:
        return raw
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        return raw
    return value if math.isfinite(value) else raw


def _choices(item: dict[str, Any]) -> list[str] | None:
    """The values of an item's radio row, or None when a number field fits better."""
    try:
        low, high, step = (Decimal(str(item[k])) for k in ("min", "max", "step"))
    except (InvalidOperation, KeyError):
        return None
    if step <= 0 or high < low or (high - low) / step >= MAX_RADIO_CHOICES:
        return None
    values, value = [], low
    while value <= high:
        values.append(_plain(value))
        value += step
    return values


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _item_errors(items: list[dict[str, Any]], errors: dict[str, list[str]]) -> dict[str, str]:
    """What to say under each item that needs an answer: missing or not one of its numbers
    (the scoring's own words are for the API), in the page's language."""
    return {
        item["key"]: _what_to_answer(item) for item in items if errors.get(f"answers.{item['key']}")
    }


def _what_to_answer(item: dict[str, Any]) -> str:
    bounds = {"min": item["min"], "max": item["max"]}
    if item["choices"]:
        return gettext("Please choose a number from %(min)s to %(max)s.", **bounds)
    if Decimal(str(item["step"])) == 1:
        return gettext("Please enter a whole number from %(min)s to %(max)s.", **bounds)
    return gettext(
        "Please enter a number from %(min)s to %(max)s, in steps of %(step)s.",
        step=item["step"],
        **bounds,
    )


def _error_list(
    items: list[dict[str, Any]], item_errors: dict[str, str], errors: dict[str, list[str]]
) -> list[tuple[str, str]]:
    """(target id, message) for the summary, in the order of the page."""
    listed = [
        (f"item-{item['key']}", gettext("Please answer: %(question)s", question=item["label"]))
        for item in items
        if item["key"] in item_errors
    ]
    listed += [("comment", message) for message in errors.get("comment", [])]
    known = {f"answers.{item['key']}" for item in items} | {"comment"}
    if any(field not in known for field in errors):
        listed.append(("answers", gettext("Please check your answers.")))
    return listed


def _form_page(
    form: links.Form,
    status: int,
    *,
    chosen: dict[str, str] | None = None,
    data: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
):
    errors = errors or {}
    data = data or {}
    items = [{**item, "choices": _choices(item)} for item in form.items]
    item_errors = _item_errors(items, errors)
    page = render_template(
        "web/form.html",
        form=form,
        items=items,
        session_date=i18n.long_date(form.session_date, g.partner_language),
        chosen=chosen or {},
        comment=data.get("comment") or "",
        safety_concern=bool(data.get("safety_concern")),
        errors=errors,
        item_errors=item_errors,
        error_list=_error_list(items, item_errors, errors),
        comment_max_length=COMMENT_MAX_LENGTH,
    )
    return page, status


def _message(status: int, headers: dict[str, str] | None = None):
    heading, text = _PAGES.get(status, _TROUBLE)
    page = render_template("web/message.html", heading=gettext(heading), text=gettext(text))
    return page, status, headers or {}
