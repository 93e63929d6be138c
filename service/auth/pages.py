"""The staff sign-in form, one for every way in: the OAuth authorization endpoint and the
clinician pages under /app/. One template, one CSRF check (a token in Flask's signed session
cookie, since nobody is signed in yet), one set of messages, one rate limit.

With a second factor the form has a second step, posted to the same address (so the OAuth
request's parameters stay in it): the code from the app, or first setting the app up when the
clinic requires it. Who passed the password is remembered for that step in the same signed
cookie, for a few minutes, by ids only; nothing is signed in or issued before the code."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from flask import Response, current_app, render_template, request, session

from service.auth import login
from service.auth.login import StaffUser
from service.core.clock import utcnow
from service.core.errors import NotFound
from service.http import forms, limits
from service.staff.totp import WRONG_CODE

BAD_CREDENTIALS = "The email or password is incorrect."
ASK_CLINIC = (
    "This email is registered at more than one clinic. Enter your clinic's identifier to continue."
)
LOCKED = "Too many failed sign-ins with this email. Please wait a few minutes, then try again."
SESSION_EXPIRED = "Your sign-in form expired. Please try again."
CSRF_PURPOSE = "sign-in"
PENDING = "sign-in.pending"  # the session key of a sign-in waiting for its second step
PENDING_SECONDS = 300


def login_limit() -> str:
    return current_app.config["SETTINGS"].login_rate_limit


def sign_in(
    signed_in: Callable[[StaffUser], Response],
    *,
    layout: str = "oauth/_layout.html",
    notice: str | None = None,
) -> Response:
    """GET shows the form; a POST that checks out calls `signed_in` with the staff member.
    `layout` is the page the form sits in; `notice` a message shown above it."""
    page = _Page(layout, notice)
    if request.method == "GET":
        return page.render()
    if not forms.csrf_valid(CSRF_PURPOSE):
        return page.render(error=SESSION_EXPIRED, status=400)
    if "code" in request.form:
        return _second_step(page, signed_in)
    clinic = request.form.get("clinic") or request.args.get("clinic")
    outcome = login.authenticate_staff(
        request.form.get("email", ""), request.form.get("password", ""), clinic
    )
    if outcome.locked_for:
        return limits.retry_after(page.render(error=LOCKED, status=429), outcome.locked_for)
    if outcome.needs_clinic:
        return page.render(error=ASK_CLINIC, ask_clinic=True)
    if outcome.pending is not None:
        _remember(outcome.pending)
        return page.render_second_step(outcome)
    if outcome.user is None:
        return page.render(error=BAD_CREDENTIALS, ask_clinic=bool(request.form.get("clinic")))
    forms.forget(CSRF_PURPOSE)
    return signed_in(outcome.user)


def _second_step(page: _Page, signed_in: Callable[[StaffUser], Response]) -> Response:
    user = _pending()
    if user is None:
        return page.render(error=SESSION_EXPIRED, status=400)
    try:
        outcome = login.check_second_factor(user, request.form.get("code", ""))
    except NotFound:  # deactivated meanwhile
        session.pop(PENDING, None)
        return page.render(error=BAD_CREDENTIALS)
    if outcome.locked_for:
        session.pop(PENDING, None)
        return limits.retry_after(page.render(error=LOCKED, status=429), outcome.locked_for)
    if outcome.user is None:
        return page.render_second_step(outcome, error=WRONG_CODE, status=422)
    session.pop(PENDING, None)
    forms.forget(CSRF_PURPOSE)
    return signed_in(outcome.user)


def _remember(user: StaffUser) -> None:
    session[PENDING] = {
        "staff": str(user.staff_id),
        "clinic": str(user.clinic_id),
        "role": user.role,
        "until": utcnow().timestamp() + PENDING_SECONDS,
    }


def _pending() -> StaffUser | None:
    """Who passed the password in this browser, if that was less than PENDING_SECONDS ago."""
    kept = session.get(PENDING)
    if not isinstance(kept, dict) or kept.get("until", 0) < utcnow().timestamp():
        session.pop(PENDING, None)
        return None
    return StaffUser(uuid.UUID(kept["staff"]), uuid.UUID(kept["clinic"]), kept["role"])


class _Page:
    def __init__(self, layout: str, notice: str | None) -> None:
        self.layout, self.notice = layout, notice

    def render(
        self, *, error: str | None = None, ask_clinic: bool = False, status: int = 200
    ) -> Response:
        return self._html(
            "oauth/login.html",
            status,
            error=error,
            email=request.form.get("email", "") if request.method == "POST" else "",
            ask_clinic=ask_clinic,
            clinic=request.form.get("clinic", ""),
        )

    def render_second_step(
        self, outcome: login.LoginOutcome, *, error: str | None = None, status: int = 200
    ) -> Response:
        enrolling = None
        if outcome.second_factor == login.ENROL and outcome.pending is not None:
            enrolling = login.enrolling(outcome.pending)
        return self._html("oauth/second_factor.html", status, error=error, enrolling=enrolling)

    def _html(self, template: str, status: int, **values: object) -> Response:
        html = render_template(
            template,
            layout=self.layout,
            notice=self.notice,
            action=request.full_path,
            csrf_token=forms.csrf_token(CSRF_PURPOSE),
            **values,
        )
        return Response(html, status=status, mimetype="text/html")
