"""`/v1/couples/**` and `/v1/partners/**`: couples in care and their two partners, with each
couple's alliance (series, chart), the right of access (export) and erasure."""

from flask import current_app
from flask.views import MethodView

from service.alerts import service as alerts
from service.alerts.schemas import AllianceWithAlertsSchema
from service.couples import schemas, service
from service.feedback import privacy
from service.feedback.schemas import CoupleExportSchema
from service.http import etags
from service.http.apidoc import sends
from service.http.extensions import Blueprint, idempotent, if_match, require
from service.http.pagination import paged

blp = Blueprint(
    "couples",
    __name__,
    url_prefix="/v1/couples",
    description="Couples in care, created together with their two partners.",
)
partners_blp = Blueprint(
    "partners",
    __name__,
    url_prefix="/v1/partners",
    description="One partner's details; erasure on request.",
)


def _with_etag(resource, **headers):
    return resource, {**etags.headers_for(resource.version), **headers}


@blp.route("")
class Couples(MethodView):
    @require("couples.read")
    @blp.arguments(schemas.CoupleQuerySchema, location="query")
    @blp.response(200, schemas.CouplePageSchema)
    def get(self, query):
        """List couples, filtered by status, therapist or label.

        A therapist sees their own caseload; supervisors and admins, the clinic's. Archived couples
        only with `archived=true`. Changes nothing.
        """
        return paged(service.list_couples(**query))

    @require("couples.write")
    @idempotent
    @blp.arguments(schemas.CoupleCreateSchema)
    @blp.response(201, schemas.CoupleSchema, headers=sends("Location", "ETag"))
    def post(self, data):
        """Create a couple with its two partners.

        A therapist creates couples in their own caseload (403 otherwise); `therapist_id` defaults
        to the caller. An unknown therapist is 422; a partner identifier already used in the clinic
        is 409.
        """
        couple = service.create(data)
        return _with_etag(couple, Location=f"/v1/couples/{couple.id}")


@blp.route("/<uuid:couple_id>")
class OneCouple(MethodView):
    @require("couples.read")
    @blp.response(200, schemas.CoupleSchema, headers=sends("ETag"))
    def get(self, couple_id):
        """Read a couple and its partners.

        Changes nothing (the read is audited).
        """
        return _with_etag(service.get(couple_id))

    @require("couples.write")
    @if_match
    @blp.arguments(schemas.CouplePatchSchema)
    @blp.response(200, schemas.CoupleSchema, headers=sends("ETag"))
    def patch(self, changes, couple_id):
        """Change a couple's label, status, goals or therapist.

        Only the fields sent change. Reassigning the therapist is for admins (403); a status the
        couple cannot move to from its current one is 409.
        """
        return _with_etag(service.update(couple_id, changes, etags.check))


@blp.route("/<uuid:couple_id>/archive")
class ArchiveCouple(MethodView):
    @require("couples.write")
    @blp.response(200, schemas.CoupleSchema, headers=sends("ETag"))
    def post(self, couple_id):
        """Archive a couple.

        Sets `archived_at` and closes the couple; it leaves the default lists. Archiving an archived
        couple changes nothing.
        """
        return _with_etag(service.archive(couple_id))


@blp.route("/<uuid:couple_id>/alliance")
class Alliance(MethodView):
    @require("feedback.read")
    @blp.response(200, AllianceWithAlertsSchema)
    def get(self, couple_id):
        """Read a couple's alliance: both partners' scores and their open alerts.

        Changes nothing.
        """
        return alerts.alliance(couple_id)


@blp.route("/<uuid:couple_id>/alliance.svg")
class AllianceChart(MethodView):
    @require("feedback.read")
    @blp.response(200, {"type": "string"}, content_type="image/svg+xml", headers=sends("ETag"))
    @blp.alt_response(304, description="Not modified: the chart is still the one you hold.")
    def get(self, couple_id):
        """Draw a couple's alliance chart (SVG).

        Both partners' scores over the sessions, the clinic's cutoff and the alerts. Send the `ETag`
        you hold as `If-None-Match` to get 304 while the chart is unchanged. Changes nothing.
        """
        chart = alerts.alliance_chart(couple_id)
        return etags.conditional(chart.etag, chart.svg, "image/svg+xml")


@blp.route("/<uuid:couple_id>/export")
class CoupleExport(MethodView):
    @require("couples.read")
    @blp.response(200, CoupleExportSchema)
    def get(self, couple_id):
        """Export everything held about a couple (the right of access).

        The couple, its partners, sessions, feedback links and responses, in one document. Changes
        nothing (the export is audited).
        """
        return privacy.export_couple(couple_id)


@partners_blp.route("/<uuid:partner_id>")
class OnePartner(MethodView):
    @require("couples.read")
    @partners_blp.response(200, schemas.PartnerSchema, headers=sends("ETag"))
    def get(self, partner_id):
        """Read one partner.

        Changes nothing (the read is audited).
        """
        return _with_etag(service.get_partner(partner_id))

    @require("couples.write")
    @if_match
    @partners_blp.arguments(schemas.PartnerPatchSchema)
    @partners_blp.response(200, schemas.PartnerSchema, headers=sends("ETag"))
    def patch(self, changes, partner_id):
        """Change a partner's details.

        Only the fields sent change. An erased partner cannot be changed (409); an identifier
        already used in the clinic is 409.
        """
        return _with_etag(service.update_partner(partner_id, changes, etags.check))


@partners_blp.route("/<uuid:partner_id>/erase")
class ErasePartner(MethodView):
    @require("couples.write", roles=("admin",))
    @partners_blp.response(200, schemas.PartnerSchema)
    def post(self, partner_id):
        """Erase a partner's personal data (on their request).

        Removes their details, their private comments, their open feedback links and the emails
        sent or waiting for them; the couple's label is replaced and the scores stay,
        de-identified. It cannot be undone.
        """
        mail_dir = current_app.config["SETTINGS"].mail_dir
        return privacy.erase_partner(partner_id, mail_dir=mail_dir)
