from flask.views import MethodView

from service.auth.resource import require
from service.couples import schemas, service
from service.http import etags
from service.http.api import Blueprint
from service.http.idempotency import idempotent
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


@blp.route("")
class Couples(MethodView):
    @require("couples.read")
    @blp.arguments(schemas.CoupleQuerySchema, location="query")
    @blp.response(200, schemas.CouplePageSchema)
    def get(self, query):
        return paged(service.list_couples(**query))

    @require("couples.write")
    @idempotent
    @blp.documents_idempotency
    @blp.arguments(schemas.CoupleCreateSchema)
    @blp.response(201, schemas.CoupleSchema)
    def post(self, data):
        couple = service.create(data)
        return couple, {"Location": f"/v1/couples/{couple.id}", **etags.headers_for(couple.version)}


@blp.route("/<uuid:couple_id>")
class OneCouple(MethodView):
    @require("couples.read")
    @blp.response(200, schemas.CoupleSchema)
    def get(self, couple_id):
        couple = service.get(couple_id)
        return couple, etags.headers_for(couple.version)

    @require("couples.write")
    @blp.if_match
    @blp.arguments(schemas.CouplePatchSchema)
    @blp.response(200, schemas.CoupleSchema)
    def patch(self, changes, couple_id):
        couple = service.update(couple_id, changes, etags.check)
        return couple, etags.headers_for(couple.version)


@blp.route("/<uuid:couple_id>/archive")
class ArchiveCouple(MethodView):
    @require("couples.write")
    @blp.response(200, schemas.CoupleSchema)
    def post(self, couple_id):
        couple = service.archive(couple_id)
        return couple, etags.headers_for(couple.version)


@partners_blp.route("/<uuid:partner_id>")
class OnePartner(MethodView):
    @require("couples.read")
    @partners_blp.response(200, schemas.PartnerSchema)
    def get(self, partner_id):
        partner = service.get_partner(partner_id)
        return partner, etags.headers_for(partner.version)

    @require("couples.write")
    @partners_blp.if_match
    @partners_blp.arguments(schemas.PartnerPatchSchema)
    @partners_blp.response(200, schemas.PartnerSchema)
    def patch(self, changes, partner_id):
        partner = service.update_partner(partner_id, changes, etags.check)
        return partner, etags.headers_for(partner.version)
