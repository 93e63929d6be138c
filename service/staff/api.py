"""`/v1/staff` and the public therapist directory `/v1/public/clinics/{slug}/therapists`."""

from flask import current_app
from flask.views import MethodView

from service.clinics import service as clinics
from service.http import etags
from service.http.extensions import Blueprint, idempotent, if_match, public_clinic, require
from service.http.limits import limiter
from service.http.pagination import paged
from service.notifications import service as notifications
from service.staff import directory, invites, schemas, service
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
        return paged(service.list_staff(**query))

    @require("staff.write", roles=("admin",))
    @idempotent(redact=("invite_url",))  # a one-time credential is never stored
    @blp.arguments(schemas.StaffCreateSchema)
    @blp.response(201, schemas.StaffInvitedSchema)
    def post(self, data):
        invited = invites.invite(data, _settings(), notifications.enqueue_email)
        member = invited.resource
        return invited, {**etags.headers_for(member.version), "Location": f"/v1/staff/{member.id}"}


@blp.route("/<uuid:staff_id>")
class StaffItem(MethodView):
    @require("staff.read")
    @blp.response(200, schemas.StaffSchema)
    def get(self, staff_id):
        return _with_etag(service.get(staff_id))

    @require("staff.read", roles=ROLES)
    @if_match
    @blp.arguments(schemas.StaffPatchSchema)
    @blp.response(200, schemas.StaffSchema)
    def patch(self, changes, staff_id):
        """Admins change anything; other staff only their own profile fields (else 403)."""
        return _with_etag(service.update(staff_id, changes, etags.check))


@blp.route("/<uuid:staff_id>/deactivate", methods=["POST"])
@require("staff.write", roles=("admin",))
@blp.response(200, schemas.StaffSchema)
def deactivate(staff_id):
    """No more sign-in; tokens already issued to them stop working. Not for yourself (409)."""
    return _with_etag(service.deactivate(staff_id))


@blp.route("/<uuid:staff_id>/reactivate", methods=["POST"])
@require("staff.write", roles=("admin",))
@blp.response(200, schemas.StaffSchema)
def reactivate(staff_id):
    return _with_etag(service.reactivate(staff_id))


@blp.route("/<uuid:staff_id>/invite", methods=["POST"])
@require("staff.write", roles=("admin",))
@blp.response(200, schemas.StaffInvitedSchema)
def reinvite(staff_id):
    """A fresh set-password link; the previous one stops working."""
    invited = invites.reissue(staff_id, _settings(), notifications.enqueue_email)
    return invited, etags.headers_for(invited.resource.version)


@directory_blp.route("/clinics/<slug>/therapists")
class TherapistDirectory(MethodView):
    @limiter.limit(lambda: current_app.config["SETTINGS"].directory_rate_limit)
    @public_clinic(clinics.public_id)
    @directory_blp.arguments(schemas.DirectoryQuerySchema, location="query")
    @directory_blp.response(200, schemas.DirectoryPageSchema)
    def get(self, query):
        """Listed, active therapists: public profile fields only."""
        return paged(directory.public_directory(**query))
