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
        return paged(service.list_couples(**query))

    @require("couples.write")
    @idempotent
    @blp.arguments(schemas.CoupleCreateSchema)
    @blp.response(201, schemas.CoupleSchema)
    def post(self, data):
        couple = service.create(data)
        return _with_etag(couple, Location=f"/v1/couples/{couple.id}")


@blp.route("/<uuid:couple_id>")
class OneCouple(MethodView):
    @require("couples.read")
    @blp.response(200, schemas.CoupleSchema)
    def get(self, couple_id):
        return _with_etag(service.get(couple_id))

    @require("couples.write")
    @if_match
    @blp.arguments(schemas.CouplePatchSchema)
    @blp.response(200, schemas.CoupleSchema)
    def patch(self, changes, couple_id):
        return _with_etag(service.update(couple_id, changes, etags.check))


@blp.route("/<uuid:couple_id>/archive")
class ArchiveCouple(MethodView):
    @require("couples.write")
    @blp.response(200, schemas.CoupleSchema)
    def post(self, couple_id):
        return _with_etag(service.archive(couple_id))


@blp.route("/<uuid:couple_id>/alliance")
class Alliance(MethodView):
    @require("feedback.read")
    @blp.response(200, AllianceWithAlertsSchema)
    def get(self, couple_id):
        return alerts.alliance(couple_id)


@blp.route("/<uuid:couple_id>/alliance.svg")
class AllianceChart(MethodView):
    @require("feedback.read")
    @blp.response(200, {"type": "string"}, content_type="image/svg+xml")
    @blp.alt_response(304, description="Not modified: the chart is still the one you hold.")
    def get(self, couple_id):
        chart = alerts.alliance_chart(couple_id)
        return etags.conditional(chart.etag, chart.svg, "image/svg+xml")


@blp.route("/<uuid:couple_id>/export")
class CoupleExport(MethodView):
    @require("couples.read")
    @blp.response(200, CoupleExportSchema)
    def get(self, couple_id):
        return privacy.export_couple(couple_id)


@partners_blp.route("/<uuid:partner_id>")
class OnePartner(MethodView):
    @require("couples.read")
    @partners_blp.response(200, schemas.PartnerSchema)
    def get(self, partner_id):
        return _with_etag(service.get_partner(partner_id))

    @require("couples.write")
    @if_match
    @partners_blp.arguments(schemas.PartnerPatchSchema)
    @partners_blp.response(200, schemas.PartnerSchema)
    def patch(self, changes, partner_id):
        return _with_etag(service.update_partner(partner_id, changes, etags.check))


@partners_blp.route("/<uuid:partner_id>/erase")
class ErasePartner(MethodView):
    @require("couples.write", roles=("admin",))
    @partners_blp.response(200, schemas.PartnerSchema)
    def post(self, partner_id):
        mail_dir = current_app.config["SETTINGS"].mail_dir
        return privacy.erase_partner(partner_id, mail_dir=mail_dir)
