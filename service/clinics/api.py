"""`/v1/clinic` (the caller's own clinic) and `/v1/clinics` (platform operators)."""

from flask import current_app
from flask.views import MethodView

from service.clinics import schemas, service
from service.http import etags
from service.http.apidoc import sends
from service.http.extensions import Blueprint, idempotent, if_match, require
from service.http.pagination import PageQuerySchema, paged
from service.notifications import service as notifications
from service.staff import invites
from service.staff.policy import PLATFORM_SCOPE

blp = Blueprint(
    "clinic",
    __name__,
    url_prefix="/v1/clinic",
    description="The caller's own clinic: name, timezone, locale, settings.",
)
platform_blp = Blueprint(
    "clinics",
    __name__,
    url_prefix="/v1/clinics",
    description="Platform operators: create clinics (tenants) with their first admin.",
)


@blp.route("")
class OwnClinic(MethodView):
    @require("clinic.read")
    @blp.response(200, schemas.ClinicSchema, headers=sends("ETag"))
    def get(self):
        """Read your own clinic.

        Changes nothing; the `ETag` is for a later `PATCH`.
        """
        clinic = service.own()
        return clinic, etags.headers_for(clinic.version)

    @require("clinic.write")
    @if_match
    @blp.arguments(schemas.ClinicPatchSchema)
    @blp.response(200, schemas.ClinicSchema, headers=sends("ETag"))
    def patch(self, changes):
        """Change your own clinic's name, time zone, locale, origins or sign-in rules.

        Only the fields sent change. An unknown time zone is 422. `require_second_factor` makes
        every staff member sign in with a TOTP code (those without one enrol at sign-in).
        """
        clinic = service.update_own(changes, etags.check)
        return clinic, etags.headers_for(clinic.version)


@platform_blp.route("")
class Clinics(MethodView):
    @require(PLATFORM_SCOPE)
    @platform_blp.arguments(PageQuerySchema, location="query")
    @platform_blp.response(200, schemas.ClinicPageSchema)
    def get(self, query):
        """List the platform's clinics.

        Changes nothing.
        """
        return paged(service.list_for_platform(**query))

    @require(PLATFORM_SCOPE)
    @idempotent(redact=("admin_invite_url",))
    @platform_blp.arguments(schemas.ClinicOnboardingSchema)
    @platform_blp.response(201, schemas.OnboardedClinicSchema, headers=sends("Location", "ETag"))
    def post(self, data):
        """Create a clinic with its first admin.

        Creates the clinic (a tenant) and its first admin, and emails the admin a one-time link to
        set a password; `admin_invite_url` is the same link, shown in this response only. A slug
        already taken is 409.
        """
        settings = current_app.config["SETTINGS"]
        onboarded = invites.onboard_clinic(data, settings, notifications.enqueue_email)
        clinic = onboarded.resource
        return onboarded, {
            "Location": f"/v1/clinics/{clinic.id}",
            **etags.headers_for(clinic.version),
        }


@platform_blp.route("/<uuid:clinic_id>")
class ClinicItem(MethodView):
    @require(PLATFORM_SCOPE)
    @platform_blp.response(200, schemas.ClinicSchema, headers=sends("ETag"))
    def get(self, clinic_id):
        """Read a clinic.

        Changes nothing.
        """
        clinic = service.get_for_platform(clinic_id)
        return clinic, etags.headers_for(clinic.version)
