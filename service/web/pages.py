"""The partner's feedback form at `/f/<token>`: server-rendered HTML that works without
JavaScript, under a strict Content-Security-Policy (the stylesheet is a static file; nothing is
inline and nothing comes from another site).

The token in the URL is the credential (256-bit random, single use, expiring), so the form
carries no CSRF token: a forged post would have to know the token already, and whoever knows
it can post without a browser anyway. Cross-origin posts are still refused (Origin and
Sec-Fetch-Site) as defence in depth.

Nothing a partner sees here mentions scores, alerts or the other partner.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from service.alerts import evaluation
from service.core.errors import Conflict, Gone, Invalid, NotFound
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
_COMMENT = schemas.SubmitSchema().fields["comment"]
COMMENT_MAX_LENGTH = _COMMENT.metadata.get("maxLength", 1000)

_PAGES = {
    # status: (heading, text)
    403: ("This form can only be sent from its own page", "Please open your link again."),
    404: (
        "This link does not work",
        "Please check that you opened the whole link, or ask your clinic for a new one.",
    ),
    409: (
        "Already answered",
        "These questions were already answered. Thank you, there is nothing more to do.",
    ),
    410: ("This link has expired", "This link has expired; ask your clinic for a new one."),
    429: ("Too many attempts", "Please wait a minute, then try again."),
}


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
        grant = open_link(token, links.resolve_token)
        form = links.form(grant)
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
        return _message(410)
    except Conflict:
        return _message(409)
    return redirect(url_for("web.thanks"), 303)


@blp.route("/thanks")
def thanks():
    """Reveals nothing: no clinic, no names, no answers."""
    return render_template("web/thanks.html")


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    """A person at a form gets a page, not problem+json (429 keeps its `Retry-After`)."""
    status = error.code or 500
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    heading, text = _PAGES.get(status, ("Something went wrong", "Please try again later."))
    return render_template("web/message.html", heading=heading, text=text), status, headers


# -- helpers ----------------------------------------------------------------------------------


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
            f"Please shorten your note to {COMMENT_MAX_LENGTH:,} characters or fewer."
            if len(comment.strip()) > COMMENT_MAX_LENGTH
            else "Your note contains characters that cannot be saved; please remove them."
        ]
        # Name the unanswered items too, so one round trip shows every problem.
        for item in items:
            if item["key"] not in answers:
                errors[f"answers.{item['key']}"] = ["Missing answer."]
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


def _long_date(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def _error_list(items: list[dict[str, Any]], errors: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(target id, message) for the summary, in the order of the page."""
    listed = []
    for item in items:
        messages = errors.get(f"answers.{item['key']}")
        if messages:
            listed.append((f"item-{item['key']}", _item_message(item, messages)))
    for message in errors.get("comment", []):
        listed.append(("comment", message))
    known = {f"answers.{item['key']}" for item in items} | {"comment"}
    for field, messages in errors.items():
        if field not in known:
            listed.extend(("answers", message) for message in messages)
    return listed


def _item_message(item: dict[str, Any], messages: list[str]) -> str:
    if messages == ["Missing answer."]:
        return f"Please answer: {item['label']}"
    return f"{item['label']} {' '.join(messages)}"


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
    page = render_template(
        "web/form.html",
        form=form,
        items=items,
        session_date=_long_date(form.session_date),
        chosen=chosen or {},
        comment=data.get("comment") or "",
        safety_concern=bool(data.get("safety_concern")),
        errors=errors,
        error_list=_error_list(form.items, errors),
        comment_max_length=COMMENT_MAX_LENGTH,
    )
    return page, status


def _message(status: int):
    heading, text = _PAGES[status]
    return render_template("web/message.html", heading=heading, text=text), status
