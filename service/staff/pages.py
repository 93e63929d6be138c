"""The set-password page behind an invite link (`/invite/<token>`): server-rendered, no
JavaScript. The link is the credential; the form carries a CSRF token kept in the session."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from werkzeug.exceptions import TooManyRequests

from service.core.errors import Gone, Invalid, NotFound
from service.http import forms
from service.http.extensions import act_as, transactional
from service.http.limits import limiter
from service.staff import invites

blp = Blueprint("staff_pages", __name__, template_folder="templates")

CSRF_PURPOSE = "invite"
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


@blp.route("/invite/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SETTINGS"].login_rate_limit, methods=["POST"])
@transactional
def set_password(token: str):
    try:
        opened = invites.open_invite(token)
    except (NotFound, Gone) as error:
        return _unusable(error)
    if request.method == "GET":
        return _form(opened, 200, {})
    if not forms.csrf_valid(CSRF_PURPOSE):
        expired = {"form": ["This form expired. Please enter your new password again."]}
        return _form(opened, 400, expired)
    act_as(opened.invitee)  # the link is the credential: the rest runs in their clinic
    try:
        invites.accept(token, request.form.get("password", ""), request.form.get("confirm", ""))
    except Invalid as error:
        return _form(opened, 422, error.errors or {})
    except (NotFound, Gone) as error:  # used or expired while the form was open
        return _unusable(error)
    forms.forget(CSRF_PURPOSE)
    return _page("staff/password_set.html", 200, clinic_name=opened.clinic_name)


def _unusable(error: NotFound | Gone):
    return _page("staff/invite_unusable.html", 410 if isinstance(error, Gone) else 404, error)


def _form(opened: invites.OpenInvite, status: int, errors: dict[str, list[str]]):
    return _page(
        "staff/set_password.html",
        status,
        member=opened.member,
        clinic_name=opened.clinic_name,
        errors=errors,
        min_length=invites.MIN_PASSWORD_LENGTH,
        csrf_token=forms.csrf_token(CSRF_PURPOSE),
    )


@blp.errorhandler(TooManyRequests)
def _too_many_attempts(error: TooManyRequests):
    """A person at a form gets a page, not problem+json; `Retry-After` stays."""
    headers = {**_HEADERS, **{k: v for k, v in error.get_headers() if k != "Content-Type"}}
    return render_template("staff/too_many_attempts.html"), 429, headers


def _page(template: str, status: int, error: Exception | None = None, **values: object):
    detail = getattr(error, "detail", None)
    return render_template(template, detail=detail, **values), status, _HEADERS
