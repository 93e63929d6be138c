"""`/v1/staff` and the public therapist directory `/v1/public/clinics/{slug}/therapists`."""

from flask import current_app
from flask.views import MethodView

from service.auth import lockout
from service.clinics import service as clinics
from service.http import etags
from service.http.apidoc import sends
from service.http.extensions import (
    Blueprint,
    idempotent,
    if_match,
    public_clinic,
    rate_limited,
    require,
)
from service.http.limits import limiter
from service.http.pagination import paged
from service.notifications import service as notifications
from service.staff import directory, invites, schemas, service, totp
from service.staff.policy import ROLES

blp = Blueprint("staff", __name__, url_prefix="/v1/staff", description="Staff of the clinic.")
directory_blp = Blueprint(
    "directory",
    __name__,
    url_prefix="/v1/public",
    description="No token needed: a clinic's public therapist directory.",
)


def _settings():
    return current_app.config["SETTINGS"]


def _with_etag(member, **headers):
    return member, {**etags.headers_for(member.version), **headers}


@blp.route("")
class StaffCollection(MethodView):
    @require("staff.read")
    @blp.arguments(schemas.StaffQuerySchema, location="query")
    @blp.response(200, schemas.StaffPageSchema)
    def get(self, query):
        """List the clinic's staff, filtered by role, activity or name.

        Changes nothing.
        """
        return paged(service.list_staff(**query))

    @require("staff.write", roles=("admin",))
    @idempotent(redact=("invite_url",))  # a one-time credential is never stored
    @blp.arguments(schemas.StaffCreateSchema)
    @blp.response(201, schemas.StaffInvitedSchema, headers=sends("Location", "ETag"))
    def post(self, data):
        """Invite a staff member.

        Creates the staff member and emails them a one-time link to set a password; `invite_url` is
        that link, shown in this response only (null in an `Idempotency-Key` replay). An email
        already used in the clinic is 409.
        """
        invited = invites.invite(data, _settings(), notifications.enqueue_email)
        member = invited.resource
        return invited, {**etags.headers_for(member.version), "Location": f"/v1/staff/{member.id}"}


@blp.route("/<uuid:staff_id>")
class StaffItem(MethodView):
    @require("staff.read")
    @blp.response(200, schemas.StaffSchema, headers=sends("ETag"))
    def get(self, staff_id):
        """Read a staff member.

        Changes nothing.
        """
        return _with_etag(service.get(staff_id))

    @require("staff.read", roles=ROLES)
    @if_match
    @blp.arguments(schemas.StaffPatchSchema)
    @blp.response(200, schemas.StaffSchema, headers=sends("ETag"))
    def patch(self, changes, staff_id):
        """Change a staff member.

        Admins change any field of anyone; other staff only their own profile fields (otherwise
        403). An admin cannot deactivate or demote themselves (409).
        """
        return _with_etag(service.update(staff_id, changes, etags.check))


@blp.route("/<uuid:staff_id>/deactivate", methods=["POST"])
@require("staff.write", roles=("admin",))
@blp.response(200, schemas.StaffSchema, headers=sends("ETag"))
def deactivate(staff_id):
    """Deactivate a staff member.

    No more sign-in; tokens already issued to them stop working, and an unused invite link too. Not
    for yourself (409).
    """
    return _with_etag(service.deactivate(staff_id))


@blp.route("/<uuid:staff_id>/reactivate", methods=["POST"])
@require("staff.write", roles=("admin",))
@blp.response(200, schemas.StaffSchema, headers=sends("ETag"))
def reactivate(staff_id):
    """Reactivate a staff member.

    Sign-in works again; tokens issued before the deactivation stay refused.
    """
    return _with_etag(service.reactivate(staff_id))


@blp.route("/<uuid:staff_id>/invite", methods=["POST"])
@require("staff.write", roles=("admin",))
@blp.response(200, schemas.StaffInvitedSchema, headers=sends("ETag"))
def reinvite(staff_id):
    """Send a staff member a fresh invite link.

    A new one-time set-password link by email (and in `invite_url`, this once); the previous one
    stops working. A deactivated member must be reactivated first (409).
    """
    invited = invites.reissue(staff_id, _settings(), notifications.enqueue_email)
    return invited, etags.headers_for(invited.resource.version)


@blp.route("/<uuid:staff_id>/totp/enrol", methods=["POST"])
@require("staff.read", roles=ROLES)
@blp.response(200, schemas.TotpEnrolmentSchema, headers=sends("ETag"))
def enrol_totp(staff_id):
    """Start setting up your second factor (TOTP).

    A new secret for your own account, shown in this response only, and its otpauth:// URI for
    an authenticator app; it is off until `POST .../totp/confirm` sends a code from the app.
    Another member's account is 403; 409 while it is already on.
    """
    enrolment = totp.start_enrolment(staff_id)
    return enrolment, etags.headers_for(enrolment.resource.version)


@blp.route("/<uuid:staff_id>/totp/confirm", methods=["POST"])
@require("staff.read", roles=ROLES)
@blp.arguments(schemas.TotpCodeSchema)
@blp.response(200, schemas.StaffSchema, headers=sends("ETag"))
def confirm_totp(data, staff_id):
    """Switch your second factor on.

    With a current code from the app just set up; from then on signing in asks for a code. A
    wrong or already used code is 422 naming `code` and counts towards the sign-in lockout.
    """
    return _with_etag(totp.confirm(staff_id, data["code"], lockout))


@blp.route("/<uuid:staff_id>/totp/disable", methods=["POST"])
@require("staff.read", roles=ROLES)
@blp.arguments(schemas.TotpCodeSchema)
@blp.response(200, schemas.StaffSchema, headers=sends("ETag"))
def disable_totp(data, staff_id):
    """Switch your second factor off.

    With a current code from the app. 409 when the clinic requires a second factor (an admin
    can reset it instead, to enrol a new device); a wrong code is 422 naming `code`.
    """
    return _with_etag(totp.disable(staff_id, data["code"], lockout))


@blp.route("/<uuid:staff_id>/totp/reset", methods=["POST"])
@require("staff.write", roles=("admin",))
@blp.response(200, schemas.StaffSchema, headers=sends("ETag"))
def reset_totp(staff_id):
    """Reset a staff member's second factor.

    For a lost or replaced phone: their second factor is removed, and if the clinic requires
    one they set it up again at their next sign-in. Audited. Not for yourself (409).
    """
    return _with_etag(totp.reset(staff_id))


@directory_blp.route("/clinics/<slug>/therapists")
class TherapistDirectory(MethodView):
    @limiter.limit(lambda: current_app.config["SETTINGS"].directory_rate_limit)
    @rate_limited
    @public_clinic(clinics.public_id)
    @directory_blp.arguments(schemas.DirectoryQuerySchema, location="query")
    @directory_blp.response(200, schemas.DirectoryPageSchema)
    def get(self, query):
        """List a clinic's public therapists.

        The active therapists who chose to be listed, with public profile fields only; filter by
        approach, language or whether they take new couples. Changes nothing.
        """
        return paged(directory.public_directory(**query))
