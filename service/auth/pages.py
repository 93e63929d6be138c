"""The staff sign-in form, one for every way in: the OAuth authorization endpoint and the
clinician pages under /app/. One template, one CSRF check (a token in Flask's signed session
cookie, since nobody is signed in yet), one set of messages, one rate limit."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, current_app, render_template, request

from service.auth import login
from service.auth.login import StaffUser
from service.http import forms, limits

BAD_CREDENTIALS = "The email or password is incorrect."
ASK_CLINIC = (
    "This email is registered at more than one clinic. Enter your clinic's identifier to continue."
)
LOCKED = "Too many failed sign-ins with this email. Please wait a few minutes, then try again."
SESSION_EXPIRED = "Your sign-in form expired. Please try again."
CSRF_PURPOSE = "sign-in"


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
    clinic = request.form.get("clinic") or request.args.get("clinic")
    outcome = login.authenticate_staff(
        request.form.get("email", ""), request.form.get("password", ""), clinic
    )
    if outcome.locked_for:
        return limits.retry_after(page.render(error=LOCKED, status=429), outcome.locked_for)
    if outcome.needs_clinic:
        return page.render(error=ASK_CLINIC, ask_clinic=True)
    if outcome.user is None:
        return page.render(error=BAD_CREDENTIALS, ask_clinic=bool(request.form.get("clinic")))
    forms.forget(CSRF_PURPOSE)
    return signed_in(outcome.user)


class _Page:
    def __init__(self, layout: str, notice: str | None) -> None:
        self.layout, self.notice = layout, notice

    def render(
        self, *, error: str | None = None, ask_clinic: bool = False, status: int = 200
    ) -> Response:
        html = render_template(
            "oauth/login.html",
            layout=self.layout,
            notice=self.notice,
            action=request.full_path,
            csrf_token=forms.csrf_token(CSRF_PURPOSE),
            error=error,
            email=request.form.get("email", "") if request.method == "POST" else "",
            ask_clinic=ask_clinic,
            clinic=request.form.get("clinic", ""),
        )
        return Response(html, status=status, mimetype="text/html")
