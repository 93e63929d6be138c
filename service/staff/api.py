from flask import current_app
from flask.views import MethodView

from service.auth.resource import public, require
from service.clinics import service as clinics
from service.http import etags
from service.http.api import Blueprint
from service.http.idempotency import idempotent
from service.http.limits import limiter
from service.http.pagination import PageQuerySchema, paged
from service.notifications import service as notifications
from service.staff import schemas, service
from service.staff.policy import PLATFORM_SCOPE, ROLES

blp = Blueprint("staff", __name__, url_prefix="/v1/staff", description="Staff of the clinic.")
# Platform onboarding lives here, not in clinics: it creates the first admin (staff), and the
# clinics feature must never import staff.
platform_blp = Blueprint(
    "clinics",
    __name__,
    url_prefix="/v1/clinics",
    description="Platform operators: create clinics (tenants) with their first admin.",
)
directory_blp = Blueprint(
    "directory",
    __name__,
    url_prefix="/v1/public",
    description="No token needed: a clinic's public therapist directory.",
)


def _settings():
    return current_app.config["SETTINGS"]


@blp.route("")
class StaffCollection(MethodView):
    @require("staff.read")
    @blp.arguments(schemas.StaffQuerySchema, location="query")
    @blp.response(200, schemas.StaffPageSchema)
    def get(self, query):
        return paged(service.list_staff(**query))

    @require("staff.write", roles=("admin",))
    @idempotent(redact=("invite_url",))  # a one-time credential is never stored
    @blp.documents_idempotency
    @blp.arguments(schemas.StaffCreateSchema)
    @blp.response(201, schemas.StaffInvitedSchema)
    def post(self, data):
        invited = service.invite(data, _settings(), notifications.enqueue_staff_invitation)
        return invited, _item_headers(invited.member, created=True)


@blp.route("/<uuid:staff_id>")
class StaffItem(MethodView):
    @require("staff.read")
    @blp.response(200, schemas.StaffSchema)
    def get(self, staff_id):
        member = service.get(staff_id)
        return member, etags.headers_for(member.version)

    @require("staff.read", roles=ROLES)
    @blp.if_match
    @blp.arguments(schemas.StaffPatchSchema)
    @blp.response(200, schemas.StaffSchema)
    def patch(self, changes, staff_id):
        """Admins change anything; other staff only their own profile fields (else 403)."""
        member = service.update(staff_id, changes, etags.check)
        return member, etags.headers_for(member.version)


@blp.route("/<uuid:staff_id>/deactivate", methods=["POST"])
@require("staff.write", roles=("admin",))
@blp.response(200, schemas.StaffSchema)
def deactivate(staff_id):
    """No more sign-in; tokens already issued to them stop working. Not for yourself (409)."""
    member = service.deactivate(staff_id)
    return member, etags.headers_for(member.version)


@blp.route("/<uuid:staff_id>/reactivate", methods=["POST"])
@require("staff.write", roles=("admin",))
@blp.response(200, schemas.StaffSchema)
def reactivate(staff_id):
    member = service.reactivate(staff_id)
    return member, etags.headers_for(member.version)


@blp.route("/<uuid:staff_id>/invite", methods=["POST"])
@require("staff.write", roles=("admin",))
@blp.response(200, schemas.StaffInvitedSchema)
def reinvite(staff_id):
    """A fresh set-password link; the previous one stops working."""
    invited = service.reissue_invite(staff_id, _settings(), notifications.enqueue_staff_invitation)
    return invited, etags.headers_for(invited.member.version)


def _item_headers(member, *, created=False):
    headers = etags.headers_for(member.version)
    if created:
        headers["Location"] = f"/v1/staff/{member.id}"
    return headers


@platform_blp.route("")
class Clinics(MethodView):
    @require(PLATFORM_SCOPE)
    @platform_blp.arguments(PageQuerySchema, location="query")
    @platform_blp.response(200, schemas.ClinicPageSchema)
    def get(self, query):
        return paged(clinics.list_for_platform(**query))

    @require(PLATFORM_SCOPE)
    @idempotent(redact=("admin_invite_url",))
    @platform_blp.documents_idempotency
    @platform_blp.arguments(schemas.ClinicOnboardingSchema)
    @platform_blp.response(201, schemas.OnboardedClinicSchema)
    def post(self, data):
        """A clinic with its first admin; `admin_invite_url` is shown once."""
        onboarded = service.onboard_clinic(
            data, _settings(), notifications.enqueue_staff_invitation
        )
        location = f"/v1/clinics/{onboarded.clinic.id}"
        return onboarded, {"Location": location, **etags.headers_for(onboarded.clinic.version)}


@platform_blp.route("/<uuid:clinic_id>")
class ClinicItem(MethodView):
    @require(PLATFORM_SCOPE)
    @platform_blp.response(200, schemas.ClinicSchema)
    def get(self, clinic_id):
        clinic = clinics.get_for_platform(clinic_id)
        return clinic, etags.headers_for(clinic.version)


@directory_blp.route("/clinics/<slug>/therapists")
class TherapistDirectory(MethodView):
    @public
    @limiter.limit(lambda: current_app.config["SETTINGS"].directory_rate_limit)
    @directory_blp.arguments(schemas.DirectoryQuerySchema, location="query")
    @directory_blp.response(200, schemas.DirectoryPageSchema)
    def get(self, query, slug):
        """Listed, active therapists: public profile fields only."""
        return paged(service.public_directory(slug, **query))
