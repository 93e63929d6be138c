"""`/v1/feedback-forms/{token}`: the partner's side, for forms a clinic builds itself. The
token in the partner's link is the credential."""

from flask import current_app
from flask.views import MethodView

from service.alerts import evaluation
from service.feedback import links, recording, schemas
from service.http.extensions import Blueprint, link_holder
from service.http.limits import limiter

blp = Blueprint(
    "feedback_forms",
    __name__,
    url_prefix="/v1/feedback-forms",
    description="The partner's side: the token in their link is the credential.",
)

TOKEN_RULE = "<string(minlength=43, maxlength=65):token>"  # noqa: S105 - a URL rule, not a secret


def _form_limit() -> str:
    return current_app.config["SETTINGS"].feedback_form_rate_limit


@blp.route(f"/{TOKEN_RULE}")
class PartnerForm(MethodView):
    decorators = [limiter.limit(_form_limit)]

    @link_holder(links.resolve_token, links.clinic_of)
    @blp.response(200, schemas.FormSchema)
    def get(self, grant):
        return links.form(grant)

    @link_holder(links.claim_token, links.clinic_of)
    @blp.arguments(schemas.SubmitSchema)
    @blp.response(201, schemas.ReceivedSchema)
    def post(self, data, grant):
        evaluation.record_partner_feedback(grant, data)
        return {"status": "received", "message": recording.THANKS}
