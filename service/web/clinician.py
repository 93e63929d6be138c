"""The clinician pages under /app/: the alerts inbox, an alert, a couple. Server-rendered, no
JavaScript. Sign-in is the OAuth login form; the session is a server-side row behind a
`Secure; HttpOnly; SameSite=Lax` cookie that ends after 15 idle minutes; every form carries a
CSRF token. Actions go through the alerts use-cases, exactly as the API's do.

A page the caller may not see (another caseload, another clinic, no such thing) is the same
404 page, so it reveals nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from service.alerts import explain
from service.alerts import service as alerts
from service.auth import pages, web_sessions
from service.auth.login import StaffUser
from service.clinics import service as clinics
from service.core import context
from service.core.errors import Conflict, Invalid, NotFound
from service.http import forms
from service.http.extensions import act_as, transactional
from service.http.limits import limiter
from service.staff import service as staff
from service.web import security, views

blp = Blueprint(
    "clinician",
    __name__,
    url_prefix="/app",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
security.protect(blp, "/app")

COOKIE = "alliance_session"
CSRF_PURPOSE = "app"
DONE = {
    "acknowledge": "Alert acknowledged.",
    "snooze": "Alert snoozed.",
    "resolve": "Alert resolved.",
}
_MESSAGES = {
    # status: (heading, text)
    400: ("This form expired", "Nothing was changed. Go back, reload the page and try again."),
    404: ("Not found", "There is nothing here for you: it may be in another caseload, or gone."),
    405: ("Not found", "There is nothing here for you."),
    429: ("Too many attempts", "Please wait a minute, then try again."),
}


def _lifetime() -> web_sessions.Lifetime:
    settings = current_app.config["SETTINGS"]
    return web_sessions.Lifetime(
        idle=timedelta(seconds=settings.web_session_idle_ttl),
        absolute=timedelta(seconds=settings.web_session_absolute_ttl),
    )


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """The view runs as the signed-in clinician, in their clinic; otherwise to the sign-in
    page (and back here after it). A post must carry the page's CSRF token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        caller = web_sessions.resume(request.cookies.get(COOKIE, ""), _lifetime())
        if caller is None:
            return _to_sign_in(ended=COOKIE in request.cookies)
        act_as(caller)
        if request.method == "POST" and not forms.csrf_valid(CSRF_PURPOSE):
            return _message(400)
        return view(*args, **kwargs)

    return transactional(wrapper)


# -- signing in and out ---------------------------------------------------------------------


@blp.route("/login", methods=["GET", "POST"])
@limiter.limit(pages.login_limit, methods=["POST"])
@transactional
def login() -> Response:
    notice = _ended_notice() if request.args.get("ended") else None
    return pages.sign_in(_start_session, layout="app/base.html", notice=notice)


def _start_session(user: StaffUser) -> Response:
    response = redirect(_next_page(), 303)
    response.set_cookie(
        COOKIE,
        web_sessions.start(user, _lifetime()),
        secure=True,
        httponly=True,
        samesite="Lax",
        path="/app",
    )
    forms.forget(CSRF_PURPOSE)  # a fresh token for the new session's forms
    return response


@blp.post("/logout")
def logout() -> Response:
    if forms.csrf_valid(CSRF_PURPOSE):
        web_sessions.end(request.cookies.get(COOKIE, ""))
    response = redirect(url_for("clinician.login"), 303)
    response.delete_cookie(COOKIE, path="/app", secure=True, httponly=True, samesite="Lax")
    return response


def _to_sign_in(*, ended: bool) -> Response:
    back = {"next": request.path, **({"ended": "1"} if ended else {})}
    response = redirect(f"{url_for('clinician.login')}?{urlencode(back)}", 303)
    if ended:
        response.delete_cookie(COOKIE, path="/app", secure=True, httponly=True, samesite="Lax")
    return response


def _ended_notice() -> str:
    minutes = current_app.config["SETTINGS"].web_session_idle_ttl // 60
    return (
        f"You were signed out: for privacy, sessions end after {minutes} minutes without "
        "activity. Sign in again to continue."
    )


def _next_page() -> str:
    """Back to the page that asked for sign-in, if it is one of these pages."""
    wanted = request.args.get("next", "")
    inside = wanted.startswith("/app/") and "//" not in wanted and "\\" not in wanted
    return wanted if inside else url_for("clinician.inbox")


# -- pages ----------------------------------------------------------------------------------


@blp.get("/")
@signed_in
def inbox() -> Any:
    query, errors = views.read_form(views.InboxQuery(), request.args)
    if errors:
        return _page("app/inbox.html", 400, errors=errors, **views.inbox({}))
    return _page("app/inbox.html", 200, errors={}, **views.inbox(query))


@blp.route("/alerts/<uuid:alert_id>", methods=["GET", "POST"])
@signed_in
def alert(alert_id) -> Any:
    if request.method == "GET":
        return _alert_page(alert_id, 200, done=DONE.get(request.args.get("done", "")))
    data, errors = views.read_form(views.ActionForm(), request.form)
    if not errors:
        try:
            _act(alert_id, data)
        except (Invalid, Conflict) as error:
            errors = error.errors or {"action": [str(error)]}
    if errors:
        return _alert_page(alert_id, 422, errors=errors)
    return redirect(url_for("clinician.alert", alert_id=alert_id, done=data["action"]), 303)


def _act(alert_id, data: dict[str, Any]) -> None:
    """The same use-cases as POST /v1/alerts/{id}/acknowledge, /snooze and /resolve."""
    if data["action"] == "acknowledge":
        alerts.acknowledge(alert_id)
    elif data["action"] == "snooze":
        if "until" not in data:
            raise Invalid("Choose a date.", errors={"until": ["Choose the day it returns."]})
        alerts.snooze(alert_id, views.snooze_until(data["until"]))
    else:
        alerts.resolve(alert_id, data.get("note"))


def _alert_page(alert_id, status: int, **extra: Any) -> Any:
    return _page("app/alert.html", status, **{"errors": {}, **extra}, **views.alert_page(alert_id))


@blp.get("/couples/<uuid:couple_id>")
@signed_in
def couple(couple_id) -> Any:
    return _page("app/couple.html", 200, **views.couple_page(couple_id))


# -- rendering ------------------------------------------------------------------------------


@blp.errorhandler(NotFound)
def _not_found(_error: NotFound) -> Any:
    return _message(404)


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Any:
    """A person at a page gets a page, not problem+json (429 keeps its `Retry-After`)."""
    status = error.code if error.code in _MESSAGES else 404
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return (*_message(status), headers)


@blp.context_processor
def _page_values() -> dict[str, Any]:
    """What every page shows: who is signed in, their forms' CSRF token, words and times."""
    caller = context.actor()
    staff_id = caller.staff_id if caller is not None else None
    return {
        "signed_in_as": staff.public_name(staff_id) if staff_id else None,
        "csrf_token": forms.csrf_token(CSRF_PURPOSE),
        "rule_words": explain.rule_words,
        "severity_words": explain.severity_words,
        "when": _clinic_time,
    }


def _clinic_time(instant: Any, style: str = "%a %-d %b %Y, %H:%M") -> str:
    if instant is None:
        return ""
    return instant.astimezone(ZoneInfo(clinics.timezone())).strftime(style)


def _page(template: str, status: int, **values: Any) -> tuple[str, int]:
    return render_template(template, **values), status


def _message(status: int) -> tuple[str, int]:
    heading, text = _MESSAGES[status]
    return _page("app/message.html", status, heading=heading, text=text)
