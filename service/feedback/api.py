from flask import Response, current_app
from flask.views import MethodView

from service.auth.resource import bind_partner, public, require
from service.feedback import chart, schemas, service
from service.http.api import Blueprint
from service.http.limits import limiter
from service.therapy_sessions.schemas import CompleteSchema

blp = Blueprint(
    "feedback",
    __name__,
    url_prefix="/v1/sessions",
    description="Completing a session asks each partner for feedback.",
)
forms_blp = Blueprint(
    "feedback_forms",
    __name__,
    url_prefix="/v1/feedback-forms",
    description="The partner's side: the token in their link is the credential.",
)
# Erasure and export live here: the highest feature holding a partner's and couple's data.
partner_data_blp = Blueprint(
    "partner_data",
    __name__,
    url_prefix="/v1",
    description="Right of access (export) and erasure of a couple's and partner's data.",
)
alliance_blp = Blueprint(
    "alliance",
    __name__,
    url_prefix="/v1/couples",
    description="Each partner's alliance over time, and the gap between them.",
)

TOKEN_RULE = "<string(length=43):token>"  # noqa: S105 - a URL rule, not a secret


def _link_base() -> str:
    return current_app.config["SETTINGS"].base_url


def _form_limit() -> str:
    return current_app.config["SETTINGS"].feedback_form_rate_limit


@blp.route("/<uuid:session_id>/complete")
class CompleteSession(MethodView):
    @require("sessions.write")
    @blp.arguments(CompleteSchema, required=False)
    @blp.response(200, schemas.CompletedSchema)
    def post(self, data, session_id):
        return service.complete_session(session_id, data.get("time_share"), _link_base())


@blp.route("/<uuid:session_id>/feedback-links")
class ReissueLinks(MethodView):
    @require("sessions.write")
    @blp.response(200, schemas.LinksSchema)
    def post(self, session_id):
        return {"feedback_links": service.reissue_in_clinic_links(session_id, _link_base())}


@blp.route("/<uuid:session_id>/feedback")
class SessionFeedback(MethodView):
    @require("feedback.read")
    @blp.response(200, schemas.ResponseListSchema)
    def get(self, session_id):
        return {"items": service.session_responses(session_id)}

    @require("feedback.write")
    @blp.arguments(schemas.StaffEntrySchema)
    @blp.response(201, schemas.ResponseSchema)
    def post(self, data, session_id):
        return service.enter_for_partner(session_id, data)


@forms_blp.route(f"/{TOKEN_RULE}")
class PartnerForm(MethodView):
    decorators = [limiter.limit(_form_limit)]

    @public
    @forms_blp.response(200, schemas.FormSchema)
    def get(self, token):
        grant = service.resolve_token(token)
        bind_partner(grant.clinic_id, grant.partner_id)
        return service.form(grant)

    @public
    @forms_blp.arguments(schemas.SubmitSchema)
    @forms_blp.response(201, schemas.ReceivedSchema)
    def post(self, data, token):
        grant = service.resolve_token(token)
        bind_partner(grant.clinic_id, grant.partner_id)
        service.submit(grant, data)
        return {"status": "received", "message": service.THANKS}


@alliance_blp.route("/<uuid:couple_id>/alliance")
class Alliance(MethodView):
    @require("feedback.read")
    @alliance_blp.response(200, schemas.AllianceSchema)
    def get(self, couple_id):
        return service.alliance(couple_id)


@alliance_blp.route("/<uuid:couple_id>/alliance.svg")
class AllianceChart(MethodView):
    @require("feedback.read")
    @alliance_blp.response(200, {"type": "string"}, content_type="image/svg+xml")
    def get(self, couple_id):
        return Response(chart.render(service.alliance(couple_id)), mimetype="image/svg+xml")


@partner_data_blp.route("/couples/<uuid:couple_id>/export")
class CoupleExport(MethodView):
    @require("couples.read")
    @partner_data_blp.response(200, schemas.CoupleExportSchema)
    def get(self, couple_id):
        return service.export_couple(couple_id)


@partner_data_blp.route("/partners/<uuid:partner_id>/erase")
class ErasePartner(MethodView):
    @require("couples.write", roles=("admin",))
    @partner_data_blp.response(200, schemas.ErasedPartnerSchema)
    def post(self, partner_id):
        return service.erase_partner(partner_id)
